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
  StageCompleted,
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
  delay,
  describeError,
  inSpan,
  isStage,
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
  type TicketHead,
  type TraceContext,
} from '../../shared/index.ts';
import { measureWorkPending, ticketCensus } from '../../shared/metrics.ts';
import type { CoordinatorEvent } from './events.ts';
import { BUG_INTAKE, parseIntake, TICKET_INTAKE, type IntakeKind } from './intake.ts';
import { applyEvent, COORDINATOR, newTicket, nextWake, redispatch, tick, type Policy } from './reducer.ts';

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

/**
 * How long a dispatch nobody has seen published may wait before any coordinator's sweeper checks the
 * work stream for it, and publishes it if it is not there.
 */
const OUTBOX_GRACE_MS = 2_000;
/** How long this coordinator remembers the dispatches it published itself. */
const PUBLISHED_MEMORY_MS = 600_000;

/**
 * Messages one coordinator handles at once per stream (and asks the server for in one pull). Events of
 * one ticket are still applied one at a time, in arrival order.
 */
const MAX_IN_FLIGHT = 64;

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
   * found by the sweepers (`ensurePublished`), which look for the item in the work stream.
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
    const stored = await bus.jsm.streams.getMessage(names.workStream, { seq }).catch(() => null);
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

  /**
   * Consumes `stream` through the shared durable consumer with one long-lived pull, handling up to
   * MAX_IN_FLIGHT messages at once. Messages with the same key (`keyOf`: the ticket of an event) are
   * handled one after another in arrival order; others run concurrently, which compare-and-set makes
   * safe, here as across coordinator replicas. Ends once `abort` fires and what is in hand is done;
   * messages buffered but not started are handed back (nak) for any coordinator to take.
   */
  async function consumeLoop(stream: string, handle: (m: JsMsg) => Promise<void>, keyOf: (m: JsMsg) => string | undefined): Promise<void> {
    const chains = new Map<string, Promise<void>>();
    const active = new Set<Promise<void>>();
    let freed: (() => void) | undefined;
    const run = async (m: JsMsg): Promise<void> => {
      try {
        await handle(m);
      } catch (err) {
        log.error({ err, subject: m.subject }, 'handling failed; will be redelivered');
        m.nak(1_000);
      }
    };
    let consumer: Consumer | undefined;
    while (!abort.signal.aborted) {
      try {
        consumer ??= await bus.js.consumers.get(stream, names.coordinatorConsumer);
        const messages = await consumer.consume({ max_messages: MAX_IN_FLIGHT });
        const close = () => void messages.close();
        abort.signal.addEventListener('abort', close, { once: true });
        try {
          for await (const m of messages) {
            if (abort.signal.aborted) {
              m.nak();
              continue;
            }
            while (active.size >= MAX_IN_FLIGHT) await new Promise<void>((r) => (freed = r));
            const key = keyOf(m);
            const before = key === undefined ? undefined : chains.get(key);
            const p = before ? before.then(() => run(m)) : run(m);
            active.add(p);
            if (key !== undefined) chains.set(key, p);
            void p.finally(() => {
              active.delete(p);
              if (key !== undefined && chains.get(key) === p) chains.delete(key);
              const wake = freed;
              freed = undefined;
              wake?.();
            });
          }
        } finally {
          abort.signal.removeEventListener('abort', close);
        }
        // The pull ended without a stop (the client gave up on it): start another.
        if (!abort.signal.aborted) await delay(500, abort.signal);
      } catch (err) {
        if (abort.signal.aborted) break;
        consumer = undefined;
        log.debug({ err, stream }, 'consumer unavailable; retrying');
        await delay(500, abort.signal);
      }
    }
    await Promise.allSettled([...active]);
  }

  // ---- timers -------------------------------------------------------------------------------

  const wakeAt = new Map<string, number>();
  /** Tickets whose outbox a coordinator older than this one left filled, since when. */
  const unsentSince = new Map<string, number>();
  /**
   * Dispatches nobody has seen published yet, per ticket: since when this coordinator knows of them,
   * and when to try again after a failed check (backoff: the bus is likely electing leaders).
   */
  const unconfirmed = new Map<string, { dispatchId: string; dispatchedAt: string; since: number; tries?: number; retryAt?: number }>();
  /**
   * Dispatched work seen published, per ticket: when to check next that its work item is still on
   * its way, and the ticket revision at which the item was last found gone.
   */
  const dispatched = new Map<string, { dispatchId: string; at: number; goneAt?: number }>();
  const census = ticketCensus();
  async function watchTickets(): Promise<void> {
    // Heads only: every coordinator follows every write of every ticket, and validating whole records
    // there cost each coordinator a full parse of every other coordinator's writes.
    for await (const t of store.watchHeads(abort.signal)) index(t);
  }

  function index(t: TicketHead): void {
    census.observe(t);
    const wake = nextWake(t);
    if (wake === null) wakeAt.delete(t.id);
    else wakeAt.set(t.id, wake);
    if (t.outbox.length > 0) unsentSince.set(t.id, Date.parse(t.updatedAt));
    else unsentSince.delete(t.id);
    const waiting = t.work && isStage(t.state) && t.work.dispatchId && t.outbox.length === 0 ? t.work : undefined;
    if (!waiting) {
      unconfirmed.delete(t.id);
      dispatched.delete(t.id);
      return;
    }
    const dispatchId = waiting.dispatchId!;
    if (dispatched.get(t.id)?.dispatchId === dispatchId) return;
    // Started by an agent, or published here: it was published. Otherwise the sweeper makes sure.
    if (waiting.startedAt || published.has(dispatchId)) confirm(t.id, dispatchId, waiting.dispatchedAt);
    else if (unconfirmed.get(t.id)?.dispatchId !== dispatchId) {
      dispatched.delete(t.id);
      unconfirmed.set(t.id, { dispatchId, dispatchedAt: waiting.dispatchedAt, since: clock().getTime() });
    }
  }

  /** Work known to be published: from now on, checked for loss (`reconcile`). */
  function confirm(id: string, dispatchId: string, dispatchedAt: string): void {
    if (unconfirmed.get(id)?.dispatchId === dispatchId) unconfirmed.delete(id);
    if (dispatched.get(id)?.dispatchId === dispatchId) return;
    // Counted from when the item was seen published, not from the decision.
    dispatched.set(id, { dispatchId, at: Math.max(Date.parse(dispatchedAt), clock().getTime()) + config.NIGHTSHIFT_LOST_WORK_CHECK });
  }

  let duplicateWindowMs: number | undefined;

  /**
   * Makes sure the dispatch a ticket waits on was published, for a dispatch nobody has seen published
   * (its coordinator died between the write and the publish, or the publish failed): it was when its
   * work item is in the work stream, when an agent started it, or when its result waits to be applied.
   * Otherwise it is published now under its own Msg-Id; within the stream's duplicate window the server
   * drops it if it had been published after all. Past that window, an item that left no trace is left
   * to `reconcile`, which dispatches the attempt again under a new id.
   */
  async function ensurePublished(id: string, dispatchId: string): Promise<void> {
    const t = (await store.get(id))?.ticket;
    const w = t?.work;
    if (!t || !w || !isStage(t.state) || w.dispatchId !== dispatchId || t.outbox.length > 0) {
      if (unconfirmed.get(id)?.dispatchId === dispatchId) unconfirmed.delete(id);
      return;
    }
    const role = ROLE_OF_STAGE[w.stage];
    const stored = await bus.jsm.streams.getMessage(names.workStream, { last_by_subj: subjects.work(role, id) }).catch(() => null);
    const queued = stored !== null && decodeEnvelope(stored.data, [WorkItem]).id === dispatchId;
    if (!queued && !w.startedAt && !(await resultPending(id, role, dispatchId))) {
      duplicateWindowMs ??= Math.floor((await bus.jsm.streams.info(names.workStream)).config.duplicate_window / 1e6);
      if (Date.now() - Date.parse(w.dispatchedAt) < duplicateWindowMs - OUTBOX_GRACE_MS) {
        const duplicate = await publishWork(t, { msgId: dispatchId, kind: 'dispatch', stage: w.stage, attempt: w.attempt, ...(w.round !== undefined && { round: w.round }) });
        if (!duplicate) log.warn({ ticketId: id, stage: w.stage, attempt: w.attempt }, 'a dispatch nobody published is published now');
      }
    }
    confirm(id, dispatchId, w.dispatchedAt);
  }

  /**
   * Checks that a ticket's dispatched work is still on its way, and repairs what a JetStream cluster
   * can lose when its leaders change (nats-server 2.9 was seen doing each):
   * - the item is still queued (a work queue: items leave it when acked) but at or below its role
   *   consumer's ack floor, so the consumer counts it done and will never deliver it. Never started:
   *   it is deleted and queued again under a new Msg-Id (of several coordinators, only the one whose
   *   delete succeeds does). Started: its deliveries ran out without the advisory saying so, and the
   *   attempt fails as the advisory would have it.
   * - the item is gone (an agent acked it once its result was published), no result of it waits in
   *   the events stream above the coordinators' ack floor, and the ticket still waits on it at the
   *   same revision one check later: the result, or the write that applied it, was lost. The attempt
   *   is dispatched again under a new id.
   * An item the consumer has yet to deliver or holds is left alone.
   */
  /** Whether a result of dispatch `dispatchId` waits in the events stream to be applied. */
  async function resultPending(ticketId: string, role: Role, dispatchId: string): Promise<boolean> {
    let floor: number | undefined;
    for (const type of [StageCompleted.type, StageFailed.type]) {
      const stored = await bus.jsm.streams.getMessage(names.eventsStream, { last_by_subj: subjects.event(ticketId, role, type) }).catch(() => null);
      if (!stored || decodeEnvelope(stored.data, [StageCompleted, StageFailed]).causationId !== dispatchId) continue;
      floor ??= (await bus.jsm.consumers.info(names.eventsStream, names.coordinatorConsumer)).ack_floor.stream_seq;
      if (stored.seq > floor) return true;
    }
    return false;
  }

  async function reconcile(id: string, check: { dispatchId: string; goneAt?: number }): Promise<void> {
    const cur = await store.get(id);
    const t = cur?.ticket;
    if (!cur || !t?.work?.dispatchId || !isStage(t.state) || t.outbox.length > 0 || t.work.dispatchId !== check.dispatchId) return;
    const { stage, attempt } = t.work;
    const role = ROLE_OF_STAGE[stage];
    const subject = subjects.work(role, t.id);
    const stored = await bus.jsm.streams.getMessage(names.workStream, { last_by_subj: subject }).catch(() => null);
    const current = stored !== null && decodeEnvelope(stored.data, [WorkItem]).id === t.work.dispatchId;
    if (stored && current) {
      check.goneAt = undefined;
      const { ack_floor, config: consumer } = await bus.jsm.consumers.info(names.workStream, names.roleConsumer(role));
      if (stored.seq > ack_floor.stream_seq) return;
      const where = { ticketId: t.id, stage, attempt, role, seq: stored.seq, ackFloor: ack_floor.stream_seq };
      if (t.work.startedAt) {
        log.warn(where, 'started work passed over by its consumer: its deliveries ran out unannounced; failing the attempt');
        const deliveries = Math.max(0, consumer.max_deliver ?? 0);
        await failExhausted(stored.seq, stored.data, `work item passed over by its consumer after it started (its ${deliveries} deliveries ran out)`, deliveries);
        return;
      }
      if (!(await bus.jsm.streams.deleteMessage(names.workStream, stored.seq).catch(() => false))) return;
      // The item's trace context goes with it, so that its agent still continues the ticket's trace.
      const headers = traceHeaders(undefined, traceContextOf(stored.header));
      await bus.js.publish(subject, stored.data, { msgID: `${t.work.dispatchId}.requeued.${stored.seq}`, ...(headers && { headers }) });
      log.warn(where, 'dispatched work passed over by its consumer (lost in a leader change); queued again');
      return;
    }
    // Its result may be on its way: in the events stream, above the coordinators' ack floor.
    if (await resultPending(t.id, role, t.work.dispatchId)) {
      check.goneAt = undefined;
      return;
    }
    if (check.goneAt !== cur.revision) {
      check.goneAt = cur.revision;
      return;
    }
    const reason = `work item of ${stage} attempt ${attempt} is gone from the queue but its result never arrived (lost by the bus); dispatched again`;
    const next = await write(id, (x) => (x.work?.dispatchId === check.dispatchId ? redispatch(x, clock(), policy, reason) : null));
    if (next) {
      if (next.ticket.state === 'failed') log.error({ ticketId: t.id, stage, attempt, role, failure: next.ticket.failure }, 'work lost too often: the ticket failed');
      else log.warn({ ticketId: t.id, stage, attempt, role }, reason);
    }
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
          // A record whose head parses but whose whole does not: retrying cannot help, and the watch
          // brings the ticket back when it is written again.
          if (err instanceof z.ZodError) return log.error({ err, ticketId: id }, 'the ticket record does not parse; its timer is dropped until it is written again');
          log.warn({ err, ticketId: id }, 'timer failed; will retry');
          // The watch only re-indexes a ticket when it changes: keep the timer, or it is never retried.
          if (!wakeAt.has(id)) wakeAt.set(id, at);
        });
      }
      for (const [id, since] of [...unsentSince]) {
        if (abort.signal.aborted) return;
        if (now - since < OUTBOX_GRACE_MS) continue;
        unsentSince.delete(id);
        // An outbox left filled by an older coordinator: published and emptied in one write.
        await write(id, (t) => (t.outbox.length > 0 ? t : null)).catch((err: unknown) => {
          log.warn({ err, ticketId: id }, 'outbox publish failed; will retry');
          if (!unsentSince.has(id)) unsentSince.set(id, since);
        });
      }
      for (const [id, u] of [...unconfirmed]) {
        if (abort.signal.aborted) return;
        if (published.has(u.dispatchId)) {
          confirm(id, u.dispatchId, u.dispatchedAt);
          continue;
        }
        if (now - u.since < OUTBOX_GRACE_MS || (u.retryAt ?? 0) > now) continue;
        await ensurePublished(id, u.dispatchId).catch((err: unknown) => {
          const tries = (u.tries ?? 0) + 1;
          const waitMs = Math.min(config.NIGHTSHIFT_RETRY_BACKOFF * 2 ** (tries - 1), config.NIGHTSHIFT_RETRY_BACKOFF_MAX);
          Object.assign(u, { tries, retryAt: clock().getTime() + waitMs });
          if (tries === 1) log.warn({ err, ticketId: id }, 'could not check that a dispatch was published; will retry');
          else log.debug({ err, ticketId: id, tries, retryInMs: waitMs }, 'could not check that a dispatch was published, again; will retry');
        });
      }
      for (const [dispatchId, at] of published) if (Date.now() - at > PUBLISHED_MEMORY_MS) published.delete(dispatchId);
      for (const [id, check] of [...dispatched]) {
        if (abort.signal.aborted) return;
        if (check.at > now) continue;
        check.at = now + config.NIGHTSHIFT_LOST_WORK_CHECK;
        await reconcile(id, check).catch((err: unknown) => log.debug({ err, ticketId: id }, 'could not check dispatched work; will check again'));
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
      measureWorkPending((role) => bus.jsm.consumers.info(names.workStream, names.roleConsumer(role)));
      serve(subjects.ticketIntake, TICKET_INTAKE);
      serve(subjects.bugIntake, BUG_INTAKE);
      await bus.nc.flush();
      running.push(
        consumeLoop(names.eventsStream, handleEvent, (m) => subjects.parseEvent(m.subject)?.ticketId),
        // Advisories name a stream sequence, not a ticket: any order will do.
        consumeLoop(names.advisoriesStream, handleAdvisory, () => undefined),
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
