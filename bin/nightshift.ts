#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { runCoordinator } from '../agents/coordinator/main.ts';
import { loadHandler, runAgent } from '../agents/runtime/main.ts';
import {
  answerTicket,
  cancelTicket,
  checkTicketId,
  connectBus,
  createTicket,
  DEFAULT_NATS_URL,
  getTicket,
  limitsFromConfig,
  listTickets,
  reportBug,
  waitTicket,
  type Bus,
  type BusAuth,
} from '../bus/index.ts';
import { cliBusOptions, credentialsDir } from '../cli/bus.ts';
import { prettyLogLine } from '../cli/logview.ts';
import { renderEntry, renderList, renderTicket } from '../cli/render.ts';
import { budgetOption, duplicatesOf, triageCounts, triageOf } from '../cli/tickets.ts';
import { EXIT_HELP, exitCodeOf, isExpected } from '../cli/exit.ts';
import { up, type ChildHealth, type ChildPhase } from '../cli/up.ts';
import { listPullRequests, pullRequestOf, renderPullRequest, renderPullRequests, showPullRequest } from '../cli/prs.ts';
import { readTranscript } from '../bus/index.ts';
import {
  AgentError,
  budgetAnswerText,
  ConfigError,
  createLogger,
  describeError,
  labelProcess,
  loadConfig,
  NightshiftError,
  onHealthServing,
  onPhaseChange,
  parseDuration,
  redactUrl,
  repoRefOf,
  ROLES,
  State,
  untilAborted,
  UsageError,
  UserInputError,
  type Config,
  type FieldIssue,
  type IntakeReply,
  type Logger,
  type RepoRef,
  type Role,
} from '../shared/index.ts';

const USAGE = `nightshift — background agents for software delivery

usage: nightshift <command> [options]   (the command first, then its options)

  up [--demo] [--replicas coder=3,…] [--handler <role>=<module>]… [--port 4222] [--cluster 3]
                                 the local stack in the foreground: an embedded nats-server
                                 (unless --nats/NATS_URL; --cluster 3: a 3-node JetStream cluster
                                 on ports from --port, streams with 3 replicas; a server that dies
                                 is restarted on its data), the coordinator and the agents;
                                 --demo runs one ticket on the shipped demo repository offline
                                 (a scripted model), prints its pull request, and stops
  coordinator                    run a coordinator (any number may run at once)
  slack                          run the Slack gateway: escalations to SLACK_CHANNEL, answers back
                                 (any number may run at once; docs/slack.md)
  agent <role> [--handler <module>]
                                 run an agent process; roles: ${ROLES.join(', ')}
  ticket create --title <t> --body <b> --repo <path|url> [--base-branch <b>] [--type feature|bug|chore]
                [--external-id <id>] [--requester <who>] [--label <l>]…
  ticket create --file <payload.json|->   post a raw intake payload as it is
  bug report --title <t> --description <d> --repo <path|url> [--base-branch <b>] [--steps <s>]
             [--expected <e>] [--actual <a>] [--logs <file|->] [--environment <env>]
             [--reporter <who>] [--external-id <id>] [--label <l>]…
                                 report a bug: the triager classifies it, links duplicates, asks
                                 the reporter for what is missing, or starts a reproduction test
  bug report --file <report.json|->   post a raw bug report as it is
  ticket show <id>               state, triage, questions, duplicates and timeline
  ticket list [--state <s>]…     all tickets, oldest first, with their triage
  ticket wait <id> [--state <s>]… [--timeout 30m]
                                 follow a ticket until it rests (awaiting_human, pr_open, done,
                                 failed, cancelled, duplicate) or reaches one of the given states
  ticket cancel <id> [--reason <text>]
  ticket transcript <id>         the ticket's model exchanges as a mock-llm script (replays the run)
  answer <id> <text…> [--by <name>] [--budget <tokens>]
                                 answer a ticket parked in awaiting_human; --budget raises that
                                 ticket's token budget (above what it used; the text may be left out)
  pr list                        pull requests opened by nightshift
  pr show <ticket-id|repo#n|n>   a pull request with its summary and diff; pull request numbers are
                                 per repository, so a bare number only when one repository has it
  web [--port <n>] [--host <h>]  the web console: the board, tickets, answers and cancellations, live
                                 (default http://127.0.0.1:4280; NIGHTSHIFT_WEB_TOKEN allows changes)
  github [--port <n>]            the GitHub webhook receiver: reviews send work back, merge/close
                                 finish tickets, labelled issues become tickets (docs/github.md)
  nats config [--dir <dir>] [--listen host:port] [--store-dir /var/lib/nats]
              [--cluster <n> --routes host:port,…]
                                 write nats-server configurations: one nkey user per kind of process,
                                 each allowed only its role, and each kind's seed file (default dir:
                                 <data dir>/auth, which \`up\` uses; docs/security.md), and a server's
                                 configuration including them, or one per node of an n-node cluster
                                 (server name, routes, JetStream store and limits; docs/deploy.md)
  eval <case|dir>… [--script <name>] [--out <dir>] [--price-input <usd>] [--price-output <usd>]
                                 run evaluation cases through a stack of its own and judge each
                                 (tests first, red, green, no test touched, held-out tests pass);
                                 --script: each case's scripted model of that name (e.g. honest),
                                 else the configured model endpoint; prices per million tokens;
                                 --out writes eval.json and eval.md (docs/eval.md)
  mock-llm --script <file> [--port <n>] [--host 127.0.0.1]
                                 an OpenAI-compatible server answering from a script
                                 (shared/llm/SCRIPT.md); prints its base URL, runs until stopped

options for every command:
  --nats <url>        NATS server(s), comma-separated (env NATS_URL; default nats://127.0.0.1:4222);
                      credentials: NATS_NKEY, NATS_CREDS, NATS_USER/NATS_PASSWORD or NATS_TOKEN,
                      TLS: NATS_CA, NATS_CERT/NATS_KEY (default: the seeds \`up\` wrote, if any)
  --prefix <p>        subject prefix (env NIGHTSHIFT_PREFIX; default nightshift)
  --log-level <l>     fatal|error|warn|info|debug|trace|silent (env NIGHTSHIFT_LOG_LEVEL)
  --json              machine-readable output
  -h, --help          this help

${EXIT_HELP}`;

