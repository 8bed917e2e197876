import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { writeServerAuth, type BusAuth, type ProcessKind } from '../bus/index.ts';
import { delay, ROLES, untilAborted, UsageError, type Config, type Logger, type Role } from '../shared/index.ts';
import { z } from 'zod';
import { credentialsDir } from './bus.ts';
import { awaitJetStream, embeddedServers, portFree, startEmbedded, stopChild, type EmbeddedServer } from './embedded-nats.ts';

export interface UpOptions {
  config: Config;
  log: Logger;
  /** Aborted on Ctrl-C / SIGTERM: stop everything. */
  signal: AbortSignal;
  /** Processes per role (`coordinator` included); one unless told. */
  replicas: Partial<Record<Role | 'coordinator', number>>;
  /** Handler module per role, passed to `nightshift agent <role> --handler`; other roles run the built-in agent. */
  handlers: Partial<Record<Role, string>>;
  /**
   * Port of the embedded nats-server; with `cluster`, the first of 2×N consecutive ports: the nodes'
   * client ports, then their route ports.
   */
  port: number;
  /** Nodes of an embedded JetStream cluster (3) instead of one server; its streams get 3 replicas. */
  cluster?: number;
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
  /** Where it is in its start-up, as it reported over IPC: null once it serves. */
  phase: string | null;
  /** Its Prometheus endpoint (`<health url>/metrics`), as it reported over IPC. */
  metrics?: string;
}

/**
 * What a child started by `up` tells it over the IPC channel: each phase of its start-up (the same
 * phases its `/readyz` reports), and `phase: null` once it serves (the coordinator its intake, an agent
 * its role's consumer).
 */
export const ChildPhase = z.object({ type: z.literal('phase'), phase: z.string().max(500).nullable() });
export type ChildPhase = z.infer<typeof ChildPhase>;

/**
 * What a child started by `up` tells it once its health server listens (on an ephemeral port of
 * 127.0.0.1): the server's `http://host:port`, whose `/metrics` `up` reports.
 */
export const ChildHealth = z.object({ type: z.literal('health'), url: z.url({ protocol: /^https?$/ }).max(200) });
export type ChildHealth = z.infer<typeof ChildHealth>;

const ChildMessage = z.discriminatedUnion('type', [ChildPhase, ChildHealth]);

/** After this long without every child serving, `up` says who it is still waiting for (and keeps waiting). */
const READY_WARN_MS = 120_000;

/**
 * Node flags of the agent processes. V8 sizes the young generation by the machine's memory (up to
 * 64 MB per semi-space), and loading an agent's modules grows it to the full size once and for all:
 * about 100 of an agent's 220 MB resident were an empty young generation. Agents work one item at a
 * time and allocate little; 1 MB semi-spaces cost them no measurable CPU (bench/memory.ts).
 * `--optimize-for-size` takes another 30 MB or so off each (V8 keeps smaller heaps and code) for about
 * 15% more CPU over the demo: an agent waits on its model and its sandbox, not on its own CPU.
 */
export const AGENT_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1', '--optimize-for-size'];

const CRASH_WINDOW_MS = 60_000;
const MAX_CRASHES = 5;
/** A child that exits this soon after its first start has a configuration problem: restarting will not help. */
const START_WINDOW_MS = 5_000;

/**
 * The local stack in the foreground: an embedded nats-server (embedded-nats.ts) when no NATS URL is configured, one
 * coordinator, and the agent processes; crashed children are restarted with backoff. When `signal`
 * aborts, every child is stopped (SIGTERM, then SIGKILL after the grace period) before it returns.
 */
