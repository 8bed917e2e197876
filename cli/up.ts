import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { writeServerAuth, type BusAuth, type ProcessKind } from '../bus/index.ts';
import { delay, ROLES, untilAborted, UserInputError, type Config, type Logger, type Role } from '../shared/index.ts';
import { credentialsDir } from './bus.ts';

export interface UpOptions {
  config: Config;
  log: Logger;
  /** Aborted on Ctrl-C / SIGTERM: stop everything. */
  signal: AbortSignal;
  /** Processes per role (`coordinator` included); one unless told. */
  replicas: Partial<Record<Role | 'coordinator', number>>;
  /** Handler module per role, passed to `nightshift agent <role> --handler`; other roles run the built-in agent. */
  handlers: Partial<Record<Role, string>>;
  /** Port of the embedded nats-server. */
  port: number;
  /** How to run the CLI itself in a child: the node binary and its arguments. */
  self: { node: string; args: string[] };
  env: Record<string, string | undefined>;
  cwd: string;
  /** Progress for a person, or JSON lines with --json. */
  report: (event: Record<string, unknown>, text: string) => void;
  /** Each line a child writes to stderr (its JSON log), with the child's name. */
  childLine: (name: string, line: string) => void;
  /** Extra environment for every child (e.g. the model endpoint of the demo). */
  childEnv?: Record<string, string>;
  /**
   * Runs once the stack is up, with its NATS URL and the operator's credentials (the embedded
   * server's, or none: the configured ones); when it settles, the stack stops (the demo).
   * Without it, the stack runs until `signal` aborts.
   */
  then?: (nats: { url: string; auth?: BusAuth }, signal: AbortSignal) => Promise<void>;
}

interface Supervised {
  name: string;
  kind: ProcessKind;
  args: string[];
  proc?: ChildProcess;
  crashes: number[];
}

const CRASH_WINDOW_MS = 60_000;
const MAX_CRASHES = 5;
/** A child that exits this soon after its first start has a configuration problem: restarting will not help. */
const START_WINDOW_MS = 5_000;

/**
 * The local stack in the foreground: an embedded nats-server when no NATS URL is configured, one
 * coordinator, and the agent processes; crashed children are restarted with backoff. When `signal`
 * aborts, every child is stopped (SIGTERM, then SIGKILL after the grace period) before it returns.
 */