const GLOBAL_OPTIONS = {
  nats: { type: 'string' },
  prefix: { type: 'string' },
  'log-level': { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const satisfies NonNullable<ParseArgsConfig['options']>;

type Options = NonNullable<ParseArgsConfig['options']>;

interface Ctx {
  argv: string[];
  json: boolean;
  out(value: unknown, text: string): void;
}

const SELF = fileURLToPath(import.meta.url);

async function main(argv: string[]): Promise<number> {
  // Started by `nightshift up`: tell it each phase of start-up, and when this process serves.
  if (process.send) onPhaseChange((phase) => process.send?.({ type: 'phase', phase } satisfies ChildPhase));
  // …and where its health server (with its /metrics) listens: up gives each child an ephemeral port.
  if (process.send) onHealthServing((url) => process.send?.({ type: 'health', url } satisfies ChildHealth));
  const json = argv.includes('--json');
  const ctx: Ctx = {
    argv,
    json,
    out: (value, text) => process.stdout.write(`${json ? JSON.stringify(value) : text}\n`),
  };
  try {
    return await dispatch(ctx);
  } catch (err) {
    return report(ctx, err);
  }
}

function report(ctx: Ctx, err: unknown): number {
  const { code, message } = describeError(err);
  const issues: readonly FieldIssue[] = err instanceof ConfigError || err instanceof UserInputError ? err.issues : [];
  if (ctx.json) {
    process.stdout.write(`${JSON.stringify({ ok: false, error: { code, message, ...(issues.length && { issues }) } })}\n`);
  } else {
    process.stderr.write(`nightshift: ${message}\n`);
    if (!(err instanceof ConfigError)) for (const i of issues) process.stderr.write(`  ${i.path}: ${i.message}\n`);
    if (err instanceof UsageError) process.stderr.write(`run \`nightshift --help\` for usage\n`);
  }
  if (!isExpected(err) && !ctx.json) process.stderr.write(`${(err as Error).stack ?? ''}\n`);
  return exitCodeOf(err);
}

function parse<O extends Options>(argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, options: { ...GLOBAL_OPTIONS, ...options }, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function configFrom(values: Record<string, unknown>, clientCommand: boolean): Config {
  return loadConfig(process.env, {
    NATS_URL: values.nats as string | undefined,
    NIGHTSHIFT_PREFIX: values.prefix as string | undefined,
    NIGHTSHIFT_LOG_LEVEL: (values['log-level'] as string | undefined) ?? (clientCommand ? process.env.NIGHTSHIFT_LOG_LEVEL ?? 'warn' : undefined),
  });
}

/** An AbortSignal for a long-running command: aborted by SIGINT, SIGTERM, or a parent that went away. */
function shutdownSignal(log: Logger): AbortSignal {
  const ac = new AbortController();
  const stop = (why: string) => {
    if (ac.signal.aborted) return;
    log.info({ why }, 'shutting down');
    ac.abort();
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  if (process.channel) {
    // Started by `nightshift up`: the IPC channel only tells us when the parent is gone; it must not
    // keep this process alive once its work is done.
    process.on('disconnect', () => stop('parent exited'));
    process.channel.unref();
  }
  return ac.signal;
}

/** Connects as the viewer (`read`) or the operator (`write`), runs `fn`, and drains. */
async function withBus<T>(config: Config, log: Logger, access: 'read' | 'write', fn: (bus: Bus) => Promise<T>): Promise<T> {
  const bus = await connectBus({ ...cliBusOptions(config, access), name: 'nightshift-cli', log, connectTimeoutMs: 5_000 }).catch((err: unknown) => {
    if (err instanceof NightshiftError) throw err;
    throw new UserInputError('nats_unreachable', `cannot reach NATS at ${redactUrl(config.NATS_URL ?? DEFAULT_NATS_URL)}: ${redactUrl((err as Error).message)}`);
  });
  try {
    return await fn(bus);
  } catch (err) {
    if (err instanceof Error && /permissions violation/i.test(err.message)) {
      throw new AgentError('nats_permission_denied', `${err.message}: the NATS credentials in use do not allow it (docs/security.md)`, { retryable: false, cause: err });
    }
    throw err;
  } finally {
    await bus.close();
  }
}

function role(name: string | undefined): Role {
  if (!name || !(ROLES as readonly string[]).includes(name)) throw new UsageError(`agent needs a role: one of ${ROLES.join(', ')}`);
  return name as Role;
}

function duration(text: string | undefined, fallback: number, flag: string): number {
  if (text === undefined) return fallback;
  const ms = parseDuration(text);
  if (ms === undefined) throw new UsageError(`${flag} "${text}" is not a duration (e.g. 30s, 5m, 1h)`);
  return ms;
}

function states(values: string[] | undefined): State[] {
  return (values ?? []).flatMap((v) => v.split(',')).map((s) => {
    const parsed = State.safeParse(s.trim());
    if (!parsed.success) throw new UsageError(`"${s}" is not a ticket state`);
    return parsed.data;
  });
}

function keyValues(text: string | undefined, flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (text ?? '').split(',').filter(Boolean)) {
    const [k, v] = part.split('=');
    if (!k || !v) throw new UsageError(`${flag} takes <role>=<value>, got "${part}"`);
    out[k.trim()] = v.trim();
  }
  return out;
}

async function dispatch(ctx: Ctx): Promise<number> {
  const [command, ...rest] = ctx.argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return command === undefined ? 2 : 0;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (command.startsWith('-')) throw new UsageError(`the command comes first: nightshift <command> [options]`);
  const sub = rest[0];
  switch (command) {
    case 'up':
      return cmdUp(ctx, rest);
    case 'coordinator':
      return cmdCoordinator(rest);
    case 'slack':
      return cmdSlack(rest);
    case 'agent':
      return cmdAgent(rest);
    case 'ticket': {
      const args = rest.slice(1);
      switch (sub) {
        case 'create':
          return cmdCreate(ctx, args);
        case 'show':
          return cmdShow(ctx, args);
        case 'list':
          return cmdList(ctx, args);
        case 'wait':
          return cmdWait(ctx, args);
        case 'cancel':
          return cmdCancel(ctx, args);
        case 'transcript':
          return cmdTranscript(ctx, args);
        default:
          throw new UsageError(`ticket needs a subcommand: create, show, list, wait, cancel or transcript`);
      }
    }
    case 'bug':
      if (sub === 'report') return cmdBugReport(ctx, rest.slice(1));
      throw new UsageError('bug needs a subcommand: report');
    case 'answer':
      return cmdAnswer(ctx, rest);
    case 'pr':
      if (sub === 'list') return cmdPrList(ctx, rest.slice(1));
      if (sub === 'show') return cmdPrShow(ctx, rest.slice(1));
      throw new UsageError('pr needs a subcommand: list or show');
    case 'nats':
      if (sub === 'config') return cmdNatsConfig(ctx, rest.slice(1));
      throw new UsageError('nats needs a subcommand: config');
    case 'mock-llm':
      return cmdMockLlm(ctx, rest);
    case 'eval':
      return cmdEval(ctx, rest);
    case 'github':
      return cmdGitHub(rest);
    case 'web':
      return cmdWeb(rest);
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

async function cmdUp(ctx: Ctx, argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    replicas: { type: 'string' },
    handler: { type: 'string', multiple: true },
    port: { type: 'string', default: '4222' },
    cluster: { type: 'string' },
    demo: { type: 'boolean', default: false },
  });
  if (values.cluster !== undefined && values.cluster !== '3') throw new UsageError(`--cluster ${values.cluster}: the embedded cluster has 3 nodes (--cluster 3)`);
  const config = configFrom(values, false);
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
  const signal = shutdownSignal(log);
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
      self: { node: process.execPath, args: [...process.execArgv, SELF] },
      env: process.env,
      cwd: process.cwd(),
      report: (event, text) => ctx.out(event, text),
      childLine: (name, line) => process.stderr.write(`${ctx.json ? line : prettyLogLine(name, line)}\n`),
      ...(demo && {
        childEnv: { OPENAI_BASE_URL: demo.url, OPENAI_API_KEY: 'demo', NIGHTSHIFT_MODEL: 'nightshift-demo' },
        then: async (nats: { url: string; auth?: BusAuth }, stop: AbortSignal) =>
          (await import('../cli/demo.ts')).runDemo({
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
    throw new Error(`the demo's scripted model was not used as scripted: ${JSON.stringify({ failures: demo.failures, unused: demo.unused() })}`);
  }
  return 0;
}

/** The demo's model: mock-llm in this process, answering from the demo script. Needs Docker first. */
async function startDemoModel(log: Logger) {
  const { DEFAULT_NODE_IMAGE, DockerSandbox } = await import('../sandbox/index.ts');
  const { loadMockScript, startMockLlm } = await import('../shared/llm/index.ts');
  const { DEMO_SCRIPT } = await import('../cli/demo.ts');
  const sandbox = new DockerSandbox();
  const engine = await sandbox.available();
  if (!engine.ok) throw new UserInputError('sandbox_unavailable', `the demo runs code in Docker: ${engine.reason} (scripts/install starts it)`);
  await sandbox.ensureImage(DEFAULT_NODE_IMAGE);
  return startMockLlm({ script: await loadMockScript(DEMO_SCRIPT), log });
}

async function cmdEval(ctx: Ctx, argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {
    script: { type: 'string' },
    out: { type: 'string' },
    'price-input': { type: 'string' },
    'price-output': { type: 'string' },
  });
  if (positionals.length === 0) throw new UsageError('eval needs at least one case file or directory (e.g. examples/eval)');
  const price = (name: 'price-input' | 'price-output') => {
    const text = values[name];
    if (text === undefined) return undefined;
    const n = Number(text);
    if (!Number.isFinite(n) || n < 0) throw new UsageError(`--${name} ${text}: a price in USD per million tokens, e.g. 2.5`);
    return n;
  };
  const [input, output] = [price('price-input'), price('price-output')];
  if ((input === undefined) !== (output === undefined)) throw new UsageError('give both --price-input and --price-output, or neither');
  const config = configFrom(values, false);
  const log = createLogger({ level: config.NIGHTSHIFT_LOG_LEVEL, bindings: { agent: 'eval' } });
  const { evalCommand } = await import('../cli/eval/command.ts');
  const { renderTable } = await import('../cli/eval/run.ts');
  const run = await evalCommand({
    paths: positionals,
    script: values.script ?? null,
    out: values.out ?? null,
    prices: input === undefined ? null : { inputPerMillion: input, outputPerMillion: output! },
    config,
    log,
    signal: shutdownSignal(log),
    self: { node: process.execPath, args: [...process.execArgv, SELF] },
    env: process.env,
    cwd: process.cwd(),
    report: (event, text) => {
      if (!ctx.json) process.stderr.write(`${text}\n`);
    },
    childLine: (name, line) => {
      if (process.env.NIGHTSHIFT_EVAL_LOGS === '1') process.stderr.write(`${prettyLogLine(name, line)}\n`);
    },
  });
  ctx.out(run, renderTable(run));
  return 0;
}

async function cmdNatsConfig(ctx: Ctx, argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {
    dir: { type: 'string' },
    cluster: { type: 'string' },
    routes: { type: 'string' },
    listen: { type: 'string' },
    'store-dir': { type: 'string', default: '/var/lib/nats' },
  });
  if (positionals.length) throw new UsageError('nats config takes no arguments');
  const size = values.cluster === undefined ? undefined : Number(values.cluster);
  if (size !== undefined && (!Number.isInteger(size) || size < 3 || size > 9)) throw new UsageError(`--cluster ${values.cluster}: a number of nodes from 3 to 9`);
  const routes = values.routes?.split(',').map((r) => r.trim()).filter(Boolean);
  if (size !== undefined && routes?.length !== size) {
    throw new UsageError(`--cluster ${size} needs --routes with the route address (host:port) of each of the ${size} nodes, in order`);
  }
  if (size === undefined && routes) throw new UsageError('--routes goes with --cluster <nodes>');
  const config = configFrom(values, true);
  const dir = values.dir ? resolve(values.dir) : credentialsDir(config);
  const { writeNatsConfig } = await import('../cli/natsconfig.ts');
  const written = await writeNatsConfig({
    dir,
    prefix: config.NIGHTSHIFT_PREFIX,
    limits: limitsFromConfig(config),
    listen: (values.listen ?? '0.0.0.0:4222').split(',').map((l) => l.trim()),
    storeRoot: resolve(values['store-dir']),
    ...(routes && { routes }),
  });
  const { auth, nodes } = written;
  ctx.out(
    { config: auth.config, seeds: auth.seeds, nodes, replicas: size === undefined ? 1 : 3 },
    [
      `authorization (users and permissions): ${auth.config}`,
      ...(size === undefined
        ? [`server configuration: ${nodes[0]!.file}`, `  start it:  nats-server -c ${nodes[0]!.file}`]
        : [
            `a ${size}-node JetStream cluster, one file per node (each includes nats-server.conf: copy both to the node's host):`,
            ...nodes.map((n) => `  ${n.name}  ${n.file}  (clients ${n.listen}, data ${n.storeDir})`),
            `  start each:  nats-server -c <its file>`,
            `  every nightshift process: NATS_URL=<the nodes' client URLs, comma-separated> NIGHTSHIFT_JS_REPLICAS=3`,
          ]),
      `  or with the authorization only:  nats-server -c ${auth.config} -js -sd <data dir>`,
      'seed files (give each process its own as NATS_NKEY):',
      ...Object.entries(auth.seeds).map(([kind, file]) => `  ${kind.padEnd(12)} ${file}`),
    ].join('\n'),
  );
  return 0;
}

async function cmdCoordinator(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {});
  if (positionals.length) throw new UsageError(`coordinator takes no arguments`);
  const config = configFrom(values, false);
  const log = createLogger({ level: config.NIGHTSHIFT_LOG_LEVEL, bindings: { agent: 'coordinator' } });
  labelProcess('coordinator');
  await runCoordinator({ config, log, signal: shutdownSignal(log) });
  return 0;
}

async function cmdGitHub(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { port: { type: 'string' } });
  if (positionals.length) throw new UsageError('github takes no arguments');
  const port = values.port === undefined ? undefined : Number(values.port);
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65_535)) throw new UsageError(`--port ${values.port}: not a port`);
  const config = { ...configFrom(values, false), ...(port !== undefined && { NIGHTSHIFT_GITHUB_PORT: port }) };
  const log = createLogger({ level: config.NIGHTSHIFT_LOG_LEVEL, bindings: { agent: 'github' } });
  labelProcess('github');
  const { runGitHubReceiver } = await import('../gateways/github/main.ts');
  await runGitHubReceiver({ config, log, signal: shutdownSignal(log) });
  return 0;
}

