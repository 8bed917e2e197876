import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { Logger } from '../shared/index.ts';
import { createNames, createSubjects, type Names, type Subjects } from './subjects.ts';

export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';

/** A live connection to the bus and everything derived from it. */
export interface Bus {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly subjects: Subjects;
  readonly names: Names;
  /** The tickets KV bucket (provisioned by `provision`). */
  tickets(): Promise<KV>;
  /** Drains subscriptions and pending publishes, then closes. Safe to call twice. */
  close(): Promise<void>;
}

export interface ConnectOptions {
  url?: string;
  prefix?: string;
  /** Connection name shown by the server (e.g. `nightshift-coordinator`). */
  name: string;
  log: Logger;
  /** Give up on the first connect after this long (the server may still be starting). */
  connectTimeoutMs?: number;
}

/**
 * Connects with reconnect forever (a restarted server is found again) and logs connection changes.
 * The first connect is retried until `connectTimeoutMs`, then fails with the server's error.
 */
export async function connectBus(opts: ConnectOptions): Promise<Bus> {
  const servers = opts.url ?? DEFAULT_NATS_URL;
  const deadline = Date.now() + (opts.connectTimeoutMs ?? 10_000);
  let nc: NatsConnection;
  for (;;) {
    try {
      nc = await connect({
        servers,
        name: opts.name,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
        pingInterval: 10_000,
        timeout: 2_000,
      });
      break;
    } catch (err) {
      if (Date.now() >= deadline) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect' || s.type === 'reconnect' || s.type === 'error') {
        opts.log.warn({ status: s.type, server: 'server' in s ? s.server : undefined }, 'nats connection status');
      }
    }
  })();
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const subjects = createSubjects(opts.prefix);
  const names = createNames(opts.prefix);
  let kv: Promise<KV> | undefined;
  let closing: Promise<void> | undefined;
  return {
    nc,
    js,
    jsm,
    subjects,
    names,
    tickets: () => (kv ??= new Kvm(js).open(names.ticketsBucket)),
    close: () =>
      (closing ??= (async () => {
        if (nc.isClosed()) return;
        try {
          await nc.drain();
        } catch {
          await nc.close();
        }
      })()),
  };
}
