import { createHash } from 'node:crypto';
import { headers as natsHeaders, type Msg } from '@nats-io/transport-node';
import type { Consumer, JsMsg } from '@nats-io/jetstream';
import { z } from 'zod';
import {
  decodeEnvelope,
  encodeEnvelope,
  envelope,
  Headers,
  refuseEvent,
  StageFailed,
  TICKET_EVENTS,
  TicketStore,
  WorkItem,
  workTicketOf,
  type Bus,
  type RejectedSource,
  type StoredTicket,
} from '../../bus/index.ts';
import {
  delay,
  describeError,
  randomTicketId,
  ROLE_OF_STAGE,
  stageTimeout,
  ticketIdForExternalId,
  type Config,
  type ErrorBody,
  type IntakeReply,
  type Logger,
  type Ticket,
} from '../../shared/index.ts';
import type { CoordinatorEvent } from './events.ts';
import { BUG_INTAKE, parseIntake, TICKET_INTAKE, type IntakeKind } from './intake.ts';
import { applyEvent, COORDINATOR, newTicket, nextWake, outboxSent, tick, type Policy } from './reducer.ts';

export interface CoordinatorDeps {
  bus: Bus;
  config: Config;
  log: Logger;
  clock?: () => Date;
}

export interface Coordinator {
  /** Starts serving intake and consuming events; resolves once every loop is running. */
  start(): Promise<void>;
  /** Stops taking new work, finishes what is in hand, and resolves when every loop has ended. */
  stop(): Promise<void>;
}

/** How long an unpublished outbox may wait before any coordinator's sweeper publishes it. */
const OUTBOX_GRACE_MS = 2_000;

/** The server's advisory when a work item reached max_deliver. */
const MaxDeliveriesAdvisory = z.object({
  stream: z.string(),
  consumer: z.string(),
  stream_seq: z.number().int().positive(),
  deliveries: z.number().int().nonnegative(),
});

/**
 * The coordinator: serves ticket intake, applies every ticket event to the ticket's state with
 * compare-and-set, dispatches stage work through a transactional outbox, and sweeps timers. Any
 * number of coordinators can run against one server; they share the intake queue group and the
 * durable events consumer.
 */