async function cmdWeb(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { port: { type: 'string' }, host: { type: 'string' } });
  if (positionals.length) throw new UsageError('web takes no arguments');
  const { webOverrides, runWeb } = await import('../cli/web.ts');
  const config = loadConfig(process.env, {
    ...webOverrides(values),
    NATS_URL: values.nats,
    NIGHTSHIFT_PREFIX: values.prefix,
    NIGHTSHIFT_LOG_LEVEL: values['log-level'],
  });
  const log = createLogger({ level: config.NIGHTSHIFT_LOG_LEVEL, bindings: { agent: 'web' } });
  labelProcess('web');
  await runWeb({ config, log, signal: shutdownSignal(log) });
  return 0;
}

async function cmdSlack(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {});
  if (positionals.length) throw new UsageError(`slack takes no arguments`);
  const config = configFrom(values, false);
  const log = createLogger({ level: config.NIGHTSHIFT_LOG_LEVEL, bindings: { agent: 'slack' } });
  labelProcess('slack');
  const { runSlackGateway } = await import('../gateways/slack/main.ts');
  await runSlackGateway({ config, log, signal: shutdownSignal(log) });
  return 0;
}

async function cmdAgent(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { handler: { type: 'string' } });
  const r = role(positionals[0]);
  const config = configFrom(values, false);
  const log = createLogger({ level: config.NIGHTSHIFT_LOG_LEVEL, bindings: { agent: r } });
  labelProcess(r);
  const file = values.handler;
  const handler = file
    ? async () => loadHandler(file, process.cwd(), { role: r, config, log })
    : async (bus: Bus) => (await import('../agents/registry.ts')).builtInHandler(r, { bus, config, log });
  await runAgent({ role: r, handler, config, log, signal: shutdownSignal(log) });
  return 0;
}

