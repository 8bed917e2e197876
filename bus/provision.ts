import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  type ConsumerConfig,
  type StreamConfig,
} from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { nanos } from '@nats-io/transport-node';
import { AgentError, delay, ROLES, type Logger } from '../shared/index.ts';
import type { Bus } from './connection.ts';

export interface ProvisionOptions {
  /** How long a work item may go without an ack or in-progress ack before redelivery. */
  ackWaitMs: number;
  /** Deliveries of one work item before the server gives up on it (and advises so). */
  maxDeliver: number;
}

const DAY_MS = 86_400_000;

/**
 * Creates or updates every stream, consumer and bucket nightshift uses. Idempotent and safe to run
 * from several processes at once: every process runs it at start-up.
 */
export async function provision(bus: Bus, opts: ProvisionOptions): Promise<void> {
  const { subjects, names } = bus;
  await ensureStream(bus, {
    name: names.workStream,
    subjects: [subjects.workAll],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    duplicate_window: nanos(120_000),
  });
  await ensureStream(bus, {
    name: names.eventsStream,
    subjects: [subjects.eventsAll],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    max_age: nanos(14 * DAY_MS),
    duplicate_window: nanos(120_000),
  });
  await ensureStream(bus, {
    name: names.rejectedStream,
    subjects: [subjects.rejectedAll],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    max_age: nanos(30 * DAY_MS),
  });
  await ensureStream(bus, {
    name: names.advisoriesStream,
    subjects: [subjects.maxDeliveriesAdvisories],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    max_age: nanos(14 * DAY_MS),
  });
  await ensureStream(bus, {
    name: names.transcriptsStream,
    subjects: [subjects.transcriptsAll],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    max_age: nanos(30 * DAY_MS),
    max_msg_size: 4 * 1024 * 1024,
  });
  await new Kvm(bus.js).create(names.ticketsBucket, { history: 5, storage: StorageType.File });
  await new Kvm(bus.js).create(names.prsBucket, { history: 5, storage: StorageType.File });
  await new Kvm(bus.js).create(names.escalationsBucket, { history: 5, storage: StorageType.File });

  for (const role of ROLES) {
    await ensureConsumer(bus, names.workStream, {
      durable_name: names.roleConsumer(role),
      filter_subject: subjects.workOf(role),
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: nanos(opts.ackWaitMs),
      max_deliver: opts.maxDeliver,
      max_ack_pending: 1_000,
    });
  }
  for (const stream of [names.eventsStream, names.advisoriesStream]) {
    await ensureConsumer(bus, stream, {
      durable_name: names.coordinatorConsumer,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: nanos(30_000),
      max_deliver: -1,
      max_ack_pending: 1_000,
    });
  }
}

async function ensureStream(bus: Bus, cfg: Partial<StreamConfig> & { name: string }): Promise<void> {
  try {
    await bus.jsm.streams.info(cfg.name);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    try {
      await bus.jsm.streams.add(cfg);
      return;
    } catch (addErr) {
      if (!isAlreadyInUse(addErr)) throw addErr;
    }
  }
  await bus.jsm.streams.update(cfg.name, cfg);
}

async function ensureConsumer(
  bus: Bus,
  stream: string,
  cfg: Partial<ConsumerConfig> & { durable_name: string },
): Promise<void> {
  try {
    await bus.jsm.consumers.info(stream, cfg.durable_name);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    try {
      await bus.jsm.consumers.add(stream, cfg);
      return;
    } catch (addErr) {
      if (!isAlreadyInUse(addErr)) throw addErr;
    }
  }
  const { ack_wait, max_deliver, max_ack_pending } = cfg;
  await bus.jsm.consumers.update(stream, cfg.durable_name, { ack_wait, max_deliver, max_ack_pending });
}

function isNotFound(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.status === 404;
}

function isAlreadyInUse(err: unknown): boolean {
  return err instanceof JetStreamApiError && (err.code === 10058 || err.code === 10013 || err.code === 10148);
}

/**
 * Waits until the coordinator has provisioned what a process of another kind opens (processes other
 * than the coordinator may not create streams): the KV buckets named, and a role's work consumer.
 * Logs while it waits; fails after `timeoutMs` naming what is missing.
 */
export async function awaitProvisioned(
  bus: Bus,
  opts: { buckets: string[]; consumer?: { stream: string; name: string }; log: Logger; signal?: AbortSignal; timeoutMs?: number },
): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
  let nextLog = Date.now() + 5_000;
  for (;;) {
    const missing: string[] = [];
    for (const bucket of opts.buckets) {
      if (!(await exists(() => bus.jsm.streams.info(`KV_${bucket}`)))) missing.push(`bucket ${bucket}`);
    }
    const c = opts.consumer;
    if (c && !(await exists(() => bus.jsm.consumers.info(c.stream, c.name)))) missing.push(`consumer ${c.name} of ${c.stream}`);
    if (missing.length === 0) return;
    if (Date.now() >= deadline) {
      throw new AgentError('not_provisioned', `${missing.join(', ')} not provisioned: is a coordinator running against this server and prefix?`, { retryable: true });
    }
    if (Date.now() >= nextLog) {
      opts.log.info({ missing }, 'waiting for the coordinator to provision the bus');
      nextLog = Date.now() + 15_000;
    }
    await delay(250, opts.signal);
    if (opts.signal?.aborted) return;
  }
}

async function exists(info: () => Promise<unknown>): Promise<boolean> {
  try {
    await info();
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}