export async function up(opts: UpOptions): Promise<void> {
  const { config, log } = opts;
  let nats: ChildProcess | undefined;
  let url = config.NATS_URL;
  let seeds: Readonly<Record<ProcessKind, string>> | undefined;
  if (url === undefined) {
    // The embedded server is locked down too: one nkey user per process kind, each with its role only.
    const auth = await writeServerAuth(credentialsDir(config, opts.cwd), config.NIGHTSHIFT_PREFIX);
    seeds = auth.seeds;
    nats = await startEmbeddedNats(opts, auth.config);
    url = `nats://127.0.0.1:${opts.port}`;
  }
  const children: Supervised[] = [];
  for (let i = 0; i < (opts.replicas.coordinator ?? 1); i++) {
    children.push({ name: `coordinator-${i + 1}`, kind: 'coordinator', args: ['coordinator'], crashes: [] });
  }
  if (config.SLACK_BOT_TOKEN) children.push({ name: 'slack-1', kind: 'slack', args: ['slack'], crashes: [] });
  if (config.GITHUB_WEBHOOK_SECRET) children.push({ name: 'github-1', kind: 'github', args: ['github'], crashes: [] });
  for (const role of ROLES) {
    const handler = opts.handlers[role];
    const args = handler ? ['agent', role, '--handler', resolve(opts.cwd, handler)] : ['agent', role];
    for (let i = 0; i < (opts.replicas[role] ?? 1); i++) children.push({ name: `${role}-${i + 1}`, kind: role, args, crashes: [] });
  }
  const env = { ...opts.env, ...opts.childEnv, NATS_URL: url, NIGHTSHIFT_PREFIX: config.NIGHTSHIFT_PREFIX };
  // Against the embedded server each child gets its own kind's seed, and no other credentials.
  const envOf = (c: Supervised) =>
    seeds ? { ...env, NATS_CREDS: undefined, NATS_USER: undefined, NATS_PASSWORD: undefined, NATS_TOKEN: undefined, NATS_NKEY: seeds[c.kind] } : env;
  let failure: Error | undefined;
  const stopAll = new AbortController();
  opts.signal.addEventListener('abort', () => stopAll.abort(), { once: true });

  const launch = (c: Supervised) => {
    const proc = spawn(opts.self.node, [...opts.self.args, ...c.args], {
      cwd: opts.cwd,
      env: envOf(c),
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    });
    c.proc = proc;
    const startedAt = Date.now();
    createInterface({ input: proc.stderr! }).on('line', (line) => opts.childLine(c.name, line));
    proc.on('exit', (code, sig) => {
      if (stopAll.signal.aborted) return;
      const now = Date.now();
      if (code !== 0 && now - startedAt < START_WINDOW_MS && c.crashes.length === 0) {
        failure = new Error(`${c.name} could not start (exit ${code ?? sig}); see its log above`);
        stopAll.abort();
        return;
      }
      c.crashes = [...c.crashes.filter((t) => now - t < CRASH_WINDOW_MS), now];
      log.warn({ process: c.name, code, signal: sig }, 'process exited; restarting');
      if (c.crashes.length > MAX_CRASHES) {
        failure = new Error(`${c.name} exited ${c.crashes.length} times within a minute; stopping`);
        stopAll.abort();
        return;
      }
      void delay(Math.min(500 * 2 ** (c.crashes.length - 1), 10_000), stopAll.signal).then(() => {
        if (!stopAll.signal.aborted) launch(c);
      });
    });
  };
  children.forEach(launch);
  nats?.on('exit', (code) => {
    if (stopAll.signal.aborted) return;
    failure = new Error(`the embedded nats-server exited (${code}); stopping`);
    stopAll.abort();
  });

  opts.report(
    {
      event: 'up',
      nats: url,
      embedded: nats !== undefined,
      ...(seeds && { credentials: credentialsDir(config, opts.cwd) }),
      processes: children.map((c) => ({ name: c.name, pid: c.proc?.pid })),
    },
    [
      `nightshift is up · NATS ${url}${nats ? ` (embedded, data in ${join(config.NIGHTSHIFT_DATA_DIR, 'nats')}, credentials in ${join(config.NIGHTSHIFT_DATA_DIR, 'auth')})` : ''}`,
      ...children.map((c) => `  ${c.name.padEnd(16)} pid ${c.proc?.pid}`),
      `post a ticket:  nightshift ticket create --title "…" --body "…" --repo <path>`,
      'Ctrl-C stops everything.',
    ].join('\n'),
  );

  if (opts.then) {
    const finish = { url, ...(seeds && { auth: { nkey: seeds.operator } }) };
    void opts
      .then(finish, stopAll.signal)
      .catch((err: unknown) => {
        failure = err instanceof Error ? err : new Error(String(err));
      })
      .finally(() => stopAll.abort());
  }
  await untilAborted(stopAll.signal);
  opts.report({ event: 'stopping' }, 'stopping…');
  await Promise.all(children.map((c) => stopChild(c.proc, config.NIGHTSHIFT_SHUTDOWN_GRACE + 5_000)));
  await stopChild(nats, 10_000);
  opts.report({ event: 'stopped' }, 'stopped.');
  if (failure) throw failure;
}

async function startEmbeddedNats(opts: UpOptions, configFile: string): Promise<ChildProcess> {
  if (spawnSync('nats-server', ['--version']).error) {
    throw new UserInputError('nats_server_missing', 'nats-server is not on PATH: install it (apt-get install nats-server) or pass --nats <url>');
  }
  if (!(await portFree(opts.port))) {
    throw new UserInputError(
      'port_in_use',
      `port ${opts.port} is in use: is another \`nightshift up\` running? Use it with --nats nats://127.0.0.1:${opts.port}, or pick --port`,
    );
  }
  const dir = resolve(opts.cwd, opts.config.NIGHTSHIFT_DATA_DIR);
  mkdirSync(join(dir, 'nats'), { recursive: true });
  const logFd = openSync(join(dir, 'nats-server.log'), 'a');
  const proc = spawn(
    'nats-server',
    ['-c', configFile, '-a', '127.0.0.1', '-p', String(opts.port), '-js', '-sd', join(dir, 'nats'), '-n', 'nightshift-embedded'],
    { stdio: ['ignore', logFd, logFd] },
  );
  closeSync(logFd);
  const deadline = Date.now() + 15_000;
  while (!(await canConnect(opts.port))) {
    if (proc.exitCode !== null) {
      throw new Error(`the embedded nats-server exited with ${proc.exitCode}; see ${join(dir, 'nats-server.log')}`);
    }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`the embedded nats-server did not listen on ${opts.port} within 15s`);
    }
    await delay(50);
  }
  return proc;
}

async function stopChild(proc: ChildProcess | undefined, graceMs: number): Promise<void> {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolvePort) => {
    const srv = createServer();
    srv.once('error', () => resolvePort(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolvePort(true)));
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolveConn) => {
    const sock = createConnection({ port, host: '127.0.0.1' });
    sock.once('connect', () => {
      sock.destroy();
      resolveConn(true);
    });
    sock.once('error', () => resolveConn(false));
  });
}