/** Flags `ticket create` and `bug report` share. */
const INTAKE_FLAGS = {
  file: { type: 'string' },
  title: { type: 'string' },
  repo: { type: 'string' },
  'base-branch': { type: 'string' },
  'external-id': { type: 'string' },
  label: { type: 'string', multiple: true },
} as const;

/**
 * `ticket create` and `bug report`: the --file as it is (or stdin with `-`), or the payload `build`
 * makes of the flags, posted with `post`; prints the id, or the refusal with its fields.
 */
async function postIntakeCommand<V extends { file?: string | undefined }>(
  ctx: Ctx,
  what: string,
  { values, positionals }: { values: V; positionals: string[] },
  build: (values: V) => unknown,
  post: (bus: Bus, payload: unknown) => Promise<IntakeReply>,
): Promise<number> {
  if (positionals.length) throw new UsageError(`${what} takes options only (see nightshift --help)`);
  const config = configFrom(values, true);
  const log = createLogger({ level: config.NIGHTSHIFT_LOG_LEVEL });
  const payload = values.file !== undefined ? new Uint8Array(readFileSync(values.file === '-' ? 0 : values.file)) : build(values);
  const reply = await withBus(config, log, 'write', (bus) => post(bus, payload));
  return intakeResult(ctx, reply, what);
}

