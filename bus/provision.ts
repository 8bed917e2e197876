import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  type ConsumerConfig,
  type StreamConfig,
} from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { nanos, TimeoutError } from '@nats-io/transport-node';
import { AgentError, delay, ROLES, type Config, type Logger } from '../shared/index.ts';
import type { Bus } from './connection.ts';

export interface ProvisionOptions {
  /** How long a work item may go without an ack or in-progress ack before redelivery. */
  ackWaitMs: number;
  /** Deliveries of one work item before the server gives up on it (and advises so). */
  maxDeliver: number;
  /** Size bounds of the streams and buckets; DEFAULT_LIMITS for what is not given. */
  limits?: Partial<Limits>;
  /** Replicas of every stream and bucket (1 on one server, 3 on a 3-node cluster); 1 unless given. */
  replicas?: number;
  /** Where a stream or bucket whose replicas differ from `replicas` is reported. */
  log?: Logger;
}

/** Bounds on one stream or bucket: total bytes, message count (-1: none beyond bytes), one message. */
export interface Bound {
  maxBytes: number;
  maxMsgs: number;
  maxMsgSize: number;
}

/** Every stream and bucket nightshift provisions, bounded (docs/security.md has the table). */
export interface Limits {
  work: Bound;
  events: Bound;
  rejected: Bound;
  advisories: Bound;
  transcripts: Bound;
  tickets: Bound;
  prs: Bound;
  escalations: Bound;
}

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
/** Room for the headers a rejected payload is kept with (code, message, size, digest). */
const REJECTED_HEADER_ROOM = 4 * KiB;

export const DEFAULT_LIMITS: Limits = {
  work: { maxBytes: 4 * GiB, maxMsgs: 100_000, maxMsgSize: MiB },
  events: { maxBytes: GiB, maxMsgs: 1_000_000, maxMsgSize: MiB },
  rejected: { maxBytes: 64 * MiB, maxMsgs: 100_000, maxMsgSize: 16 * KiB + REJECTED_HEADER_ROOM },
  advisories: { maxBytes: 16 * MiB, maxMsgs: 10_000, maxMsgSize: 64 * KiB },
  transcripts: { maxBytes: 2 * GiB, maxMsgs: -1, maxMsgSize: 4 * MiB },
  tickets: { maxBytes: GiB, maxMsgs: -1, maxMsgSize: MiB },
  prs: { maxBytes: 256 * MiB, maxMsgs: -1, maxMsgSize: MiB },
  escalations: { maxBytes: 256 * MiB, maxMsgs: -1, maxMsgSize: 256 * KiB },
};

/** The limits an operator set (NIGHTSHIFT_*_MAX_* settings) over the defaults. */
export function limitsFromConfig(config: Config): Limits {
  const d = DEFAULT_LIMITS;
  return {
    ...d,
    work: { ...d.work, maxMsgs: config.NIGHTSHIFT_WORK_MAX_MSGS },
    events: { ...d.events, maxBytes: config.NIGHTSHIFT_EVENTS_MAX_BYTES },
    rejected: {
      maxBytes: config.NIGHTSHIFT_REJECTED_MAX_BYTES,
      maxMsgs: config.NIGHTSHIFT_REJECTED_MAX_MSGS,
      maxMsgSize: config.NIGHTSHIFT_REJECTED_KEEP_BYTES + REJECTED_HEADER_ROOM,
    },
    transcripts: { ...d.transcripts, maxBytes: config.NIGHTSHIFT_TRANSCRIPTS_MAX_BYTES },
    tickets: { ...d.tickets, maxBytes: config.NIGHTSHIFT_TICKETS_MAX_BYTES },
  };
}

/**
 * The JetStream file storage every stream and bucket at its byte bound takes on one server (each
 * replica is a full copy, so on a cluster every node needs it too): a server's `max_file_store` must
 * be at least this, or a stream cannot be placed ("insufficient storage").
 */
export function storeBytesNeeded(limits: Limits): number {
  return Object.values(limits).reduce((sum: number, b: Bound) => sum + b.maxBytes, 0);
}

/** What `provision` is given by a process that has a configuration. */
export function provisionOptions(config: Config): ProvisionOptions {
  return {
    ackWaitMs: config.NIGHTSHIFT_ACK_WAIT,
    maxDeliver: config.NIGHTSHIFT_MAX_DELIVER,
    limits: limitsFromConfig(config),
    replicas: config.NIGHTSHIFT_JS_REPLICAS,
  };
}

const DAY_MS = 86_400_000;

function bounded(b: Bound, discard: DiscardPolicy): Partial<StreamConfig> {
  return { max_bytes: b.maxBytes, max_msgs: b.maxMsgs, max_msg_size: b.maxMsgSize, discard };
}

/**
 * Creates or updates every stream, consumer and bucket nightshift uses. Idempotent and safe to run
 * from several processes at once: every process runs it at start-up.
 */
