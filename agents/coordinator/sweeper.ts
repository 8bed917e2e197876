/**
 * The coordinator's sweeper: follows the head of every ticket (the ticket index) and, on every sweep,
 * fires the timers that are due, publishes outboxes older coordinators left filled, makes sure every
 * dispatch was published, and checks that dispatched work is still on its way. It reaches the rest of
 * the coordinator only through `SweeperDeps`: the writes it makes go through the coordinator's own
 * `write`/`advance`, so a sweep decides and publishes exactly as an event does.
 */
import { z } from 'zod';
import {
  decodeEnvelope,
  StageCompleted,
  StageFailed,
  traceContextOf,
  traceHeaders,
  WorkItem,
  type Bus,
  type StoredTicket,
  type TicketStore,
} from '../../bus/index.ts';
import { delay, isStage, ROLE_OF_STAGE, type Config, type Logger, type OutboxItem, type Role, type Ticket, type TicketHead } from '../../shared/index.ts';
import { ticketCensus } from '../../shared/metrics.ts';
import { nextWake, redispatch, type Policy } from './reducer.ts';

/**
 * How long a dispatch nobody has seen published may wait before any coordinator's sweeper checks the
 * work stream for it, and publishes it if it is not there.
 */
const OUTBOX_GRACE_MS = 2_000;
/** How long this coordinator remembers the dispatches it published itself. */
const PUBLISHED_MEMORY_MS = 600_000;

export interface SweeperDeps {
  bus: Bus;
  store: TicketStore;
  config: Config;
  policy: Policy;
  log: Logger;
  clock: () => Date;
  /** Ends the watch and the sweep loop. */
  signal: AbortSignal;
  /**
   * Dispatches this coordinator published, by id, with when (`Date.now()`): the coordinator adds to it
   * as it publishes, the sweeper reads it and forgets entries older than PUBLISHED_MEMORY_MS.
   */
  published: Map<string, number>;
  /** The coordinator's compare-and-set write, which publishes what the decision dispatched. */
  write(id: string, decide: (t: Ticket) => Ticket | null): Promise<StoredTicket | null>;
  /** Writes the ticket's timer decision (`tick`) at the clock's now. */
  advance(id: string): Promise<void>;
  /** Publishes one dispatch under its Msg-Id; resolves to whether the server found it a duplicate. */
  publishWork(t: Ticket, item: OutboxItem): Promise<boolean>;
  /** Fails the attempt of a work item whose deliveries ran out, and removes the item from the queue. */
  failExhausted(seq: number, data: Uint8Array, message: string, deliveries: number): Promise<void>;
}

export interface Sweeper {
  /** Follows every write of every ticket (heads only) into the index until `signal` aborts. */
  watch(): Promise<void>;
  /** Sweeps the index every NIGHTSHIFT_SWEEP_INTERVAL until `signal` aborts. */
  sweep(): Promise<void>;
}

/**
 * A ticket's dispatched work under watch: its dispatch, when to check it next, and the loss the last
 * check saw (at which ticket revision), which only a second sighting acts on.
 */
interface LossCheck {
  dispatchId: string;
  at: number;
  lossSeen?: { revision: number; loss: 'gone' | 'passed_over' };
}