function cmdCreate(ctx: Ctx, argv: string[]): Promise<number> {
  const parsed = parse(argv, { ...INTAKE_FLAGS, body: { type: 'string' }, type: { type: 'string' }, requester: { type: 'string' } });
  return postIntakeCommand(ctx, 'ticket create', parsed, (v) => {
    if (!v.title || v.body === undefined || !v.repo) throw new UsageError('ticket create needs --title, --body and --repo (or --file)');
    return {
      title: v.title,
      body: v.body,
      repo: repoArg(v.repo, v['base-branch']),
      ...(v.type && { type: v.type }),
      ...(v['external-id'] && { externalId: v['external-id'] }),
      ...(v.requester && { requester: v.requester }),
      ...(v.label && { labels: v.label }),
    };
  }, createTicket);
}

function cmdBugReport(ctx: Ctx, argv: string[]): Promise<number> {
  const parsed = parse(argv, {
    ...INTAKE_FLAGS,
    description: { type: 'string' },
    steps: { type: 'string' },
    expected: { type: 'string' },
    actual: { type: 'string' },
    logs: { type: 'string' },
    environment: { type: 'string' },
    reporter: { type: 'string' },
  });
  return postIntakeCommand(ctx, 'bug report', parsed, (v) => {
    if (!v.title || v.description === undefined || !v.repo) throw new UsageError('bug report needs --title, --description and --repo (or --file)');
    return {
      title: v.title,
      description: v.description,
      repo: repoArg(v.repo, v['base-branch']),
      ...(v.steps && { steps: v.steps }),
      ...(v.expected && { expected: v.expected }),
      ...(v.actual && { actual: v.actual }),
      ...(v.logs && { logs: readFileSync(v.logs === '-' ? 0 : v.logs, 'utf8') }),
      ...(v.environment && { environment: v.environment }),
      reporter: v.reporter ?? `cli:${userInfo().username}`,
      ...(v['external-id'] && { externalId: v['external-id'] }),
      ...(v.label && { labels: v.label }),
    };
  }, reportBug);
}

