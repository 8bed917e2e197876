import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { connectBus, provision, provisionOptions, type Bus } from '../../bus/index.ts';
import { untilAborted, UserInputError, type Config, type Logger, type Role } from '../../shared/index.ts';
import { createAgentRuntime, type AgentHandler } from './runtime.ts';

/** What a handler module's default export receives. */
export interface HandlerModuleContext {
  role: Role;
  config: Config;
  log: Logger;
}

/**
 * A handler module is an ES module (`.ts` or `.js`) whose default export is a function taking a
 * HandlerModuleContext and returning (a promise of) the role's AgentHandler.
 */
export type HandlerFactory = (ctx: HandlerModuleContext) => AgentHandler | Promise<AgentHandler>;

/** Loads a handler module given by path (relative to `cwd`). */
export async function loadHandler(path: string, cwd: string, ctx: HandlerModuleContext): Promise<AgentHandler> {
  const file = isAbsolute(path) ? path : resolve(cwd, path);
  let mod: { default?: unknown };
  try {
    mod = (await import(pathToFileURL(file).href)) as { default?: unknown };
  } catch (err) {
    throw new UserInputError('invalid_handler', `cannot load handler module ${file}: ${(err as Error).message}`);
  }
  if (typeof mod.default !== 'function') {
    throw new UserInputError('invalid_handler', `handler module ${file} must export a default function (see README)`);
  }
  const handler: unknown = await (mod.default as HandlerFactory)(ctx);
  if (typeof handler !== 'function') {
    throw new UserInputError('invalid_handler', `the default export of ${file} must return a handler function`);
  }
  return handler as AgentHandler;
}

/**
 * An agent process: connect, provision, build the handler (it may need the bus), take the role's
 * work until `signal` aborts, then drain.
 */
export async function runAgent({
  role,
  handler: makeHandler,
  config,
  log,
  signal,
}: {
  role: Role;
  handler: (bus: Bus) => Promise<AgentHandler>;
  config: Config;
  log: Logger;
  signal: AbortSignal;
}): Promise<void> {
  const bus = await connectBus({ url: config.NATS_URL, prefix: config.NIGHTSHIFT_PREFIX, name: `nightshift-${role}`, log });
  try {
    await provision(bus, provisionOptions(config));
    const handler = await makeHandler(bus);
    const runtime = createAgentRuntime({ bus, role, handler, config, log });
    await runtime.start();
    await untilAborted(signal);
    await runtime.stop();
  } finally {
    await bus.close();
  }
}
