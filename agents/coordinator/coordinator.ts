import { createHash } from 'node:crypto';
import { headers as natsHeaders, type Msg } from '@nats-io/transport-node';
import type { JsMsg } from '@nats-io/jetstream';
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
  traceContextOf,
  traceHeaders,
  WorkItem,
  workTicketOf,
  type Bus,
  type RejectedSource,
  type StoredTicket,
} from '../../bus/index.ts';
import {
  contextOfTraceparent,
  describeError,
  inSpan,
  parentIn,
  SpanKind,
  traceparentOf,
  tracing,
  randomTicketId,
  ROLE_OF_STAGE,
  stageTimeout,
  ticketIdForExternalId,
  type Config,
  type ErrorBody,
  type IntakeReply,
  type Logger,
  type Role,
  type OutboxItem,
  type Span,
  type Ticket,
  ConflictError,
  type TraceContext,
} from '../../shared/index.ts';
import { measureWorkPending } from '../../shared/metrics.ts';
import type { CoordinatorEvent } from './events.ts';
import { BUG_INTAKE, parseIntake, TICKET_INTAKE, type IntakeKind } from './intake.ts';
import { consumeLoop } from './consume.ts';
import { applyEvent, COORDINATOR, newTicket, tick, type Policy } from './reducer.ts';
import { createSweeper } from './sweeper.ts';

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
 * durable events consumer. The consume loop is consume.ts; the ticket index, its timers and the
 * outbox sweeper are sweeper.ts, which writes through this file's `write` and `advance`.
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

  /** Dispatches this coordinator published, by id, with when: no need to look for them in the work stream. */
  const published = new Map<string, number>();

  /**
   * Publishes one dispatch of `t` under its Msg-Id: publishing it again is deduplicated by the server.
   * In a `dispatch <stage>` span of the ticket's trace, whose context the work item carries.
   */
  function publishWork(t: Ticket, item: OutboxItem): Promise<boolean> {
    const role = ROLE_OF_STAGE[item.stage];
    const subject = subjects.work(role, t.id);
    const attributes = {
      'nightshift.ticket.id': t.id,
      'nightshift.stage': item.stage,
      'nightshift.attempt': item.attempt,
      'messaging.system': 'nats',
      'messaging.operation.type': 'send',
      'messaging.destination.name': subject,
      'messaging.message.id': item.msgId,
    };
    return inSpan(`dispatch ${item.stage}`, { kind: SpanKind.PRODUCER, parent: parentIn(t.traceparent), attributes }, (span) =>
      publishWorkNow(t, item, role, subject).then((duplicate) => {
        span.setAttribute('nightshift.duplicate', duplicate);
        return duplicate;
      }),
    );
  }

  async function publishWorkNow(t: Ticket, item: OutboxItem, role: Role, subject: string): Promise<boolean> {
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
    const headers = traceHeaders();
    const ack = await bus.js.publish(subject, encodeEnvelope(msg), { msgID: item.msgId, ...(headers && { headers }) });
    published.set(item.msgId, Date.now());
    // A duplicate is a dispatch published once already (before a crash, or by another coordinator).
    log.info({ ticketId: t.id, stage: item.stage, attempt: item.attempt, role, duplicate: ack.duplicate }, 'dispatched');
    return ack.duplicate;
  }

  /**
   * Reads, decides and writes a ticket with compare-and-set, then publishes what the decision
   * dispatched. One write per transition: the dispatch is recorded in the ticket (`work.dispatchId`)
   * by the write that decides it, and the outbox the reducer fills is emptied in that same write. That
   * the work item was published is not written anywhere: a publish lost to a crash or a bus error is
   * found by the sweepers (`ensurePublished`, sweeper.ts), which look for the item in the work stream.
   */
  async function write(id: string, decide: (t: Ticket) => Ticket | null): Promise<StoredTicket | null> {
    let items: OutboxItem[] = [];
    const written = await store.mutate(id, (t) => {
      const next = decide(t);
      items = next?.outbox ?? [];
      return next && items.length > 0 ? { ...next, outbox: [] } : next;
    });
    if (written) {
      for (const item of items) {
        await publishWork(written.ticket, item).catch((err: unknown) => log.warn({ err, ticketId: id, stage: item.stage, attempt: item.attempt }, 'dispatch not published; a sweeper will publish it'));
      }
    }
    return written;
  }

  async function advance(id: string): Promise<void> {
    await write(id, (t) => tick(t, clock(), policy));
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

  /**
   * Serves one intake request (a ticket or a bug report): refused payloads are kept, stored ones
   * dispatched. In an `intake` span: the root of the ticket's trace (or a child of the trace context
   * the request carries), whose traceparent the ticket keeps.
   */
  function handleIntake<S extends z.ZodType>(msg: Msg, kind: IntakeKind<S>): Promise<void> {
    const parent = traceContextOf(msg.headers);
    return inSpan('intake', { kind: SpanKind.SERVER, ...(parent ? { parent } : { root: true }), attributes: { 'nightshift.intake.source': kind.source } }, (span) =>
      intake(msg, kind, span),
    );
  }

  async function intake<S extends z.ZodType>(msg: Msg, kind: IntakeKind<S>, span: Span): Promise<void> {
    const reply = (body: IntakeReply) => {
      if (!body.ok) span.setAttribute('nightshift.intake.error', body.error.code);
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
        const traceparent = traceparentOf();
        const created = await store.create({ ...newTicket(id, req, clock(), `intake:${req.requester ?? 'anonymous'}`, report), ...(traceparent && { traceparent }) });
        if (created || req.externalId !== undefined) {
          span.setAttributes({ 'nightshift.ticket.id': id, 'nightshift.duplicate': !created });
          log.info({ ticketId: id, source: kind.source, duplicate: !created, externalId: req.externalId }, 'ticket received');
          reply({ ok: true, id, duplicate: !created });
          // Stored and answered: a failed dispatch is not a failed intake (the sweeper retries it).
          if (created) await advance(id).catch((err: unknown) => log.warn({ err, ticketId: id }, 'dispatch failed; will retry'));
          return;
        }
      }
      throw new ConflictError('could not allocate a free ticket id: every one tried was taken');
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
    await applyAndPublish(ev, traceContextOf(m.headers));
    // Not waited for: the next event of this ticket need not wait a round trip, and an ack that is
    // lost only brings the event back, which the ticket's applied ids recognise.
    m.ack();
  }

  /**
   * Applies an event in an `apply <type>` span: under the span that sent it (its headers), or under the
   * ticket's root when it came without one (a person's answer, the server's advisory).
   */
  async function applyAndPublish(ev: CoordinatorEvent, sent?: TraceContext): Promise<void> {
    const ticketId = ev.data.ticketId;
    const parent = sent ?? (tracing() ? contextOfTraceparent((await store.get(ticketId).catch(() => null))?.ticket.traceparent) : undefined);
    const attributes = { 'nightshift.ticket.id': ticketId, 'nightshift.event': ev.type, 'messaging.system': 'nats', 'messaging.message.id': ev.id };
    await inSpan(`apply ${ev.type}`, { kind: SpanKind.CONSUMER, ...(parent ? { parent } : { root: true }), attributes }, (span) => apply(ev, span));
  }

  async function apply(ev: CoordinatorEvent, span: Span): Promise<void> {
    const ticketId = ev.data.ticketId;
    let found = false;
    const written = await write(ticketId, (t) => {
      found = true;
      return applyEvent(t, ev, clock(), policy);
    });
    span.setAttribute('nightshift.applied', written !== null);
    if (written) {
      span.setAttribute('nightshift.state', written.ticket.state);
      log.info({ ticketId, event: ev.type, eventId: ev.id, state: written.ticket.state }, 'event applied');
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
    // Null when the item is gone; a failed lookup throws, and the advisory comes back (nak) to be tried again.
    const stored = await bus.jsm.streams.getMessage(names.workStream, { seq });
    if (stored) await failExhausted(seq, stored.data, `work item delivered ${deliveries} times without completing`, deliveries);
    await m.ackAck();
  }

  /** Fails the attempt of a work item whose deliveries ran out, and removes the item from the queue. */
  async function failExhausted(seq: number, data: Uint8Array, message: string, deliveries: number): Promise<void> {
    try {
      const item = decodeEnvelope(data, [WorkItem]);
      const ev = envelope(
        StageFailed,
        {
          ticketId: item.data.ticket.id,
          stage: item.data.stage,
          attempt: item.data.attempt,
          error: { code: 'deliveries_exhausted', message, retryable: false },
          deliveries,
        },
        { id: `advisory.${names.workStream}.${seq}`, source: COORDINATOR, correlationId: item.data.ticket.id, causationId: item.id },
      );
      await applyAndPublish({ ...ev, type: StageFailed.type });
    } catch (err) {
      log.error({ err, seq }, 'work item whose deliveries ran out is not valid');
    }
    await bus.jsm.streams.deleteMessage(names.workStream, seq).catch(() => false);
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
      measureWorkPending((role) => bus.jsm.consumers.info(names.workStream, names.roleConsumer(role)));
      serve(subjects.ticketIntake, TICKET_INTAKE);
      serve(subjects.bugIntake, BUG_INTAKE);
      await bus.nc.flush();
      const loop = { bus, signal: abort.signal, log };
      const sweeper = createSweeper({ bus, store, config, policy, log, clock, signal: abort.signal, published, write, advance, publishWork, failExhausted });
      running.push(
        consumeLoop(loop, names.eventsStream, handleEvent, (m) => subjects.parseEvent(m.subject)?.ticketId),
        // Advisories name a stream sequence, not a ticket: any order will do.
        consumeLoop(loop, names.advisoriesStream, handleAdvisory, () => undefined),
        sweeper.watch(),
        sweeper.sweep(),
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