/** A --repo argument as the intake's repo, with its base branch. */
function repoArg(repo: string, baseBranch: string | undefined): RepoRef {
  return { ...repoRefOf(repo), ...(baseBranch && { baseBranch }) };
}

/** Prints an intake reply: the id (exit 0), or the refusal with its field issues (exit 1). */
function intakeResult(ctx: Ctx, reply: IntakeReply, what: string): number {
  if (reply.ok) {
    ctx.out(reply, reply.duplicate ? `${reply.id} (already posted: same external id)` : reply.id);
    return 0;
  }
  if (ctx.json) ctx.out(reply, '');
  else {
    process.stderr.write(`nightshift: ${what} refused (${reply.error.code}): ${reply.error.message}\n`);
    for (const i of reply.error.issues ?? []) process.stderr.write(`  ${i.path}: ${i.message}\n`);
  }
  return 1;
}

function oneId(positionals: string[], what: string): string {
  if (positionals.length !== 1) throw new UsageError(`${what} takes one ticket id`);
  return checkTicketId(positionals[0]!);
}

async function cmdShow(ctx: Ctx, argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {});
  const id = oneId(positionals, 'ticket show');
  const config = configFrom(values, true);
  const { t, duplicates, pr } = await withBus(config, createLogger({ level: config.NIGHTSHIFT_LOG_LEVEL }), 'read', async (bus) => {
    const t = await getTicket(bus, id);
    return { t, duplicates: duplicatesOf(await listTickets(bus), id), pr: await pullRequestOf(bus, id) };
  });
  ctx.out({ ...t, duplicates, pullRequest: pr }, renderTicket(t, new Date(), duplicates, pr));
  return 0;
}

