import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DockerSandbox } from '../../sandbox/index.ts';
import { loadMockScript, startMockLlm, type MockLlm } from '../../shared/llm/index.ts';
import { CommandError, createLogger, freePort, loadConfig, UsageError, UserInputError, type Config, type Logger } from '../../shared/index.ts';
import { configFrom, parse, type Ctx } from '../command.ts';
import { prettyLogLine } from '../logview.ts';
import { up, type UpOptions } from '../up.ts';
import { loadCases } from './cases.ts';
import { caseTicketId, renderMarkdown, renderTable, runEval, type EvalRun, type Prices } from './run.ts';

/** `nightshift eval <case|dir>…`: prints the run's table (its JSON with --json). */
export async function evalCommand(ctx: Ctx, argv: string[]): Promise<number> {
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
  const config = configFrom(ctx, values, false);
  const log = createLogger({ level: config.NIGHTSHIFT_LOG_LEVEL, bindings: { agent: 'eval' } });
  const run = await runEvalCommand({
    paths: positionals,
    script: values.script ?? null,
    out: values.out ?? null,
    prices: input === undefined ? null : { inputPerMillion: input, outputPerMillion: output! },
    config,
    log,
    signal: ctx.shutdown(log),
    self: ctx.self,
    env: ctx.env,
    cwd: ctx.cwd,
    report: (event, text) => {
      if (!ctx.json) ctx.stderr(`${text}\n`);
    },
    childLine: (name, line) => {
      if (ctx.env.NIGHTSHIFT_EVAL_LOGS === '1') ctx.stderr(`${prettyLogLine(name, line)}\n`);
    },
  });
  ctx.out(run, renderTable(run));
  return 0;
}

export interface EvalCommandOptions {
  /** Case files or directories. */
  paths: readonly string[];
  /** The scripted model every case runs with (the name of one of its scripts), or null for the configured endpoint. */
  script: string | null;
  /** Where eval.json and eval.md are written; none when null. */
  out: string | null;
  prices: Prices | null;
  config: Config;
  log: Logger;
  signal: AbortSignal;
  self: UpOptions['self'];
  env: Record<string, string | undefined>;
  cwd: string;
  report: UpOptions['report'];
  childLine: UpOptions['childLine'];
}

/** What of the caller's environment the eval's own stack must not inherit: another bus, the gateways. */
const NOT_INHERITED = /^(NATS_|SLACK_|GITHUB_)/;

/**
 * `nightshift eval`: starts a stack of its own (an embedded nats-server on a free port, the
 * coordinator and the agents, data under `<data dir>/eval/<run>/`), runs the cases through it one by
 * one with either a scripted model per case (mock-llm, each ticket answered from its case's script)
 * or the configured model endpoint, judges each, and stops the stack.
 */
export async function runEvalCommand(o: EvalCommandOptions): Promise<EvalRun> {
  const cases = await loadCases(o.paths);
  const sandbox = new DockerSandbox();
  const engine = await sandbox.available();
  if (!engine.ok) throw new UserInputError('sandbox_unavailable', `eval runs code in Docker: ${engine.reason} (scripts/install starts it)`);
  const runId = `${new Date().toISOString().replace(/[-:]/g, '').slice(0, 15)}-${randomBytes(2).toString('hex')}`;
  const dir = resolve(o.cwd, o.config.NIGHTSHIFT_DATA_DIR, 'eval', runId);
  const env: Record<string, string | undefined> = Object.fromEntries(Object.entries(o.env).filter(([k]) => !NOT_INHERITED.test(k)));
  Object.assign(env, { NIGHTSHIFT_DATA_DIR: join(dir, 'stack'), NIGHTSHIFT_WORKSPACES_DIR: join(dir, 'workspaces') });
  const config = loadConfig(env, {});

  let mock: MockLlm | undefined;
  if (o.script !== null) {
    const tickets: Record<string, Awaited<ReturnType<typeof loadMockScript>>> = {};
    for (const c of cases) {
      const file = c.spec.scripts[o.script];
      if (!file) throw new UsageError(`case ${c.spec.name} has no "${o.script}" script (it has: ${Object.keys(c.spec.scripts).join(', ') || 'none'})`, 'invalid_case');
      tickets[caseTicketId(runId, c.spec.name)] = await loadMockScript(join(c.dir, file));
    }
    mock = await startMockLlm({ tickets, log: o.log });
  }
  let result: EvalRun | undefined;
  try {
    mkdirSync(dir, { recursive: true });
    await up({
      config,
      log: o.log,
      signal: o.signal,
      replicas: {},
      handlers: {},
      port: await freePort(),
      self: o.self,
      env,
      cwd: o.cwd,
      report: (event, text) => o.report({ ...event, stack: true }, text),
      childLine: o.childLine,
      ...(mock && { childEnv: { OPENAI_BASE_URL: mock.url, OPENAI_API_KEY: 'eval', NIGHTSHIFT_MODEL: `nightshift-eval-${o.script}` } }),
      then: async (nats, stop) => {
        result = await runEval({
          runId,
          cases,
          script: o.script,
          model: mock ? `mock-llm (${o.script})` : config.NIGHTSHIFT_MODEL,
          nats,
          prefix: config.NIGHTSHIFT_PREFIX,
          dir: join(dir, 'cases'),
          sandbox,
          prices: o.prices,
          log: o.log,
          signal: stop,
          progress: o.report,
        });
      },
    });
  } finally {
    await mock?.close();
  }
  if (!result) throw new CommandError('eval_unfinished', 'the evaluation did not finish');
  if (mock) {
    const ticketOf = new Map(mock.calls.map((c) => [`${c.role}\u0000${c.call}`, c.ticket]));
    result.scriptUse = {
      failures: mock.failures.map((f) => ({ ticket: ticketOf.get(`${f.role}\u0000${f.call}`), role: f.role, call: f.call, message: f.message })),
      unused: mock.unused().map((u) => ({ ...(u.ticket && { ticket: u.ticket }), role: u.role, index: u.index })),
    };
  }
  if (o.out) {
    const out = resolve(o.cwd, o.out);
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, 'eval.json'), `${JSON.stringify(result, null, 2)}\n`);
    writeFileSync(join(out, 'eval.md'), `${renderMarkdown(result)}\n`);
  }
  return result;
}
