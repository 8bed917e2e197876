import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
    proc = spawn('nats-server', args, { stdio: ['ignore', 'ignore', 'pipe'] });
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

  const stop = async (): Promise<void> => {
    const child = proc;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };

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