async function cmdList(ctx: Ctx, argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { state: { type: 'string', multiple: true } });
  if (positionals.length) throw new UsageError('ticket list takes no arguments');
  const config = configFrom(values, true);
  const filter = states(values.state);
  const tickets = await withBus(config, createLogger({ level: config.NIGHTSHIFT_LOG_LEVEL }), 'read', (bus) => listTickets(bus, { states: filter }));
  const counts: Record<string, number> = {};
  for (const t of tickets) counts[t.state] = (counts[t.state] ?? 0) + 1;
  const summary = (t: (typeof tickets)[number]) => {
    const { id, title, state, type, createdAt, updatedAt, externalId, duplicateOf } = t;
    const triage = triageOf(t);
    return { id, title, state, type, createdAt, updatedAt, externalId, duplicateOf, ...(triage && { triage: { classification: triage.classification, severity: triage.severity, component: triage.component } }) };
  };
  ctx.out({ tickets: tickets.map(summary), counts, triage: triageCounts(tickets) }, renderList(tickets));
  return 0;
}

async function cmdWait(ctx: Ctx, argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { state: { type: 'string', multiple: true }, timeout: { type: 'string' } });
  const id = oneId(positionals, 'ticket wait');
  const config = configFrom(values, true);
  const timeoutMs = duration(values.timeout, 30 * 60_000, '--timeout');
  const log = createLogger({ level: config.NIGHTSHIFT_LOG_LEVEL });
  const t = await withBus(config, log, 'read', (bus) =>
    waitTicket(bus, id, {
      states: states(values.state),
      timeoutMs,
      onEntry: ctx.json ? undefined : (e) => process.stderr.write(`${renderEntry(e)}\n`),
    }),
  );
  ctx.out(t, `${t.id} is ${t.state}`);
  return 0;
}

function actor(values: { by?: string | undefined }): string {
  return values.by ?? process.env.NIGHTSHIFT_USER ?? userInfo().username;
}

async function cmdCancel(ctx: Ctx, argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { reason: { type: 'string' }, by: { type: 'string' }, timeout: { type: 'string' } });
  const id = oneId(positionals, 'ticket cancel');
  const config = configFrom(values, true);
  const timeoutMs = duration(values.timeout, 30_000, '--timeout');
  const t = await withBus(config, createLogger({ level: config.NIGHTSHIFT_LOG_LEVEL }), 'write', (bus) =>
    cancelTicket(bus, id, { by: actor(values), ...(values.reason && { reason: values.reason }), timeoutMs }),
  );
  ctx.out(t, `${t.id} is ${t.state}`);
  return t.state === 'cancelled' ? 0 : 1;
}