export function createSweeper({ bus, store, config, policy, log, clock, signal, published, write, advance, publishWork, failExhausted }: SweeperDeps): Sweeper {
  const { subjects, names } = bus;

  /** When each ticket's next timer is due (`nextWake`). */
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
   * its way, and the loss the last check saw, if any.
   */
  const dispatched = new Map<string, LossCheck>();
  const census = ticketCensus();
  async function watchTickets(): Promise<void> {
    // Heads only: every coordinator follows every write of every ticket, and validating whole records
    // there cost each coordinator a full parse of every other coordinator's writes.
    for await (const t of store.watchHeads(signal)) index(t);
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
    // A lookup that fails (a leader election, a timeout) proves nothing: it throws, and the sweep checks again.
    const stored = await bus.jsm.streams.getMessage(names.workStream, { last_by_subj: subjects.work(role, id) });
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

  /** Whether a result of dispatch `dispatchId` waits in the events stream to be applied (throws when it cannot tell). */
  async function resultPending(ticketId: string, role: Role, dispatchId: string): Promise<boolean> {
    let floor: number | undefined;
    for (const type of [StageCompleted.type, StageFailed.type]) {
      const stored = await bus.jsm.streams.getMessage(names.eventsStream, { last_by_subj: subjects.event(ticketId, role, type) });
      if (!stored || decodeEnvelope(stored.data, [StageCompleted, StageFailed]).causationId !== dispatchId) continue;
      floor ??= (await bus.jsm.consumers.info(names.eventsStream, names.coordinatorConsumer)).ack_floor.stream_seq;
      if (stored.seq > floor) return true;
    }
    return false;
  }

  /**
   * Checks that a ticket's dispatched work is still on its way, and repairs what a JetStream cluster
   * can lose when its leaders change (nats-server 2.9 was seen doing each):
   * - the item is still queued (a work queue: items leave it when acked) but at or below its role
   *   consumer's ack floor, so the consumer counts it done and will never deliver it. Never started:
   *   it is deleted and queued again under a new Msg-Id (of several coordinators, only the one whose
   *   delete succeeds does). Started: its deliveries ran out without the advisory saying so, and the
   *   attempt fails as the advisory would have it.
   * - the item is gone (an agent acked it once its result was published), and the result, or the
   *   write that applied it, was lost. The attempt is dispatched again under a new id.
   * Either is acted on only when no result of the dispatch waits in the events stream above the
   * coordinators' ack floor, and when the same loss is seen on two checks at the same ticket revision:
   * an agent that has published its result and acked leaves, for a moment, its item in the stream
   * below the ack floor (the ack lands before the work queue's delete), or gone with its result not
   * yet in the events stream's view. An item the consumer has yet to deliver or holds is left alone.
   */
  async function reconcile(id: string, check: LossCheck): Promise<void> {
    const cur = await store.get(id);
    const t = cur?.ticket;
    if (!cur || !t?.work?.dispatchId || !isStage(t.state) || t.outbox.length > 0 || t.work.dispatchId !== check.dispatchId) return;
    const { stage, attempt, dispatchId } = t.work;
    const role = ROLE_OF_STAGE[stage];
    const subject = subjects.work(role, t.id);
    // Null only when there is no such message; a failed lookup throws rather than count as a loss.
    const stored = await bus.jsm.streams.getMessage(names.workStream, { last_by_subj: subject });
    const queued = stored !== null && decodeEnvelope(stored.data, [WorkItem]).id === dispatchId ? stored : undefined;
    let passedOver: { ackFloor: number; maxDeliver: number } | undefined;
    if (queued) {
      const { ack_floor, config: consumer } = await bus.jsm.consumers.info(names.workStream, names.roleConsumer(role));
      // Still to be delivered, or held by an agent: on its way.
      if (queued.seq > ack_floor.stream_seq) {
        check.lossSeen = undefined;
        return;
      }
      passedOver = { ackFloor: ack_floor.stream_seq, maxDeliver: Math.max(0, consumer.max_deliver ?? 0) };
    }
    // Its result may be on its way: in the events stream, above the coordinators' ack floor.
    if (await resultPending(t.id, role, dispatchId)) {
      check.lossSeen = undefined;
      return;
    }
    const loss = passedOver ? 'passed_over' : 'gone';
    if (check.lossSeen?.revision !== cur.revision || check.lossSeen.loss !== loss) {
      check.lossSeen = { revision: cur.revision, loss };
      return;
    }
    check.lossSeen = undefined;
    if (queued && passedOver) {
      const where = { ticketId: t.id, stage, attempt, role, seq: queued.seq, ackFloor: passedOver.ackFloor };
      if (t.work.startedAt) {
        log.warn(where, 'started work passed over by its consumer: its deliveries ran out unannounced; failing the attempt');
        const message = `work item passed over by its consumer after it started (its ${passedOver.maxDeliver} deliveries ran out)`;
        await failExhausted(queued.seq, queued.data, message, passedOver.maxDeliver);
        return;
      }
      if (!(await bus.jsm.streams.deleteMessage(names.workStream, queued.seq).catch(() => false))) return;
      // The item's trace context goes with it, so that its agent still continues the ticket's trace.
      const headers = traceHeaders(undefined, traceContextOf(queued.header));
      await bus.js.publish(subject, queued.data, { msgID: `${dispatchId}.requeued.${queued.seq}`, ...(headers && { headers }) });
      log.warn(where, 'dispatched work passed over by its consumer (lost in a leader change); queued again');
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
    while (!signal.aborted) {
      await delay(config.NIGHTSHIFT_SWEEP_INTERVAL, signal);
      const now = clock().getTime();
      for (const [id, at] of [...wakeAt]) {
        if (signal.aborted) return;
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
        if (signal.aborted) return;
        if (now - since < OUTBOX_GRACE_MS) continue;
        unsentSince.delete(id);
        // An outbox left filled by an older coordinator: published and emptied in one write.
        await write(id, (t) => (t.outbox.length > 0 ? t : null)).catch((err: unknown) => {
          log.warn({ err, ticketId: id }, 'outbox publish failed; will retry');
          if (!unsentSince.has(id)) unsentSince.set(id, since);
        });
      }
      for (const [id, u] of [...unconfirmed]) {
        if (signal.aborted) return;
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
        if (signal.aborted) return;
        if (check.at > now) continue;
        check.at = now + config.NIGHTSHIFT_LOST_WORK_CHECK;
        await reconcile(id, check).catch((err: unknown) => log.debug({ err, ticketId: id }, 'could not check dispatched work; will check again'));
      }
    }
  }

  return { watch: watchTickets, sweep: sweepLoop };
}
