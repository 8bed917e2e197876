import type { Consumer, JsMsg } from '@nats-io/jetstream';
import { millis } from '@nats-io/transport-node';
import {
  decodeEnvelope,
  followTicket,
  publishEvent,
  envelope,
  StageCompleted,
  StageFailed,
  StageStarted,
  StageUsage,
  TicketStore,
  traceContextOf,
  WorkItem,
  type Bus,
  type Envelope,
  type EnvelopeMeta,
  type Message,
  type StageOutcome,
  type WorkItemData,
} from '../../bus/index.ts';
import { delay, describeError, untilSettledOrAborted, inSpan, markError, parentIn, SpanKind, sumUsage, type Config, type Logger, type Role, type RoleUsage, type Span } from '../../shared/index.ts';
import { startStage, type StageEnd } from '../../shared/metrics.ts';
import { movedOn, startFence, type Fence, type FencedWork } from './fence.ts';

/** What a handler is told besides its work item. */
export interface HandlerContext {
  role: Role;
  /** The id of this dispatch (the work item's message id): the same on every redelivery, new on every dispatch. */
  workId: string;
  /** 1 on the first delivery of this work item, 2 on the first redelivery, and so on. */
  deliveries: number;
  /**
   * Aborted when the process must hand the work back (shutdown past its grace period), or when the
   * ticket moved on (cancelled, finished, or dispatched anew): the model client and the sandbox take
   * it, so a fenced-off attempt stops spending at once.
   */
  signal: AbortSignal;
  log: Logger;
  /**
   * Registers how to read the model tokens this attempt spent; the runtime reports them with the
   * result, success or failure, so they count on the ticket whatever happens.
   */
  trackUsage(read: () => RoleUsage): void;
}

/**
 * An agent role's work: one stage attempt of one ticket in, an outcome out. Throw an AgentError
 * with `retryable` to say whether a later delivery may succeed; anything else thrown counts as
 * retryable.
 */
export type AgentHandler = (work: WorkItemData, ctx: HandlerContext) => Promise<StageOutcome>;

export interface AgentRuntimeDeps {
  bus: Bus;
  role: Role;
  handler: AgentHandler;
  config: Config;
  log: Logger;
}

export interface AgentRuntime {
  /** Binds the role's durable consumer and starts taking work. */
  start(): Promise<void>;
  /**
   * Stops taking work; lets the item in hand finish within the shutdown grace, else aborts it and
   * hands it back for redelivery at once. Resolves when the loop has ended.
   */
  stop(): Promise<void>;
}

/**
 * The runtime every agent role shares: it pulls one work item at a time from the role's durable
 * consumer (shared by all replicas), through a long-lived pull that asks for exactly one item,
 * keeps it alive with in-progress acks while the handler works, reports the outcome as an event,
 * and only then acks. A retryable failure is retried later with
 * exponential backoff; a fatal one, or the last allowed delivery, is reported and terminated. A
 * process killed mid-work loses nothing: the server redelivers the item after the ack wait.
 *
 * Work is fenced by the ticket's state: before the handler runs, an item whose ticket has moved on
 * (terminal, or no longer at this dispatch) is acked and dropped without a model call; while it runs,
 * following the ticket's record (fence.ts) aborts the handler the moment the ticket moves on, and the item is acked
 * without a result (the tokens spent are still reported). An item still running after STARTED_GRACE_MS
 * reports `stage.started`, from which the coordinator runs the stage's deadline.
 */
