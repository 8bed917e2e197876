/**
 * The commands that run nightshift's processes: `up` (the whole local stack), and each process on its
 * own — `coordinator`, `agent <role>`, and the gateways `slack` and `github`. Each runs until stopped.
 */
import { runCoordinator } from '../agents/coordinator/main.ts';
import { loadHandler, runAgent } from '../agents/runtime/main.ts';
import type { Bus, BusAuth } from '../bus/index.ts';
import { CommandError, createLogger, labelProcess, UsageError, UserInputError, type Logger, type Role } from '../shared/index.ts';
import { cliBusOptions } from './bus.ts';
import { configFrom, keyValues, parse, role, type Ctx } from './command.ts';
import { prettyLogLine } from './logview.ts';
import { up } from './up.ts';

/** `nightshift up`: the local stack in the foreground (with --demo, one ticket through it, then stop). */
export async function upCommand(ctx: Ctx, argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    replicas: { type: 'string' },
    handler: { type: 'string', multiple: true },
    port: { type: 'string', default: '4222' },
    cluster: { type: 'string' },
    demo: { type: 'boolean', default: false },
  });
  if (values.cluster !== undefined && values.cluster !== '3') throw new UsageError(`--cluster ${values.cluster}: the embedded cluster has 3 nodes (--cluster 3)`);
  const config = configFrom(ctx, values, false);
  const log = createLogger({ level: config.NIGHTSHIFT_LOG_LEVEL, bindings: { agent: 'up' } });
  const replicas: Record<string, number> = {};
  for (const [k, v] of Object.entries(keyValues(values.replicas, '--replicas'))) {
    if (k !== 'coordinator') role(k);
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0 || n > 32) throw new UsageError(`--replicas ${k}=${v}: a whole number from 0 to 32`);
    replicas[k] = n;
  }
  const handlers: Partial<Record<Role, string>> = {};
  for (const h of values.handler ?? []) for (const [k, v] of Object.entries(keyValues(h, '--handler'))) handlers[role(k)] = v;
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) throw new UsageError(`--port ${values.port}: not a port`);
  const signal = ctx.shutdown(log);
  const demo = values.demo ? await startDemoModel(log) : undefined;
  try {
    await up({
      config,
      log,
      signal,
      replicas,
      handlers,
      port,
      ...(values.cluster && { cluster: 3 }),
      self: ctx.self,
      env: ctx.env,
      cwd: ctx.cwd,
      report: (event, text) => ctx.out(event, text),
      childLine: (name, line) => ctx.stderr(`${ctx.json ? line : prettyLogLine(name, line)}\n`),
      ...(demo && {
        childEnv: { OPENAI_BASE_URL: demo.url, OPENAI_API_KEY: 'demo', NIGHTSHIFT_MODEL: 'nightshift-demo' },
        then: async (nats: { url: string; auth?: BusAuth }, stop: AbortSignal) =>
          (await import('./demo.ts')).runDemo({
            natsUrl: nats.url,
            auth: nats.auth ?? cliBusOptions(config, 'write').auth,
            prefix: config.NIGHTSHIFT_PREFIX,
            dataDir: config.NIGHTSHIFT_DATA_DIR,
            log,
            signal: stop,
            timeoutMs: 10 * 60_000,
            report: (event, text) => ctx.out(event, text),
          }),
      }),
    });
  } finally {
    await demo?.close();
  }
  if (demo && (demo.failures.length > 0 || demo.unused().length > 0)) {
    throw new CommandError('demo_script_unused', `the demo's scripted model was not used as scripted: ${JSON.stringify({ failures: demo.failures, unused: demo.unused() })}`);
  }
  return 0;
}

/** The demo's model: mock-llm in this process, answering from the demo script. Needs Docker first. */
async function startDemoModel(log: Logger) {
  const { DEFAULT_NODE_IMAGE, DockerSandbox } = await import('../sandbox/index.ts');
  const { loadMockScript, startMockLlm } = await import('../shared/llm/index.ts');
  const { DEMO_SCRIPT } = await import('./demo.ts');
  const sandbox = new DockerSandbox();
  const engine = await sandbox.available();
  if (!engine.ok) throw new UserInputError('sandbox_unavailable', `the demo runs code in Docker: ${engine.reason} (scripts/install starts it)`);
  await sandbox.ensureImage(DEFAULT_NODE_IMAGE);
  return startMockLlm({ script: await loadMockScript(DEMO_SCRIPT), log });
}

/** `nightshift coordinator`. */
export async function coordinatorCommand(ctx: Ctx, argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {});
  if (positionals.length) throw new UsageError(`coordinator takes no arguments`);
  const config = configFrom(ctx, values, false);
  const log = createLogger({ level: config.NIGHTSHIFT_LOG_LEVEL, bindings: { agent: 'coordinator' } });
  labelProcess('coordinator');
  await runCoordinator({ config, log, signal: ctx.shutdown(log) });
  return 0;
}

/** `nightshift agent <role> [--handler <module>]`: the built-in agent of the role, or the module's handler. */
export async function agentCommand(ctx: Ctx, argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { handler: { type: 'string' } });
  const r = role(positionals[0]);
  const config = configFrom(ctx, values, false);
  const log = createLogger({ level: config.NIGHTSHIFT_LOG_LEVEL, bindings: { agent: r } });
  labelProcess(r);
  const file = values.handler;
  const handler = file
    ? async () => loadHandler(file, ctx.cwd, { role: r, config, log })
    : async (bus: Bus) => (await import('../agents/registry.ts')).builtInHandler(r, { bus, config, log });
  await runAgent({ role: r, handler, config, log, signal: ctx.shutdown(log) });
  return 0;
}

/** `nightshift slack`: the Slack gateway. */
export async function slackCommand(ctx: Ctx, argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {});
  if (positionals.length) throw new UsageError(`slack takes no arguments`);
  const config = configFrom(ctx, values, false);
  const log = createLogger({ level: config.NIGHTSHIFT_LOG_LEVEL, bindings: { agent: 'slack' } });
  labelProcess('slack');
  const { runSlackGateway } = await import('../gateways/slack/main.ts');
  await runSlackGateway({ config, log, signal: ctx.shutdown(log) });
  return 0;
}

/** `nightshift github [--port <n>]`: the GitHub webhook receiver. */
export async function githubCommand(ctx: Ctx, argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { port: { type: 'string' } });
  if (positionals.length) throw new UsageError('github takes no arguments');
  const port = values.port === undefined ? undefined : Number(values.port);
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65_535)) throw new UsageError(`--port ${values.port}: not a port`);
  const config = { ...configFrom(ctx, values, false), ...(port !== undefined && { NIGHTSHIFT_GITHUB_PORT: port }) };
  const log = createLogger({ level: config.NIGHTSHIFT_LOG_LEVEL, bindings: { agent: 'github' } });
  labelProcess('github');
  const { runGitHubReceiver } = await import('../gateways/github/main.ts');
  await runGitHubReceiver({ config, log, signal: ctx.shutdown(log) });
  return 0;
}
