import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { connectBus, provision, provisionOptions, writeServerAuth, type Bus, type ProcessKind } from '../../bus/index.ts';
import { createLogger, loadConfig, type Config, type Logger } from '../../shared/index.ts';
import { startNatsServer, type NatsServer } from './nats.ts';

/** Log lines written during a test, parsed; printed only when NIGHTSHIFT_TEST_LOGS=1. */
export interface LogSink {
  lines: Record<string, unknown>[];
  log: Logger;
}

export function logSink(bindings: Record<string, unknown> = {}): LogSink {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) {
        if (!line) continue;
        lines.push(JSON.parse(line) as Record<string, unknown>);
        if (process.env.NIGHTSHIFT_TEST_LOGS === '1') process.stderr.write(`${line}\n`);
      }
      cb();
    },
  });
  return { lines, log: createLogger({ level: 'debug', bindings }, stream) };
}

let counter = 0;

/** A unique subject prefix for one test. */
export function uniquePrefix(): string {
  counter += 1;
  return `t${process.pid}x${counter}`;
}

export interface TestEnv extends AsyncDisposable {
  nats: NatsServer;
  config: Config;
  sink: LogSink;
  /** A connected, provisioned bus; more can be made with `connect`. */
  bus: Bus;
  /** Whether the server takes only the generated credentials (`setup(…, { secure: true })`). */
  secure: boolean;
  connect(name?: string): Promise<Bus>;
  /**
   * With `{ secure: true }`: a connection with one process kind's generated credentials, so the
   * component under test runs with exactly the permissions it has in production. (The test's own
   * `bus` and `connect` use an administrator the generated configuration is extended with.)
   */
  connectAs(kind: ProcessKind): Promise<Bus>;
  /** With `{ secure: true }`: the nkey seed file of one process kind, for a child process's NATS_NKEY. */
  seedOf(kind: ProcessKind): string;
  /** Environment variables for a child nightshift process pointed at this server and prefix. */
  childEnv: Record<string, string>;
}

/**
 * A private nats-server, a config with short timers for tests, and a provisioned bus.
 * `await using env = await setup({ NIGHTSHIFT_ACK_WAIT: '1s' })`.
 */
export async function setup(overrides: Record<string, string> = {}, opts: { secure?: boolean } = {}): Promise<TestEnv> {
  const prefix = overrides.NIGHTSHIFT_PREFIX ?? uniquePrefix();
  const secured = opts.secure ? await secureConfig(prefix) : undefined;
  const nats = await startNatsServer(secured ? { config: secured.config } : {});
  const settings: Record<string, string> = {
    NIGHTSHIFT_PREFIX: prefix,
    NIGHTSHIFT_ACK_WAIT: '2s',
    NIGHTSHIFT_MAX_DELIVER: '5',
    NIGHTSHIFT_RETRY_BACKOFF: '100ms',
    NIGHTSHIFT_RETRY_BACKOFF_MAX: '1s',
    NIGHTSHIFT_SWEEP_INTERVAL: '100ms',
    NIGHTSHIFT_SHUTDOWN_GRACE: '5s',
    ...overrides,
    NATS_URL: nats.url,
  };
  const config = loadConfig({}, settings);
  const sink = logSink();
  const buses: Bus[] = [];
  const admin = secured ? { auth: { user: ADMIN, password: secured.password } } : {};
  const connect = async (name = 'test') => {
    const bus = await connectBus({ url: nats.url, prefix: config.NIGHTSHIFT_PREFIX, name, log: sink.log, ...admin });
    buses.push(bus);
    return bus;
  };
  const connectAs = async (kind: ProcessKind) => {
    if (!secured) throw new Error('connectAs needs setup(…, { secure: true })');
    const bus = await connectBus({ url: nats.url, prefix: config.NIGHTSHIFT_PREFIX, name: kind, kind, auth: { nkey: secured.seeds[kind] }, log: sink.log });
    buses.push(bus);
    return bus;
  };
  const bus = await connect();
  await provision(bus, provisionOptions(config));
  return {
    nats,
    config,
    sink,
    bus,
    connect,
    connectAs,
    seedOf: (kind) => {
      if (!secured) throw new Error('seedOf needs setup(…, { secure: true })');
      return secured.seeds[kind];
    },
    secure: secured !== undefined,
    childEnv: {
      ...settings,
      NATS_URL: nats.url,
      NIGHTSHIFT_LOG_LEVEL: 'debug',
      ...(secured && { NATS_USER: ADMIN, NATS_PASSWORD: secured.password }),
    },
    async [Symbol.asyncDispose]() {
      for (const b of buses.reverse()) await b.close().catch(() => undefined);
      await nats[Symbol.asyncDispose]();
      if (secured) rmSync(secured.dir, { recursive: true, force: true });
    },
  };
}

const ADMIN = 'nightshift-test-admin';

/**
 * The configuration `nightshift nats config` writes for `prefix`, plus an administrator allowed
 * everything, for the test's own scaffolding (posting, reading, provisioning).
 */
async function secureConfig(prefix: string): Promise<{ dir: string; config: string; seeds: Readonly<Record<ProcessKind, string>>; password: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'nightshift-test-auth-'));
  const written = await writeServerAuth(join(dir, 'auth'), prefix);
  const password = randomBytes(18).toString('base64url');
  const text = readFileSync(written.config, 'utf8');
  const at = text.lastIndexOf('  ]');
  if (at < 0) throw new Error(`no users list in ${written.config}`);
  const adminUser = `    { user: "${ADMIN}", password: "${password}", permissions: { publish: { allow: [">"] }, subscribe: { allow: [">"] } } }\n`;
  writeFileSync(written.config, text.slice(0, at) + adminUser + text.slice(at));
  return { dir, config: written.config, seeds: written.seeds, password };
}

