/**
 * The embedded nats-server of `nightshift up`: what one server or a loopback cluster runs (ports,
 * data, generated authorization), stopping servers an earlier killed `up` left behind, starting one
 * and waiting until it listens, and waiting for a cluster's JetStream. `up` supervises them; the
 * process and port helpers it shares with them are here too.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { connectBus, limitsFromConfig, storeBytesNeeded, writeNodeConfig } from '../bus/index.ts';
import { CommandError, delay, UserInputError, type Logger } from '../shared/index.ts';
import type { UpOptions } from './up.ts';

/** What of `up`'s options the embedded servers go by. */
export type EmbeddedOptions = Pick<UpOptions, 'config' | 'cwd' | 'port' | 'cluster' | 'report'>;

export interface EmbeddedServer {
  name: string;
  port: number;
  args: string[];
  storeDir: string;
  logFile: string;
  proc?: ChildProcess;
  crashes: number[];
}

/**
 * What the embedded server(s) will run: one server, or a cluster of `opts.cluster` nodes on loopback
 * (client ports from `opts.port`, route ports after them), data under `<data dir>/nats` (`n1`…
 * for the nodes), the generated authorization included.
 */
export async function embeddedServers(opts: EmbeddedOptions, authConfig: string): Promise<EmbeddedServer[]> {
  if (spawnSync('nats-server', ['--version']).error) {
    throw new UserInputError('nats_server_missing', 'nats-server is not on PATH: install it (apt-get install nats-server) or pass --nats <url>');
  }
  const size = opts.cluster ?? 1;
  const dir = resolve(opts.cwd, opts.config.NIGHTSHIFT_DATA_DIR);
  mkdirSync(join(dir, 'nats'), { recursive: true });
  await stopStaleServers(join(dir, 'nats'), opts);
  const ports = Array.from({ length: opts.cluster ? 2 * size : 1 }, (_, i) => opts.port + i);
  for (const port of ports) {
    if (port > 65_535 || !(await portFree(port))) {
      const what = opts.cluster ? `ports ${opts.port}–${opts.port + ports.length - 1} (clients, then routes) are not all free: port ${port} is taken` : `port ${port} is in use`;
      throw new UserInputError(
        'port_in_use',
        `${what}: is another \`nightshift up\` running? Use it with --nats nats://127.0.0.1:${opts.port}, or pick --port`,
      );
    }
  }
  if (!opts.cluster) {
    const storeDir = join(dir, 'nats');
    return [
      {
        name: 'nightshift-embedded',
        port: opts.port,
        args: ['-c', authConfig, '-a', '127.0.0.1', '-p', String(opts.port), '-js', '-sd', storeDir, '-n', 'nightshift-embedded', '-P', join(dir, 'nats', 'nightshift-embedded.pid')],
        storeDir,
        logFile: join(dir, 'nats-server.log'),
        crashes: [],
      },
    ];
  }
  const routes = Array.from({ length: size }, (_, i) => `127.0.0.1:${opts.port + size + i}`);
  const maxFileStore = Math.ceil(storeBytesNeeded(limitsFromConfig(opts.config)) * 1.1);
  const servers: EmbeddedServer[] = [];
  for (let i = 0; i < size; i++) {
    const name = `n${i + 1}`;
    const storeDir = join(dir, 'nats', name);
    const file = join(dir, 'nats', `${name}.conf`);
    await writeNodeConfig(
      file,
      { name, listen: `127.0.0.1:${opts.port + i}`, storeDir, maxFileStore, maxPayload: 1024 ** 2, cluster: { name: 'nightshift-embedded', listen: routes[i]!, routes } },
      authConfig,
    );
    servers.push({ name, port: opts.port + i, args: ['-c', file, '-P', join(dir, 'nats', `${name}.pid`)], storeDir, logFile: join(dir, `nats-server-${name}.log`), crashes: [] });
  }
  return servers;
}

/**
 * Stops the embedded nats-servers an earlier `up` on this data dir left running when it was killed
 * (SIGKILL leaves its children no chance): a server named by a pid file here whose parent is no
 * longer a nightshift process. One whose `up` still runs is left alone (its ports are then refused).
 */
