import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { busOptionsOf, runBusService, type Bus } from '../../bus/index.ts';
import { UsageError, withTracing, type Config, type Logger, type Role } from '../../shared/index.ts';
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
    throw new UsageError(`cannot load handler module ${file}: ${(err as Error).message}`, 'invalid_handler');
  }
  if (typeof mod.default !== 'function') {
    throw new UsageError(`handler module ${file} must export a default function (see README)`, 'invalid_handler');
  }
  const handler: unknown = await (mod.default as HandlerFactory)(ctx);
  if (typeof handler !== 'function') {
    throw new UsageError(`the default export of ${file} must return a handler function`, 'invalid_handler');
  }
  return handler as AgentHandler;
}

/**
 * An agent process: connect, wait for the coordinator to provision the bus, build the handler (it may need the bus), take the role's
 * work until `signal` aborts, then drain; its spans exported when configured, the last ones once it has stopped.
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
  return withTracing(config, log, `nightshift-agent-${role}`, () => serve({ role, makeHandler, config, log, signal }));
}

async function serve({
  role,
  makeHandler,
  config,
  log,
  signal,
}: {
  role: Role;
  makeHandler: (bus: Bus) => Promise<AgentHandler>;
  config: Config;
  log: Logger;
  signal: AbortSignal;
}): Promise<void> {
  return runBusService({
    config,
    log,
    signal,
    connect: { ...busOptionsOf(config, role), name: `nightshift-${role}`, log },
    ready: (names) => ({ buckets: [names.ticketsBucket, names.prsBucket], consumer: { stream: names.workStream, name: names.roleConsumer(role) } }),
    start: async (bus) => {
      const runtime = createAgentRuntime({ bus, role, handler: await makeHandler(bus), config, log });
      await runtime.start();
      return runtime;
    },
  });
}