export async function up(opts: UpOptions): Promise<void> {
  const { config, log } = opts;
  let servers: EmbeddedServer[] = [];
  let url = config.NATS_URL;
  let seeds: Readonly<Record<ProcessKind, string>> | undefined;
  let replicas = config.NIGHTSHIFT_JS_REPLICAS;
  if (url === undefined) {
    if (!opts.cluster && replicas !== 1) {
      throw new UsageError(`NIGHTSHIFT_JS_REPLICAS=${replicas} needs a JetStream cluster: \`up --cluster 3\`, or a cluster given with --nats`);
    }
    // The embedded server is locked down too: one nkey user per process kind, each with its role only.
    const auth = await writeServerAuth(credentialsDir(config, opts.cwd), config.NIGHTSHIFT_PREFIX);
    seeds = auth.seeds;
    servers = await embeddedServers(opts, auth.config);
    try {
      await Promise.all(servers.map((srv) => startEmbedded(srv)));
    } catch (err) {
      await Promise.all(servers.map((srv) => stopChild(srv.proc, 5_000)));
      throw err;
    }
    url = servers.map((s) => `nats://127.0.0.1:${s.port}`).join(',');
    if (opts.cluster) {
      replicas = 3;
      await awaitJetStream(url, seeds.coordinator, log, servers);
    }
  } else if (opts.cluster) {
    throw new UsageError('--cluster starts an embedded cluster: it does not go with --nats/NATS_URL');
  }
  const children: Supervised[] = [];
  for (let i = 0; i < (opts.replicas.coordinator ?? 1); i++) {
    children.push({ name: `coordinator-${i + 1}`, kind: 'coordinator', args: ['coordinator'], crashes: [], phase: 'starting' });
  }
  if (config.SLACK_BOT_TOKEN) children.push({ name: 'slack-1', kind: 'slack', args: ['slack'], crashes: [], phase: 'starting' });
  if (config.GITHUB_WEBHOOK_SECRET) children.push({ name: 'github-1', kind: 'github', args: ['github'], crashes: [], phase: 'starting' });
  // The web console, on its own credentials: on its port when that is free (another stack may hold it).
  const webPort = config.NIGHTSHIFT_WEB_PORT;
  const web = webPort === 0 || (await portFree(webPort, config.NIGHTSHIFT_WEB_HOST));
  if (web) children.push({ name: 'web-1', kind: 'web', args: ['web'], crashes: [], phase: 'starting' });
  else log.warn({ port: webPort }, `port ${webPort} is in use: the web console is not started (set NIGHTSHIFT_WEB_PORT)`);
  for (const role of ROLES) {
    const handler = opts.handlers[role];
    const args = handler ? ['agent', role, '--handler', resolve(opts.cwd, handler)] : ['agent', role];
    for (let i = 0; i < (opts.replicas[role] ?? 1); i++) children.push({ name: `${role}-${i + 1}`, kind: role, args, crashes: [], phase: 'starting' });
  }
  // One health port cannot serve every child: each gets an ephemeral one on loopback, and says which over IPC.
  const env = {
    ...opts.env,
    ...opts.childEnv,
    NATS_URL: url,
    NIGHTSHIFT_PREFIX: config.NIGHTSHIFT_PREFIX,
    NIGHTSHIFT_JS_REPLICAS: String(replicas),
    NIGHTSHIFT_HEALTH_PORT: '0',
    NIGHTSHIFT_HEALTH_HOST: '127.0.0.1',
  };
  // Against the embedded server each child gets its own kind's seed, and no other credentials.
  const envOf = (c: Supervised) =>
    seeds ? { ...env, NATS_CREDS: undefined, NATS_USER: undefined, NATS_PASSWORD: undefined, NATS_TOKEN: undefined, NATS_NKEY: seeds[c.kind] } : env;
  let failure: Error | undefined;
  const stopAll = new AbortController();
  opts.signal.addEventListener('abort', () => stopAll.abort(), { once: true });

  let up = false;
  let markUp: () => void;
  const allServing = new Promise<void>((r) => (markUp = r));
  /** Takes a child's phase: progress while the stack starts, and `up` once every child serves. */
  const phaseOf = (c: Supervised, phase: string | null) => {
    if (phase === c.phase) return;
    c.phase = phase;
    if (!up) {
      opts.report({ event: 'progress', process: c.name, pid: c.proc?.pid, phase }, `  ${c.name.padEnd(16)} ${phase ?? 'ready'}`);
      if (children.every((x) => x.phase === null)) markUp();
    } else if (phase === null) {
      opts.report({ event: 'ready_again', process: c.name, pid: c.proc?.pid }, `${c.name} is serving again (pid ${c.proc?.pid})`);
    }
  };

  const launch = (c: Supervised) => {
    const nodeFlags = c.args[0] === 'agent' ? AGENT_NODE_FLAGS : [];
    const proc = spawn(opts.self.node, [...nodeFlags, ...opts.self.args, ...c.args], {
      cwd: opts.cwd,
      env: envOf(c),
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    });
    c.proc = proc;
    c.phase = 'starting';
    c.metrics = undefined;
    const startedAt = Date.now();
    createInterface({ input: proc.stderr! }).on('line', (line) => opts.childLine(c.name, line));
    proc.on('message', (m: unknown) => {
      const parsed = ChildMessage.safeParse(m);
      const message = parsed.success ? parsed.data : undefined;
      if (message?.type === 'phase') phaseOf(c, message.phase);
      else if (message?.type === 'health') c.metrics = `${message.url}/metrics`;
      else log.warn({ process: c.name }, 'unexpected message from a child ignored');
    });
    proc.on('exit', (code, sig) => {
      if (c.phase === null) c.phase = 'restarting';
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
  // An embedded server that dies is started again on the same port and data, with backoff, like the
  // children (they reconnect by themselves); one that keeps dying stops the stack.
  const superviseServer = (srv: EmbeddedServer) => {
    srv.proc?.once('exit', (code, sig) => {
      if (stopAll.signal.aborted) return;
      const now = Date.now();
      srv.crashes = [...srv.crashes.filter((t) => now - t < CRASH_WINDOW_MS), now];
      log.warn({ server: srv.name, code, signal: sig }, 'the embedded nats-server exited; restarting it on the same data');
      if (srv.crashes.length > MAX_CRASHES) {
        failure = new Error(`the embedded nats-server ${srv.name} exited ${srv.crashes.length} times within a minute; stopping (see ${srv.logFile})`);
        stopAll.abort();
        return;
      }
      void delay(Math.min(500 * 2 ** (srv.crashes.length - 1), 10_000), stopAll.signal)
        .then(async () => {
          if (stopAll.signal.aborted) return;
          await startEmbedded(srv);
          if (stopAll.signal.aborted) return void stopChild(srv.proc, 10_000);
          opts.report({ event: 'nats_restarted', server: srv.name, pid: srv.proc?.pid }, `restarted the embedded nats-server ${srv.name} (pid ${srv.proc?.pid})`);
          superviseServer(srv);
        })
        .catch((err: unknown) => {
          if (stopAll.signal.aborted) return;
          failure = new Error(`the embedded nats-server ${srv.name} could not be restarted: ${(err as Error).message}`);
          stopAll.abort();
        });
    });
  };
  servers.forEach(superviseServer);

  const where = `NATS ${url}${servers.length ? ` (embedded${opts.cluster ? ` ${opts.cluster}-node cluster, streams with ${replicas} replicas` : ''}, data in ${join(config.NIGHTSHIFT_DATA_DIR, 'nats')}, credentials in ${join(config.NIGHTSHIFT_DATA_DIR, 'auth')})` : ''}`;
  const processes = () => children.map((c) => ({ name: c.name, pid: c.proc?.pid, ...(c.metrics && { metrics: c.metrics }) }));
  const serverList = servers.map((srv) => ({ name: srv.name, pid: srv.proc?.pid, port: srv.port, data: srv.storeDir }));
  opts.report({ event: 'starting', nats: url, servers: serverList, processes: processes() }, `starting nightshift · ${where}`);
  const slow = setTimeout(() => {
    const waiting = children.filter((c) => c.phase !== null).map((c) => ({ process: c.name, phase: c.phase }));
    opts.report(
      { event: 'still_starting', waiting },
      `still waiting after ${READY_WARN_MS / 1000}s for: ${waiting.map((w) => `${w.process} (${w.phase})`).join(', ')}; see their logs above`,
    );
  }, READY_WARN_MS);
  await Promise.race([allServing, untilAborted(stopAll.signal)]);
  clearTimeout(slow);

  if (!stopAll.signal.aborted) {
    up = true;
    opts.report(
      {
        event: 'up',
        nats: url,
        embedded: servers.length > 0,
        ...(servers.length > 0 && { servers: serverList }),
        replicas,
        ...(seeds && { credentials: credentialsDir(config, opts.cwd) }),
        processes: processes(),
      },
      [
        `nightshift is up: intake is served and every agent takes work · ${where}`,
        ...children.map((c) => `  ${c.name.padEnd(16)} pid ${String(c.proc?.pid).padEnd(8)}${c.metrics ? ` metrics ${c.metrics}` : ''}`),
        ...(web && webPort !== 0 ? [`web console:    http://${config.NIGHTSHIFT_WEB_HOST.includes(':') ? `[${config.NIGHTSHIFT_WEB_HOST}]` : config.NIGHTSHIFT_WEB_HOST}:${webPort}/`] : []),
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
  }
  await untilAborted(stopAll.signal);
  opts.report({ event: 'stopping' }, 'stopping…');
  await Promise.all(children.map((c) => stopChild(c.proc, config.NIGHTSHIFT_SHUTDOWN_GRACE + 5_000)));
  await Promise.all(servers.map((srv) => stopChild(srv.proc, 10_000)));
  opts.report({ event: 'stopped' }, 'stopped.');
  if (failure) throw failure;
}