export async function provision(bus: Bus, opts: ProvisionOptions): Promise<void> {
  const { subjects, names } = bus;
  const limits = { ...DEFAULT_LIMITS, ...opts.limits };
  const replicas = opts.replicas ?? 1;
  const ensureStream = (cfg: Partial<StreamConfig> & { name: string }) => ensureStreamOf(bus, { ...cfg, num_replicas: replicas }, opts.log);
  const ensureBucket = (name: string, b: Bound) => ensureBucketOf(bus, name, b, replicas, opts.log);
  // Queued work is never dropped to make room: a full queue refuses the dispatch, which stays in the
  // coordinator's outbox and is published again later. History streams drop their oldest instead.
  await ensureStream({
    name: names.workStream,
    subjects: [subjects.workAll],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    duplicate_window: nanos(120_000),
    ...bounded(limits.work, DiscardPolicy.New),
  });
  await ensureStream({
    name: names.eventsStream,
    subjects: [subjects.eventsAll],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    max_age: nanos(14 * DAY_MS),
    duplicate_window: nanos(120_000),
    ...bounded(limits.events, DiscardPolicy.Old),
  });
  await ensureStream({
    name: names.rejectedStream,
    subjects: [subjects.rejectedAll],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    max_age: nanos(30 * DAY_MS),
    ...bounded(limits.rejected, DiscardPolicy.Old),
  });
  await ensureStream({
    name: names.advisoriesStream,
    subjects: [subjects.maxDeliveriesAdvisories],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    max_age: nanos(14 * DAY_MS),
    ...bounded(limits.advisories, DiscardPolicy.Old),
  });
  await ensureStream({
    name: names.transcriptsStream,
    subjects: [subjects.transcriptsAll],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    max_age: nanos(30 * DAY_MS),
    ...bounded(limits.transcripts, DiscardPolicy.Old),
  });
  await ensureBucket(names.ticketsBucket, limits.tickets);
  await ensureBucket(names.prsBucket, limits.prs);
  await ensureBucket(names.escalationsBucket, limits.escalations);

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

/**
 * Creates a stream, or brings an existing one's configuration up to date — except its replicas: a
 * stream that exists keeps its replica count, and a count other than the configured one is logged
 * (changing it is an operator's decision, e.g. `nats stream edit --replicas`; docs/deploy.md).
 */
async function ensureStreamOf(bus: Bus, cfg: Partial<StreamConfig> & { name: string; num_replicas: number }, log: Logger | undefined): Promise<void> {
  let actual: number;
  try {
    actual = (await bus.jsm.streams.info(cfg.name)).config.num_replicas;
  } catch (err) {
    if (!isNotFound(err)) throw err;
    try {
      await bus.jsm.streams.add(cfg);
      return;
    } catch (addErr) {
      if (!isAlreadyInUse(addErr)) throw addErr;
    }
    actual = (await bus.jsm.streams.info(cfg.name)).config.num_replicas;
  }
  reportReplicas(log, 'stream', cfg.name, cfg.num_replicas, actual);
  const { num_replicas: _kept, ...rest } = cfg;
  await bus.jsm.streams.update(cfg.name, rest);
}

/**
 * Creates a KV bucket with its bounds, or brings an existing one's bounds up to date (creating a
 * bucket that exists leaves its configuration as it was). A full bucket refuses new keys.
 */
async function ensureBucketOf(bus: Bus, name: string, b: Bound, replicas: number, log: Logger | undefined): Promise<void> {
  const kv = await new Kvm(bus.js).create(name, { history: 5, storage: StorageType.File, max_bytes: b.maxBytes, maxValueSize: b.maxMsgSize, replicas });
  const stream = (await kv.status()).streamInfo.config;
  reportReplicas(log, 'bucket', name, replicas, stream.num_replicas);
  if (stream.max_bytes !== b.maxBytes || stream.max_msg_size !== b.maxMsgSize) {
    await bus.jsm.streams.update(stream.name, { max_bytes: b.maxBytes, max_msg_size: b.maxMsgSize });
  }
}

function reportReplicas(log: Logger | undefined, kind: 'stream' | 'bucket', name: string, configured: number, actual: number): void {
  if (actual === configured) return;
  log?.warn(
    { [kind]: name, configuredReplicas: configured, actualReplicas: actual },
    `${kind} ${name} has ${actual} replica${actual === 1 ? '' : 's'} but NIGHTSHIFT_JS_REPLICAS is ${configured}; it is left as it is: ` +
      `change it with \`nats stream edit ${kind === 'bucket' ? `KV_${name}` : name} --replicas ${configured}\` (docs/deploy.md)`,
  );
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
    // A JetStream API that does not answer yet (a cluster still electing its leaders) is waited for too.
    if (isNotFound(err) || err instanceof TimeoutError) return false;
    throw err;
  }
}
