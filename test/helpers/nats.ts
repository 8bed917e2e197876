import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, nkeyAuthenticator } from '@nats-io/transport-node';
import { nodeConfigText } from '../../bus/index.ts';
import { freePortRange } from '../../shared/index.ts';
import { waitFor } from './wait.ts';

/** A real nats-server with JetStream on file storage, private to one test. */
export interface NatsServer extends AsyncDisposable {
  readonly url: string;
  readonly port: number;
  readonly storeDir: string;
  readonly pid: number;
  /** Stops the server (SIGTERM, then SIGKILL), keeping its data. */
  stop(): Promise<void>;
  /** Starts it again on the same port with the same data. */
  restart(): Promise<void>;
  /** Stops it and deletes its data. */
  [Symbol.asyncDispose](): Promise<void>;
}

function requireNatsServer(): void {
  const probe = spawnSync('nats-server', ['--version'], { encoding: 'utf8' });
  if (probe.error) {
    throw new Error('nats-server not found on PATH: the integration tests need it (apt-get install nats-server)');
  }
}

/**
 * Starts nats-server on a free loopback port with JetStream under a fresh temporary directory;
 * `config` is a configuration file to start it with (e.g. the one `nightshift nats config` writes).
 */
export async function startNatsServer(opts: { config?: string } = {}): Promise<NatsServer> {
  requireNatsServer();
  const root = mkdtempSync(join(tmpdir(), 'nightshift-nats-'));
  const storeDir = join(root, 'js');
  const portsDir = join(root, 'ports');
  let proc: ChildProcess;
  let port = -1;

  const launch = async (): Promise<void> => {
    rmSync(portsDir, { recursive: true, force: true });
    mkdirSync(portsDir, { recursive: true });
    const args = [...(opts.config ? ['-c', opts.config] : []), '-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir, '--ports_file_dir', portsDir];
    let stderr = '';
    proc = spawn('nats-server', args, { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
    proc.stderr!.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    const child = proc;
    const url = await waitFor(
      'nats-server to write its ports file',
      () => {
        if (child.exitCode !== null) throw new Error(`nats-server exited ${child.exitCode}: ${stderr}`);
        const file = safeList(portsDir).find((f) => f.endsWith('.ports'));
        if (!file) return undefined;
        const ports = JSON.parse(readFileSync(join(portsDir, file), 'utf8')) as { nats?: string[] };
        return ports.nats?.[0];
      },
      { timeoutMs: 15_000, intervalMs: 25 },
    ).catch((err: unknown) => {
      child.kill('SIGKILL');
      throw err;
    });
    port = Number(new URL(url).port);
  };

  const stop = (): Promise<void> => stopServer(proc);

  await launch();
  return {
    get url() {
      return `nats://127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    get pid() {
      return proc.pid!;
    },
    storeDir,
    stop,
    restart: async () => {
      await stop();
      await launch();
    },
    [Symbol.asyncDispose]: async () => {
      await stop();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** A real JetStream cluster of nats-server processes on loopback, private to one test. */
export interface NatsCluster extends AsyncDisposable {
  /** The client URLs of every node, comma-separated (as NATS_URL takes them). */
  readonly url: string;
  readonly urls: readonly string[];
  /** The process of each node as it runs now (a restarted node has a new pid). */
  readonly pids: readonly number[];
  /** Each node's server name (`n1`, `n2`, … unless `configs` name them otherwise), as JetStream reports leaders. */
  readonly names: readonly string[];
  /** Waits until JetStream answers through every node (its meta leader is elected). */
  ready(timeoutMs?: number): Promise<void>;
  /**
   * Waits until every stream and durable consumer of the account has a leader and every replica is
   * current: a node restarted after a kill has caught up, so killing another loses no quorum.
   */
  settled(timeoutMs?: number): Promise<void>;
  /** The name of the node leading `stream` now, or undefined while it has none. */
  leaderOf(stream: string): Promise<string | undefined>;
  /** Kills one node with SIGKILL (by index) and waits for it to be gone; its data stays. */
  kill(index: number): Promise<void>;
  /** Starts a killed node again from its configuration, on the same port and data. */
  restart(index: number): Promise<void>;
  /** Stops every node (SIGTERM, then SIGKILL) and deletes the data. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Starts a `size`-node JetStream cluster from configuration files: `configs` (e.g. the ones
 * `nightshift nats config --cluster` writes) or, without them, ones written here with
 * `nodeConfigText` on consecutive free ports, without authorization. Resolves once a JetStream
 * meta leader is elected (asked with `auth` when the configurations want credentials);
 * every node is killed if it does not come up.
 */
export async function startNatsCluster(opts: { size?: number; configs?: { file: string; url: string }[]; auth?: ProbeAuth } = {}): Promise<NatsCluster> {
  requireNatsServer();
  const root = mkdtempSync(join(tmpdir(), 'nightshift-cluster-'));
  let nodes = opts.configs;
  if (!nodes) {
    const size = opts.size ?? 3;
    const base = await freePortRange(2 * size);
    const routes = Array.from({ length: size }, (_, i) => `127.0.0.1:${base + size + i}`);
    nodes = [];
    for (let i = 0; i < size; i++) {
      const file = join(root, `n${i + 1}.conf`);
      const text = nodeConfigText({
        name: `n${i + 1}`,
        listen: `127.0.0.1:${base + i}`,
        storeDir: join(root, `n${i + 1}`),
        cluster: { name: 'nightshift-test', listen: routes[i]!, routes },
        maxFileStore: 64 * 1024 ** 3,
        maxPayload: 1024 ** 2,
      });
      writeFileSync(file, text);
      nodes.push({ file, url: `nats://127.0.0.1:${base + i}` });
    }
  }
  const procs: ChildProcess[] = [];
  const logs: string[] = [];
  const launch = (i: number) => {
    logs[i] = '';
    const proc = spawn('nats-server', ['-c', nodes[i]!.file], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
    proc.stderr!.on('data', (d: Buffer) => {
      logs[i] = (logs[i]! + d.toString()).slice(-4000);
    });
    procs[i] = proc;
  };
  nodes.forEach((_, i) => launch(i));
  const names = nodes.map((n, i) => /^\s*server_name:\s*"?([^"\s]+)"?/m.exec(readFileSync(n.file, 'utf8'))?.[1] ?? `n${i + 1}`);
  const stopAll = async () => {
    await Promise.all(procs.map(stopServer));
  };
  const urls = nodes.map((n) => n.url);
  const cluster: NatsCluster = {
    url: urls.join(','),
    urls,
    get pids() {
      return procs.map((p) => p.pid!);
    },
    names,
    kill: async (i) => {
      const child = procs[i]!;
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGKILL');
      await exited;
    },
    restart: async (i) => {
      const child = procs[i]!;
      if (child.exitCode === null && child.signalCode === null) throw new Error(`node ${names[i]} is still running`);
      launch(i);
    },
    settled: async (timeoutMs = 120_000) => {
      let behind = '';
      await waitFor(
        'every stream and consumer to have a leader and current replicas',
        async () => {
          behind = await unsettled(urls, opts.auth).catch((err: unknown) => `unreachable (${(err as Error).message})`);
          return behind === '' || undefined;
        },
        { timeoutMs, intervalMs: 250 },
      ).catch((err: unknown) => {
        throw new Error(`${(err as Error).message}; still: ${behind}`);
      });
    },
    leaderOf: async (stream) => withJsm(urls, opts.auth, async (jsm) => (await jsm.streams.info(stream)).cluster?.leader),
    ready: async (timeoutMs = 30_000) => {
      for (const url of urls) {
        await waitFor(
          `the JetStream meta leader, seen from ${url}`,
          async () => {
            const dead = procs.findIndex((p) => p.exitCode !== null);
            if (dead >= 0) throw new Error(`nats-server ${nodes[dead]!.file} exited ${procs[dead]!.exitCode}: ${logs[dead]}`);
            return jetStreamAnswers(url, opts.auth);
          },
          { timeoutMs, intervalMs: 100 },
        );
      }
    },
    [Symbol.asyncDispose]: async () => {
      await stopAll();
      rmSync(root, { recursive: true, force: true });
    },
  };
  try {
    await cluster.ready();
  } catch (err) {
    await cluster[Symbol.asyncDispose]();
    throw err;
  }
  return cluster;
}

async function withJsm<T>(urls: readonly string[], auth: ProbeAuth | undefined, fn: (jsm: Awaited<ReturnType<typeof jetstreamManager>>) => Promise<T>): Promise<T> {
  const nc = await connect({
    servers: [...urls],
    reconnect: false,
    timeout: 2_000,
    ...(auth && { inboxPrefix: auth.inboxPrefix, authenticator: nkeyAuthenticator(new TextEncoder().encode(readFileSync(auth.nkey, 'utf8').trim())) }),
  });
  try {
    return await fn(await jetstreamManager(nc, { timeout: 5_000 }));
  } finally {
    await nc.close();
  }
}

/** What is not settled yet ('' when everything is): streams or consumers without a leader or with a replica behind. */
function unsettled(urls: readonly string[], auth: ProbeAuth | undefined): Promise<string> {
  return withJsm(urls, auth, async (jsm) => {
    const behind: string[] = [];
    const check = (what: string, cluster: { leader?: string; replicas?: { name: string; current: boolean; offline?: boolean; lag?: number; active: number }[] } | undefined) => {
      if (!cluster?.leader) behind.push(`${what}: no leader`);
      for (const r of cluster?.replicas ?? []) {
        if (!r.current || r.offline) behind.push(`${what}: ${r.name} behind (lag ${r.lag ?? '?'}, active ${Math.round(r.active / 1e6)}ms ago${r.offline ? ', offline' : ''})`);
      }
    };
    for await (const si of jsm.streams.list()) {
      check(si.config.name, si.cluster);
      for await (const ci of jsm.consumers.list(si.config.name)) if (ci.config.durable_name) check(`${si.config.name}/${ci.name}`, ci.cluster);
    }
    return behind.join(', ');
  });
}

/** A user's nkey seed file and the inbox prefix its permissions allow replies on (bus/permissions.ts). */
export interface ProbeAuth {
  nkey: string;
  inboxPrefix: string;
}

/** Whether JetStream answers an account info request through the server at `url`. */
export async function jetStreamAnswers(url: string, auth?: ProbeAuth): Promise<boolean> {
  const nc = await connect({
    servers: url,
    reconnect: false,
    timeout: 2_000,
    ...(auth && { inboxPrefix: auth.inboxPrefix, authenticator: nkeyAuthenticator(new TextEncoder().encode(readFileSync(auth.nkey, 'utf8').trim())) }),
  });
  try {
    await (await jetstreamManager(nc, { timeout: 2_000 })).getAccountInfo();
    return true;
  } catch {
    return false;
  } finally {
    await nc.close();
  }
}

/** Stops a nats-server process: SIGTERM, SIGKILL after 5 s; at once when it has already exited. */
async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}