export function createAgentRuntime({ bus, role, handler, config, log }: AgentRuntimeDeps): AgentRuntime {
  const stopping = new AbortController();
  const handBack = new AbortController();
  let loop: Promise<void> | undefined;
  let tickets: TicketStore;
  let ackWaitMs = config.NIGHTSHIFT_ACK_WAIT;
  let maxDeliver = config.NIGHTSHIFT_MAX_DELIVER;

  async function handleItem(m: JsMsg): Promise<void> {
    let item: Message<typeof WorkItem>;
    try {
      item = decodeEnvelope(m.data, [WorkItem]);
    } catch (err) {
      log.error({ err, subject: m.subject }, 'invalid work item: terminated');
      // No reason text: nats-server 2.9 ignores a +TERM that carries one, and redelivers.
      m.term();
      return;
    }
    const { stage, attempt, ticket } = item.data;
    const deliveries = m.info.deliveryCount;
    const itemLog = log.child({ ticketId: ticket.id, stage, attempt, correlationId: item.correlationId });
    const fenced: FencedWork = { dispatchId: item.id, ticketId: ticket.id, stage, attempt, publishedAt: item.ts };
    // Followed first, read second: a change between the two is seen by one or the other.
    const fence = await startFence(
      { follow: (signal) => followTicket(bus, ticket.id, signal), read: () => tickets.getHead(ticket.id) },
      fenced,
      itemLog,
    );
    const { stale, traceparent } = await staleBeforeStart(fenced, itemLog);
    if (stale) {
      fence.stop();
      itemLog.info({ deliveries, reason: stale }, 'work dropped before it started: the ticket moved on');
      await m.ackAck().catch((err: unknown) => itemLog.warn({ err }, 'could not ack dropped work; it will come back and be dropped again'));
      return;
    }
    // The ticket's trace goes on in a `stage <role>` span: under the dispatch that sent the item (its
    // headers), else (an item from a coordinator that did not trace) under the ticket's own root.
    const sent = traceContextOf(m.headers);
    const attributes = {
      'nightshift.ticket.id': ticket.id,
      'nightshift.role': role,
      'nightshift.stage': stage,
      'nightshift.attempt': attempt,
      'nightshift.deliveries': deliveries,
      'messaging.system': 'nats',
      'messaging.operation.type': 'process',
      'messaging.message.id': item.id,
    };
    await inSpan(`stage ${role}`, { kind: SpanKind.CONSUMER, parent: parentIn(traceparent, sent), attributes }, (span) => work(m, item, deliveries, fenced, fence, itemLog, span));
  }

  /** One started delivery of a work item, in its stage span. */
  async function work(m: JsMsg, item: Message<typeof WorkItem>, deliveries: number, fenced: FencedWork, fence: Fence, itemLog: Logger, span: Span): Promise<void> {
    const { stage, attempt, ticket } = item.data;
    const heartbeat = setInterval(() => m.working(), Math.max(100, Math.floor(ackWaitMs / 3)));
    const stopHeartbeat = () => clearInterval(heartbeat);
    handBack.signal.addEventListener('abort', stopHeartbeat, { once: true });
    const meta = { source: `agent:${role}`, correlationId: ticket.id, causationId: item.id };
    itemLog.info({ deliveries }, 'work started');
    const timed = startStage(stage, deliveries);
    const ended = (end: StageEnd) => {
      span.setAttribute('nightshift.stage.end', end);
      timed(end);
    };
    // The start is reported only once the attempt has run STARTED_GRACE_MS (with when it started, so
    // the stage deadline is exact): an attempt that ends sooner reports its result alone, and the
    // coordinator spends no write on a start it would learn of together with the end. Not waited for:
    // the result, published later on the same connection, lands after it in the events stream.
    const startedAt = new Date().toISOString();
    const startedTimer = setTimeout(() => void reportStarted(item.id, fenced, deliveries, startedAt, meta, itemLog), STARTED_GRACE_MS);
    const signal = AbortSignal.any([handBack.signal, fence.signal]);
    /** Acks work whose ticket moved on while it ran: no result is reported, only the tokens spent. */
    const dropFenced = async () => {
      await reportSpent('fenced off');
      await m.ackAck().catch((err: unknown) => itemLog.warn({ err }, 'could not ack fenced-off work; it will come back and be dropped'));
      itemLog.info({ deliveries, reason: fence.reason }, 'work aborted: the ticket moved on');
    };
    const readers: (() => RoleUsage)[] = [];
    const usage = (): { usage?: RoleUsage } => (readers.length === 0 ? {} : { usage: sumUsage(...readers.map((r) => r())) });
    /** Reports the tokens of a delivery that ends without a result, so that they count on the ticket. */
    const reportSpent = async (why: string) => {
      const spent = usage().usage;
      if (!spent || spent.totalTokens === 0) return;
      const ev = envelope(StageUsage, { ticketId: ticket.id, stage, attempt, usage: spent, deliveries }, { ...meta, id: `${item.id}.usage.${deliveries}` });
      await publishEvent(bus, role, ticket.id, ev)
        .catch((err: unknown) => itemLog.warn({ err, usage: spent }, `could not report the tokens of a delivery ${why}`));
    };
    try {
      // The fence guards the handler's work only: once it has settled, the ticket moving on (say, on
      // this very result) must not abort a signal the handler was given.
      const outcome = await Promise.resolve(
        handler(item.data, {
          role,
          workId: item.id,
          deliveries,
          signal,
          log: itemLog,
          trackUsage: (read) => readers.push(read),
        }),
      ).finally(() => {
        clearTimeout(startedTimer);
        fence.stop();
      });
      ended(handBack.signal.aborted ? 'handed_back' : fence.signal.aborted ? 'fenced' : 'completed');
      if (handBack.signal.aborted) return reportSpent('handed back');
      if (fence.signal.aborted) return dropFenced();
      const ev = envelope(StageCompleted, { ticketId: ticket.id, stage, attempt, outcome, ...usage() }, { ...meta, id: `${item.id}.completed` });
      // The work is done: a bus that cannot take its result now (a cluster electing leaders) is waited
      // for, never a reason to do the work again or to count a failed delivery.
      if (!(await reportSurely(ev, 'the result', itemLog))) return;
      // Not waited for: the result is on the bus, and an ack the server never got only brings the item
      // back, to be dropped (the ticket moved on). The next pull leaves after it on the same connection.
      m.ack();
      span.setAttribute('nightshift.outcome', outcome.kind);
      itemLog.info({ outcome: outcome.kind }, 'work completed');
    } catch (err) {
      markError(span, err);
      ended(handBack.signal.aborted ? 'handed_back' : fence.signal.aborted ? 'fenced' : describeError(err).retryable && deliveries < maxDeliver ? 'retried' : 'failed');
      if (handBack.signal.aborted) return reportSpent('handed back');
      if (fence.signal.aborted) return dropFenced();
      const error = describeError(err);
      if (error.retryable && deliveries < maxDeliver) {
        const backoff = Math.min(
          config.NIGHTSHIFT_RETRY_BACKOFF * 2 ** (deliveries - 1),
          config.NIGHTSHIFT_RETRY_BACKOFF_MAX,
        );
        itemLog.warn({ err, deliveries, retryInMs: backoff }, 'work failed; will retry');
        await reportSpent('that will be retried');
        m.nak(backoff);
        return;
      }
      itemLog.error({ err, deliveries, retryable: error.retryable }, 'work failed for good');
      const ev = envelope(
        StageFailed,
        { ticketId: ticket.id, stage, attempt, error: { ...error, message: error.message.slice(0, 4_000) }, deliveries, ...usage() },
        { ...meta, id: `${item.id}.failed` },
      );
      if (await reportSurely(ev, 'the failure', itemLog)) m.term();
    } finally {
      clearTimeout(startedTimer);
      fence.stop();
      stopHeartbeat();
      handBack.signal.removeEventListener('abort', stopHeartbeat);
    }
  }

  /**
   * Why the item should not start, or null, and the ticket's traceparent. A ticket that cannot be read does not stop the work
   * (fail open): the fence only saves cost, the coordinator refuses a stale result anyway.
   */
  async function staleBeforeStart(w: FencedWork, itemLog: Logger): Promise<{ stale: string | null; traceparent?: string }> {
    try {
      const t = await tickets.getHead(w.ticketId);
      return { stale: movedOn(t, w), ...(t?.traceparent && { traceparent: t.traceparent }) };
    } catch (err) {
      itemLog.warn({ err }, 'could not read the ticket before starting; working unfenced');
      return { stale: null };
    }
  }

  /**
   * Publishes a stage's result (or failure) until the bus takes it, with backoff; the item's
   * in-progress acks keep it ours meanwhile. Gives up only when the work must be handed back
   * (shutdown past its grace): false, and the loop hands the item back for redelivery. The event's
   * id de-duplicates a result published twice.
   */
  async function reportSurely(ev: Envelope<{ ticketId: string }>, what: string, itemLog: Logger): Promise<boolean> {
    for (let tries = 1; ; tries++) {
      try {
        await publishEvent(bus, role, ev.data.ticketId, ev);
        if (tries > 1) itemLog.info({ tries }, `reported ${what} once the bus took it`);
        return true;
      } catch (err) {
        if (handBack.signal.aborted) {
          itemLog.warn({ err, tries }, `could not report ${what} before the shutdown grace ended; the work is handed back`);
          return false;
        }
        if (tries === 1) itemLog.warn({ err }, `could not report ${what}; retrying until the bus takes it`);
        else itemLog.debug({ err, tries }, `could not report ${what}; retrying`);
        await delay(Math.min(config.NIGHTSHIFT_RETRY_BACKOFF * 2 ** (tries - 1), config.NIGHTSHIFT_RETRY_BACKOFF_MAX), handBack.signal);
      }
    }
  }

  /** Tells the coordinator the attempt started, so its stage deadline runs from now. */
  async function reportStarted(dispatchId: string, w: FencedWork, deliveries: number, startedAt: string, meta: EnvelopeMeta, itemLog: Logger): Promise<void> {
    const ev = envelope(
      StageStarted,
      { ticketId: w.ticketId, stage: w.stage, attempt: w.attempt, deliveries, startedAt },
      { ...meta, id: `${dispatchId}.started.${deliveries}` },
    );
    await publishEvent(bus, role, w.ticketId, ev).catch((err: unknown) => itemLog.warn({ err }, 'could not report the start; the queue timeout still bounds the attempt'));
  }

  /**
   * One work item, or null when the pull expired idle or the runtime is stopping. A pull for exactly
   * one message, so that a replica never holds work it is not doing; long-lived, with the server's
   * idle heartbeats telling a lost pull (a server restarted, the consumer gone) within two beats.
   * Stopping ends the pull at once.
   */
  async function nextItem(consumer: Consumer): Promise<JsMsg | null> {
    const pull = await consumer.fetch({ max_messages: 1, expires: PULL_EXPIRES_MS, idle_heartbeat: PULL_HEARTBEAT_MS });
    const end = () => pull.stop();
    stopping.signal.addEventListener('abort', end, { once: true });
    try {
      if (stopping.signal.aborted) pull.stop();
      for await (const m of pull) return m;
      return null;
    } finally {
      stopping.signal.removeEventListener('abort', end);
    }
  }

  async function run(consumer: Consumer): Promise<void> {
    let current: Consumer | undefined = consumer;
    while (!stopping.signal.aborted) {
      try {
        current ??= await bus.js.consumers.get(bus.names.workStream, bus.names.roleConsumer(role));
        const m = await nextItem(current);
        if (!m) continue;
        if (stopping.signal.aborted) {
          m.nak();
          break;
        }
        const work = handleItem(m);
        await untilSettledOrAborted(work, handBack.signal);
        if (handBack.signal.aborted) {
          m.nak();
          log.warn({ subject: m.subject }, 'shutdown grace over: work handed back');
          // A handler that ignores its abort signal must not hold the process: wait briefly, then go.
          await Promise.race([work.catch(() => undefined), delay(1_000)]);
          break;
        }
      } catch (err) {
        if (stopping.signal.aborted) break;
        current = undefined;
        log.debug({ err }, 'work consumer unavailable; retrying');
        await delay(500, stopping.signal);
      }
    }
  }

  return {
    async start() {
      tickets = new TicketStore(await bus.tickets());
      const consumer = await bus.js.consumers.get(bus.names.workStream, bus.names.roleConsumer(role));
      const info = await consumer.info();
      if (info.config.ack_wait) ackWaitMs = millis(info.config.ack_wait);
      const serverMax = info.config.max_deliver ?? -1;
      maxDeliver = serverMax > 0 ? serverMax : Number.POSITIVE_INFINITY;
      loop = run(consumer);
      log.info({ role, ackWaitMs, maxDeliver }, 'agent started');
    },
    async stop() {
      stopping.abort();
      const grace = setTimeout(() => handBack.abort(), config.NIGHTSHIFT_SHUTDOWN_GRACE);
      await loop;
      clearTimeout(grace);
      log.info({ role }, 'agent stopped');
    },
  };
}

/**
 * How long an attempt runs before its start is reported (`stage.started`, from which the coordinator
 * runs the stage deadline). A quarter second against stage timeouts of minutes; an attempt that ends
 * sooner needs no deadline.
 */
const STARTED_GRACE_MS = 250;

/**
 * How long an idle pull waits for work before it is renewed. Long, so that idle replicas cost the
 * server and themselves next to nothing; a stop ends the pull at once whatever its length.
 */
const PULL_EXPIRES_MS = 30_000;
/** How often the server tells an idle pull that it is still there: two missed beats end the pull. */
const PULL_HEARTBEAT_MS = 5_000;