async function stopStaleServers(natsDir: string, opts: EmbeddedOptions): Promise<void> {
  for (const file of readdirSync(natsDir).filter((f) => f.endsWith('.pid'))) {
    const pidFile = join(natsDir, file);
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    const cmdline = procText(pid, 'cmdline');
    if (!Number.isInteger(pid) || pid <= 0 || !cmdline?.includes('nats-server') || !cmdline.includes(pidFile)) continue;
    const parent = Number(procText(pid, 'stat')?.replace(/^.*\) /s, '').split(' ')[1]);
    if (procText(parent, 'cmdline')?.includes('nightshift')) continue;
    process.kill(pid, 'SIGTERM');
    const deadline = Date.now() + 10_000;
    while (procText(pid, 'cmdline') !== undefined && Date.now() < deadline) await delay(50);
    if (procText(pid, 'cmdline') !== undefined) process.kill(pid, 'SIGKILL');
    while (procText(pid, 'cmdline') !== undefined) await delay(50);
    opts.report({ event: 'nats_stale_stopped', pid, pidFile }, `stopped nats-server pid ${pid}, left running by an earlier up on this data dir`);
  }
}

/** A file of /proc/<pid>, or undefined when the process does not exist (or is a zombie with no command line). */
function procText(pid: number, what: 'cmdline' | 'stat'): string | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    const text = readFileSync(`/proc/${pid}/${what}`, 'utf8').replace(/\0/g, ' ');
    return what === 'cmdline' && text === '' ? undefined : text;
  } catch {
    return undefined;
  }
}

/** Starts (or starts again) one embedded server and waits until it listens. */
export async function startEmbedded(srv: EmbeddedServer): Promise<void> {
  const logFd = openSync(srv.logFile, 'a');
  // In its data dir: nats-server 2.9 was seen writing a consumer's metadata into its working directory.
  mkdirSync(srv.storeDir, { recursive: true });
  const proc = spawn('nats-server', srv.args, { cwd: srv.storeDir, stdio: ['ignore', logFd, logFd] });
  closeSync(logFd);
  srv.proc = proc;
  const deadline = Date.now() + 15_000;
  while (!(await canConnect(srv.port))) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new CommandError('nats_exited', `the embedded nats-server ${srv.name} exited with ${proc.exitCode ?? proc.signalCode}; see ${srv.logFile}`);
    }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new CommandError('nats_not_listening', `the embedded nats-server ${srv.name} did not listen on ${srv.port} within 15s; see ${srv.logFile}`);
    }
    await delay(50);
  }
}

/** Waits until the embedded cluster's JetStream answers (its meta leader is elected). */
export async function awaitJetStream(url: string, coordinatorSeed: string, log: Logger, servers: EmbeddedServer[]): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const bus = await connectBus({ url, kind: 'coordinator', auth: { nkey: coordinatorSeed }, name: 'nightshift-up', log, connectTimeoutMs: 5_000 });
      try {
        await bus.jsm.getAccountInfo();
        return;
      } finally {
        await bus.close();
      }
    } catch (err) {
      if (Date.now() > deadline) {
        await Promise.all(servers.map((srv) => stopChild(srv.proc, 5_000)));
        throw new CommandError('nats_no_leader', `the embedded JetStream cluster did not elect a leader within 60s (${(err as Error).message}); see ${servers.map((s) => s.logFile).join(', ')}`);
      }
      await delay(250);
    }
  }
}

/** Stops a child process: SIGTERM, then SIGKILL after `graceMs`; resolves once it exited. */
export async function stopChild(proc: ChildProcess | undefined, graceMs: number): Promise<void> {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Whether `port` can be listened on at `host`. */
export function portFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolvePort) => {
    const srv = createServer();
    srv.once('error', () => resolvePort(false));
    srv.listen(port, host, () => srv.close(() => resolvePort(true)));
  });
}

/** Whether something listens on `port` of 127.0.0.1. */
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