async function cmdAnswer(ctx: Ctx, argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { by: { type: 'string' }, timeout: { type: 'string' }, budget: { type: 'string' } });
  const [id, ...words] = positionals;
  const budget = values.budget === undefined ? undefined : budgetOption(values.budget);
  if (!id || (words.length === 0 && budget === undefined)) throw new UsageError('answer takes a ticket id and the answer text (the text may be left out with --budget)');
  checkTicketId(id);
  const text = words.length > 0 ? words.join(' ') : budgetAnswerText(budget!);
  const config = configFrom(values, true);
  const timeoutMs = duration(values.timeout, 30_000, '--timeout');
  const t = await withBus(config, createLogger({ level: config.NIGHTSHIFT_LOG_LEVEL }), 'write', (bus) =>
    answerTicket(bus, id, text, { by: actor(values), timeoutMs, ...(budget !== undefined && { budget }) }),
  );
  ctx.out(t, `${t.id} answered${budget === undefined ? '' : ` (token budget ${budget})`}; now ${t.state}`);
  return 0;
}

async function cmdMockLlm(ctx: Ctx, argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { script: { type: 'string' }, port: { type: 'string', default: '0' }, host: { type: 'string', default: '127.0.0.1' } });
  if (positionals.length) throw new UsageError('mock-llm takes no arguments');
  if (!values.script) throw new UsageError('mock-llm needs --script <file>');
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new UsageError(`--port ${values.port}: not a port`);
  const config = configFrom(values, false);
  const log = createLogger({ level: config.NIGHTSHIFT_LOG_LEVEL, bindings: { agent: 'mock-llm' } });
  const { loadMockScript, startMockLlm } = await import('../shared/llm/index.ts');
  const script = await loadMockScript(values.script);
  const signal = shutdownSignal(log);
  const server = await startMockLlm({ script, port, host: values.host, log });
  const roles = Object.fromEntries(Object.entries(script.roles).map(([r, entries]) => [r, entries.length]));
  ctx.out({ ok: true, url: server.url, roles }, server.url);
  log.info({ url: server.url, roles }, 'mock-llm listening');
  await untilAborted(signal);
  await server.close();
  const unused = server.unused();
  const summary = { calls: server.calls.length, failures: server.failures.length, unused: unused.map((u) => `${u.role}#${u.index + 1}`) };
  if (server.failures.length || unused.length) log.warn(summary, 'mock-llm stopped: the script did not match the calls');
  else log.info(summary, 'mock-llm stopped');
  return 0;
}

async function cmdTranscript(ctx: Ctx, argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {});
  const id = oneId(positionals, 'ticket transcript');
  const config = configFrom(values, true);
  const script = await withBus(config, createLogger({ level: config.NIGHTSHIFT_LOG_LEVEL }), 'read', async (bus) => {
    const t = await getTicket(bus, id);
    const { toMockScript } = await import('../shared/llm/index.ts');
    return toMockScript(await readTranscript(bus, t.id), { description: `replay of ticket ${t.id}: ${t.title}` });
  });
  process.stdout.write(`${JSON.stringify(script, null, ctx.json ? 0 : 2)}\n`);
  return 0;
}

async function cmdPrList(ctx: Ctx, argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {});
  if (positionals.length) throw new UsageError('pr list takes no arguments');
  const config = configFrom(values, true);
  const prs = await withBus(config, createLogger({ level: config.NIGHTSHIFT_LOG_LEVEL }), 'read', listPullRequests);
  ctx.out({ pullRequests: prs }, renderPullRequests(prs));
  return 0;
}

async function cmdPrShow(ctx: Ctx, argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {});
  if (positionals.length !== 1) throw new UsageError('pr show takes a ticket id, <repo>#<number> or a pull request number');
  const config = configFrom(values, true);
  const shown = await withBus(config, createLogger({ level: config.NIGHTSHIFT_LOG_LEVEL }), 'read', (bus) => showPullRequest(bus, positionals[0]!));
  ctx.out(shown, renderPullRequest(shown));
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
