import { Writable } from 'node:stream';
import { connectBus, provision, provisionOptions, type Bus } from '../../bus/index.ts';
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
  connect(name?: string): Promise<Bus>;
  /** Environment variables for a child nightshift process pointed at this server and prefix. */
  childEnv: Record<string, string>;
}

/**
 * A private nats-server, a config with short timers for tests, and a provisioned bus.
 * `await using env = await setup({ NIGHTSHIFT_ACK_WAIT: '1s' })`.
 */
export async function setup(overrides: Record<string, string> = {}): Promise<TestEnv> {
  const nats = await startNatsServer();
  const settings: Record<string, string> = {
    NIGHTSHIFT_PREFIX: uniquePrefix(),
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
  const connect = async (name = 'test') => {
    const bus = await connectBus({ url: nats.url, prefix: config.NIGHTSHIFT_PREFIX, name, log: sink.log });
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
    childEnv: { ...settings, NATS_URL: nats.url, NIGHTSHIFT_LOG_LEVEL: 'debug' },
    async [Symbol.asyncDispose]() {
      for (const b of buses.reverse()) await b.close().catch(() => undefined);
      await nats[Symbol.asyncDispose]();
    },
  };
}