export function createCoordinator({ bus, config, log, clock = () => new Date() }: CoordinatorDeps): Coordinator {
  const { subjects, names } = bus;
  const policy: Policy = {
    stageTimeoutMs: (stage) => stageTimeout(config, stage),
    queueTimeoutMs: config.NIGHTSHIFT_QUEUE_TIMEOUT,
    stageAttempts: config.NIGHTSHIFT_STAGE_ATTEMPTS,
    humanTimeoutMs: config.NIGHTSHIFT_HUMAN_TIMEOUT,
  };
  const abort = new AbortController();
  const running: Promise<void>[] = [];
  const inFlight = new Set<Promise<void>>();
  let store: TicketStore;

  function track(p: Promise<void>): void {
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  }

  async function publishOutbox(stored: StoredTicket | null): Promise<void> {
    if (!stored || stored.ticket.outbox.length === 0) return;
    const t = stored.ticket;
    const sent: string[] = [];
    for (const item of t.outbox) {
      const role = ROLE_OF_STAGE[item.stage];
      const msg = envelope(
        WorkItem,
        {
          stage: item.stage,
          attempt: item.attempt,
          ...(item.round !== undefined && { round: item.round }),
          ticket: workTicketOf(t),
        },
        { id: item.msgId, source: COORDINATOR, correlationId: t.id },
      );
      const ack = await bus.js.publish(subjects.work(role, t.id), encodeEnvelope(msg), { msgID: item.msgId });
      sent.push(item.msgId);
      // A duplicate is a republished outbox item (after a crash or by a sweeper): already queued once.
      log.info({ ticketId: t.id, stage: item.stage, attempt: item.attempt, role, duplicate: ack.duplicate }, 'dispatched');
    }
    await store.mutate(t.id, (cur) => outboxSent(cur, sent));
  }

  async function advance(id: string): Promise<void> {
    await publishOutbox(await store.mutate(id, (t) => tick(t, clock(), policy)));
  }

  // ---- intake -------------------------------------------------------------------------------

  async function keepRejected(source: RejectedSource, data: Uint8Array, error: ErrorBody): Promise<void> {
    // Kept for audit, bounded: the first bytes, with the whole payload's size and digest.
    const limit = Math.min(config.NIGHTSHIFT_INTAKE_MAX_BYTES, config.NIGHTSHIFT_REJECTED_KEEP_BYTES);
    const h = natsHeaders();
    h.set(Headers.RejectCode, error.code);
    h.set(Headers.RejectMessage, error.message.replace(/[\r\n]+/g, ' ').slice(0, 1_000));
    h.set(Headers.OriginalSize, String(data.byteLength));
    h.set(Headers.OriginalSha256, createHash('sha256').update(data).digest('hex'));
    await bus.js.publish(subjects.rejected(source), data.byteLength > limit ? data.subarray(0, limit) : data, {
      headers: h,
    });
  }

  /** Serves one intake request (a ticket or a bug report): refused payloads are kept, stored ones dispatched. */
  async function handleIntake<S extends z.ZodType>(msg: Msg, kind: IntakeKind<S>): Promise<void> {
    const reply = (body: IntakeReply) => {
      if (msg.reply) msg.respond(JSON.stringify(body));
    };
    try {
      const parsed = await parseIntake(msg.data, config.NIGHTSHIFT_INTAKE_MAX_BYTES, kind);
      if (!parsed.ok) {
        await keepRejected(kind.source, msg.data, parsed.error);
        log.warn({ source: kind.source, code: parsed.error.code, issues: parsed.error.issues }, 'intake rejected');
        reply({ ok: false, error: parsed.error });
        return;
      }
      const { request: req, report } = parsed;
      for (let i = 0; i < 5; i++) {
        const id = req.externalId !== undefined ? ticketIdForExternalId(req.externalId) : randomTicketId();
        const created = await store.create(newTicket(id, req, clock(), `intake:${req.requester ?? 'anonymous'}`, report));
        if (created || req.externalId !== undefined) {
          log.info({ ticketId: id, source: kind.source, duplicate: !created, externalId: req.externalId }, 'ticket received');
          reply({ ok: true, id, duplicate: !created });
          // Stored and answered: a failed dispatch is not a failed intake (the sweeper retries it).
          if (created) await advance(id).catch((err: unknown) => log.warn({ err, ticketId: id }, 'dispatch failed; will retry'));
          return;
        }
      }
      throw new Error('could not allocate a free ticket id');
    } catch (err) {
      const error = { code: 'internal_error', message: describeError(err).message };
      log.error({ err, source: kind.source }, 'intake failed');
      try {
        await keepRejected(kind.source, msg.data, error);
      } catch (keepErr) {
        log.error({ err: keepErr }, 'could not keep the failed intake payload');
      }
      reply({ ok: false, error });
    }
  }

  // ---- events and advisories --------------------------------------------------------------

  async function handleEvent(m: JsMsg): Promise<void> {
    let ev: CoordinatorEvent;
    try {
      ev = decodeEnvelope(m.data, TICKET_EVENTS);
    } catch (err) {
      log.error({ err, subject: m.subject }, 'invalid event: terminated');
      // No reason text: nats-server 2.9 ignores a +TERM that carries one, and redelivers.
      m.term();
      return;
    }
    const refused = refuseEvent(bus, m.subject, ev);
    if (refused) {
      log.error({ subject: m.subject, eventId: ev.id, event: ev.type, reason: refused }, 'event refused');
      await keepRejected('events', m.data, { code: 'event_refused', message: `${m.subject}: ${refused}` });
      await m.ackAck();
      return;
    }
    await applyAndPublish(ev);
    await m.ackAck();
  }

  async function applyAndPublish(ev: CoordinatorEvent): Promise<void> {
    const ticketId = ev.data.ticketId;
    let found = false;
    const written = await store.mutate(ticketId, (t) => {
      found = true;
      return applyEvent(t, ev, clock(), policy);
    });
    if (written) {
      log.info({ ticketId, event: ev.type, eventId: ev.id, state: written.ticket.state }, 'event applied');
      await publishOutbox(written);
    } else if (!found) {
      log.warn({ ticketId, event: ev.type, eventId: ev.id }, 'event for an unknown ticket ignored');
    }
  }

  async function handleAdvisory(m: JsMsg): Promise<void> {
    const parsed = MaxDeliveriesAdvisory.safeParse(safeJson(m.data));
    if (!parsed.success || parsed.data.stream !== names.workStream) {
      log.warn({ subject: m.subject }, 'unexpected advisory ignored');
      await m.ackAck();
      return;
    }
    const { stream_seq: seq, deliveries } = parsed.data;
    const stored = await bus.jsm.streams.getMessage(names.workStream, { seq }).catch(() => null);
    if (stored) {
      try {
        const item = decodeEnvelope(stored.data, [WorkItem]);
        const ev = envelope(
          StageFailed,
          {
            ticketId: item.data.ticket.id,
            stage: item.data.stage,
            attempt: item.data.attempt,
            error: {
              code: 'deliveries_exhausted',
              message: `work item delivered ${deliveries} times without completing`,
              retryable: false,
            },
            deliveries,
          },
          { id: `advisory.${names.workStream}.${seq}`, source: COORDINATOR, correlationId: item.data.ticket.id, causationId: item.id },
        );
        await applyAndPublish({ ...ev, type: StageFailed.type });
      } catch (err) {
        log.error({ err, seq }, 'work item named by an advisory is not valid');
      }
      await bus.jsm.streams.deleteMessage(names.workStream, seq).catch(() => false);
    }
    await m.ackAck();
  }

  async function consumeLoop(stream: string, handle: (m: JsMsg) => Promise<void>): Promise<void> {
    let consumer: Consumer | undefined;
    while (!abort.signal.aborted) {
      try {
        consumer ??= await bus.js.consumers.get(stream, names.coordinatorConsumer);
        const m = await consumer.next({ expires: 1_000 });
        if (!m) continue;
        try {
          await handle(m);
        } catch (err) {
          log.error({ err, subject: m.subject }, 'handling failed; will be redelivered');
          m.nak(1_000);
        }
      } catch (err) {
        if (abort.signal.aborted) break;
        consumer = undefined;
        log.debug({ err, stream }, 'consumer unavailable; retrying');
        await delay(500, abort.signal);
      }
    }
  }

  // ---- timers -------------------------------------------------------------------------------

  const wakeAt = new Map<string, number>();
  const unsentSince = new Map<string, number>();

  async function watchTickets(): Promise<void> {
    for await (const t of store.watch(abort.signal)) index(t);
  }

  function index(t: Ticket): void {
    const wake = nextWake(t);
    if (wake === null) wakeAt.delete(t.id);
    else wakeAt.set(t.id, wake);
    if (t.outbox.length > 0) unsentSince.set(t.id, Date.parse(t.updatedAt));
    else unsentSince.delete(t.id);
  }

  async function sweepLoop(): Promise<void> {
    while (!abort.signal.aborted) {
      await delay(config.NIGHTSHIFT_SWEEP_INTERVAL, abort.signal);
      const now = clock().getTime();
      for (const [id, at] of [...wakeAt]) {
        if (abort.signal.aborted) return;
        if (at > now) continue;
        wakeAt.delete(id);
        await advance(id).catch((err: unknown) => {
          log.warn({ err, ticketId: id }, 'timer failed; will retry');
          // The watch only re-indexes a ticket when it changes: keep the timer, or it is never retried.
          if (!wakeAt.has(id)) wakeAt.set(id, at);
        });
      }
      for (const [id, since] of [...unsentSince]) {
        if (abort.signal.aborted) return;
        if (now - since < OUTBOX_GRACE_MS) continue;
        unsentSince.delete(id);
        await store
          .get(id)
          .then(publishOutbox)
          .catch((err: unknown) => {
            log.warn({ err, ticketId: id }, 'outbox publish failed; will retry');
            if (!unsentSince.has(id)) unsentSince.set(id, since);
          });
      }
    }
  }

  return {
    async start() {
      store = new TicketStore(await bus.tickets());
      const serve = <S extends z.ZodType>(subject: string, kind: IntakeKind<S>) => {
        const sub = bus.nc.subscribe(subject, {
          queue: names.intakeQueue,
          callback: (err, msg) => {
            if (err) log.error({ err, subject }, 'intake subscription error');
            else track(handleIntake(msg, kind));
          },
        });
        abort.signal.addEventListener('abort', () => sub.unsubscribe(), { once: true });
      };
      serve(subjects.ticketIntake, TICKET_INTAKE);
      serve(subjects.bugIntake, BUG_INTAKE);
      await bus.nc.flush();
      running.push(
        consumeLoop(names.eventsStream, handleEvent),
        consumeLoop(names.advisoriesStream, handleAdvisory),
        watchTickets(),
        sweepLoop(),
      );
      log.info({ prefix: subjects.prefix }, 'coordinator started');
    },
    async stop() {
      abort.abort();
      await Promise.allSettled(running);
      await Promise.allSettled([...inFlight]);
      log.info('coordinator stopped');
    },
  };
}

function safeJson(data: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(data));
  } catch {
    return undefined;
  }
}
