import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import {
  publishEvent,
  envelope,
  EscalationStore,
  HumanAnswered,
  isNoResponders,
  requestIntake,
  TicketStore,
  type Bus,
  type Escalation,
  type PostedMessage,
  type StoredEscalation,
} from '../../bus/index.ts';
import { budgetProblem, ConflictError, describeError, type IntakeReply, type Logger, type Question, type RepoRef, type Ticket } from '../../shared/index.ts';
import { createTicketSteps } from '../kit/ticket-steps.ts';
import { bugReportOf, replyAnswer, slackActor, type Inbound, type ReportInbound } from './payloads.ts';
import {
  answerText,
  escalationMessage,
  noCoordinatorText,
  outcomeOf,
  refusedText,
  reminderText,
  reportedText,
  resolvedMessage,
  unreachableText,
  type SlackMessage,
} from './render.ts';

/** Which parking an escalation message belongs to; carried in the message's metadata. */
export interface EscalationRef {
  ticketId: string;
  askedAt: string;
}

/**
 * Slack, as far as the gateway uses it: implemented over the Web API (`slack-api.ts`). Every method
 * throws when Slack refuses or cannot be reached.
 */
export interface SlackApi {
  /** Posts a message (a reply in a thread with `threadTs`, tagged as `escalation` when given). */
  post(channel: string, message: SlackMessage | { text: string }, opts?: { threadTs?: string; escalation?: EscalationRef }): Promise<PostedMessage>;
  /** Replaces a message's content; resolves false when the message is gone (deleted, channel archived). */
  update(at: PostedMessage, message: SlackMessage): Promise<boolean>;
  /** The escalation message for `ref` that this app posted in `channel` since `since`; null when there is none. */
  findEscalation(channel: string, since: Date, ref: EscalationRef): Promise<PostedMessage | null>;
}

export interface GatewaySettings {
  /** The channel id escalations are posted in. */
  channel: string;
  /** Interval of reminders in the thread; 0 for none. */
  remindEveryMs: number;
  /** Most reminders per escalation. */
  reminders: number;
  /** How often due timers (reminders, stale claims, retries) are looked at. */
  sweepIntervalMs: number;
  /** How long a replica's claim to post holds before another may take it over. */
  claimLeaseMs?: number;
  /** How soon a failed Slack call is tried again. */
  retryMs?: number;
  /** The triage channel: a person's new top-level message there is filed as a bug report. */
  triageChannel?: string | undefined;
  /** The repository the triage channel's reports are about (set with `triageChannel`). */
  triageRepo?: RepoRef | undefined;
  /** How long bug intake may take to answer a report. */
  intakeTimeoutMs?: number;
}

export interface GatewayDeps {
  bus: Bus;
  slack: SlackApi;
  settings: GatewaySettings;
  log: Logger;
  clock?: () => Date;
  /** This replica's name in claims and logs. */
  replica?: string;
}

/** What became of one inbound Slack payload. */
export type Handled =
  | { status: 'published'; ticketId: string; id: string; duplicate: boolean }
  | { status: 'reported'; ticketId: string; id: string; duplicate: boolean }
  | { status: 'refused'; code: string; id: string }
  | { status: 'ignored'; reason: string; ticketId?: string };

export interface SlackGateway {
  /** Follows the tickets: posts, reminds and resolves escalations. */
  start(): Promise<void>;
  /** Stops following and finishes the Slack calls in hand. */
  stop(): Promise<void>;
  /**
   * Turns a reply or a button click into the ticket's answer on the bus, and a message in the triage
   * channel into a bug report (answered in its thread). Throws when the bus could not take it, so that
   * Slack may send it again.
   */
  handle(inbound: Inbound): Promise<Handled>;
}

/** Default claim lease: far longer than one bounded post (3 attempts of at most 10 s). */
const CLAIM_LEASE_MS = 300_000;
const RETRY_MS = 30_000;
/** Default bound on bug intake's answer to a report. */
const INTAKE_TIMEOUT_MS = 10_000;
/** Clock skew allowed between replicas and Slack when searching for a message posted since a claim. */
const SKEW_MS = 300_000;

/**
 * The Slack gateway's logic, independent of how Slack's requests arrive (Socket Mode or HTTP).
 *
 * One message per parking, whatever the number of replicas and restarts: before posting, a replica
 * claims the escalation with a KV create (or a compare-and-set update for a later parking of the same
 * ticket); only the winner posts, then records the message with compare-and-set. A claimant that dies
 * between posting and recording leaves a claim that expires after `claimLeaseMs`; whoever takes it over
 * first searches the channel for a message carrying the escalation's metadata and adopts it, and posts
 * only when there is none. Resolving updates the message (idempotent) before recording it; a reminder
 * is recorded before it is posted, so a crash loses at most one reminder and never sends one twice.
 */
export function createSlackGateway({
  bus,
  slack,
  settings,
  log,
  clock = () => new Date(),
  replica = `${hostname()}-${randomUUID().slice(0, 8)}`,
}: GatewayDeps): SlackGateway {
  const lease = settings.claimLeaseMs ?? CLAIM_LEASE_MS;
  const retryMs = settings.retryMs ?? RETRY_MS;
  const abort = new AbortController();
  const running: Promise<void>[] = [];
  let tickets: TicketStore;
  let escalations: EscalationStore;
  /** Thread replies (to reports, to replies not taken) on their way to Slack (not awaited by `handle`: Slack wants a quick ack). */
  const replies = new Set<Promise<void>>();

  const now = () => clock().getTime();
  const iso = (ms: number) => new Date(ms).toISOString();
  const refOf = (e: Escalation): EscalationRef => ({ ticketId: e.ticketId, askedAt: e.askedAt });
  const searchSince = (e: Escalation) => new Date(Date.parse(e.askedAt) - SKEW_MS);

  const steps = createTicketSteps({
    step: async (id) => {
      const state = await reconcile(id);
      log.debug({ ticketId: id, ticketState: state, replica }, 'escalation step');
    },
    sweepIntervalMs: settings.sweepIntervalMs,
    retryMs,
    signal: abort.signal,
    log,
    what: 'escalation',
    now,
  });

  /** Looks at the ticket again at `at`; null: nothing is due. */
  function wake(id: string, at: number | null): void {
    if (at !== null) steps.wake(id, at);
  }

  /** Brings the ticket's escalation in line with the ticket: post, remind, or resolve. Returns the ticket's state. */
  async function reconcile(id: string): Promise<Ticket['state'] | null> {
    const t = (await tickets.get(id))?.ticket;
    if (!t) return null;
    await act(t);
    return t.state;
  }

  async function act(t: Ticket): Promise<void> {
    const id = t.id;
    let cur = await escalations.get(id);
    const parked = t.state === 'awaiting_human' && t.parked ? t.parked : null;
    if (!parked) {
      if (cur && cur.escalation.state !== 'resolved') await resolve(cur, t);
      return;
    }
    if (!cur) {
      const e = claim(t, parked);
      const revision = await escalations.create(e);
      if (revision === null) throw new ConflictError(`escalation of ${id} created concurrently`);
      return post(e, revision);
    }
    const e = cur.escalation;
    if (e.askedAt !== parked.askedAt) {
      if (Date.parse(e.askedAt) > Date.parse(parked.askedAt)) return;
      // A later parking of the same ticket: finish the earlier escalation, then claim this one.
      if (e.state !== 'resolved') {
        const resolved = await resolve(cur, t);
        if (!resolved) return;
        cur = resolved;
      }
      const next = claim(t, parked);
      return post(next, await escalations.update(next, cur.revision));
    }
    switch (e.state) {
      case 'claimed': {
        if (Date.parse(e.claimedUntil) > now()) {
          wake(id, Date.parse(e.claimedUntil));
          return;
        }
        const next: Escalation = { ...e, owner: replica, claimedUntil: iso(now() + lease), claims: e.claims + 1, updatedAt: iso(now()) };
        const revision = await escalations.update(next, cur.revision);
        log.warn({ ticketId: id, previousOwner: e.owner, claims: next.claims }, 'took over an expired claim to post an escalation');
        return post(next, revision);
      }
      case 'posted':
        return remind(cur);
      case 'resolved':
        return;
    }
  }

  function claim(t: Ticket, parked: NonNullable<Ticket['parked']>): Escalation {
    return {
      ticketId: t.id,
      askedAt: parked.askedAt,
      title: t.title,
      questions: parked.questions,
      deadline: parked.deadline,
      state: 'claimed',
      owner: replica,
      claimedUntil: iso(now() + lease),
      claims: 1,
      message: null,
      postedAt: null,
      reminders: 0,
      outcome: null,
      updatedAt: iso(now()),
    };
  }

  /** Posts the claimed escalation (or adopts the message an earlier claimant posted), then records it. */
  async function post(e: Escalation, revision: number): Promise<void> {
    let at: PostedMessage | null = null;
    try {
      if (e.claims > 1) {
        at = await slack.findEscalation(settings.channel, searchSince(e), refOf(e));
        if (at) log.info({ ticketId: e.ticketId, message: at }, 'adopted the escalation message an earlier claimant posted');
      }
      at ??= await slack.post(settings.channel, escalationMessage(e), { escalation: refOf(e) });
    } catch (err) {
      // Whether or not Slack took the message, the next attempt searches for it first (claims > 1).
      const retryAt = now() + retryMs;
      log.error({ err, ticketId: e.ticketId, retryAt: iso(retryAt) }, 'posting the escalation failed; will retry');
      await escalations.update({ ...e, claimedUntil: iso(retryAt), updatedAt: iso(now()) }, revision).catch(() => undefined);
      wake(e.ticketId, retryAt);
      return;
    }
    await escalations.indexThread(at, refOf(e));
    const posted: Escalation = { ...e, state: 'posted', message: at, postedAt: iso(now()), updatedAt: iso(now()) };
    try {
      await escalations.update(posted, revision);
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      await attach(e, at);
      return;
    }
    log.info({ ticketId: e.ticketId, askedAt: e.askedAt, message: at, replica }, 'escalation posted');
    wake(e.ticketId, reminderDue(posted));
  }

  /**
   * Our claim was taken over while we posted (we were slower than the lease). Give the record our
   * message if the new claimant found none, so that it is the one updated when the escalation ends.
   */
  async function attach(e: Escalation, at: PostedMessage): Promise<void> {
    const cur = await escalations.get(e.ticketId);
    const other = cur?.escalation;
    if (!cur || !other || other.askedAt !== e.askedAt || other.message) {
      log.warn({ ticketId: e.ticketId, message: at, recorded: other?.message ?? null }, 'lost the claim while posting; this message is not recorded');
      return;
    }
    if (other.state === 'claimed') {
      await escalations.update({ ...other, state: 'posted', message: at, postedAt: iso(now()), updatedAt: iso(now()) }, cur.revision);
      return;
    }
    // Resolved without a message meanwhile: show the outcome on ours too.
    const t = (await tickets.get(e.ticketId))?.ticket;
    if (t) await slack.update(at, resolvedMessage(other, outcomeOf(t, other.askedAt)));
    await escalations.update({ ...other, message: at, updatedAt: iso(now()) }, cur.revision);
  }

  function reminderDue(e: Escalation): number | null {
    if (settings.remindEveryMs <= 0 || e.reminders >= settings.reminders || !e.postedAt || !e.message) return null;
    const at = Date.parse(e.postedAt) + (e.reminders + 1) * settings.remindEveryMs;
    return at < Date.parse(e.deadline) ? at : null;
  }

  async function remind({ escalation: e, revision }: StoredEscalation): Promise<void> {
    const due = reminderDue(e);
    if (due === null) return;
    if (due > now()) {
      wake(e.ticketId, due);
      return;
    }
    const next: Escalation = { ...e, reminders: e.reminders + 1, updatedAt: iso(now()) };
    await escalations.update(next, revision);
    const at = e.message!;
    try {
      await slack.post(at.channel, { text: reminderText(e, next.reminders, settings.reminders) }, { threadTs: at.ts });
      log.info({ ticketId: e.ticketId, reminder: next.reminders }, 'escalation reminder sent');
    } catch (err) {
      log.warn({ err, ticketId: e.ticketId, reminder: next.reminders }, 'escalation reminder not sent');
    }
    wake(e.ticketId, reminderDue(next));
  }

  /**
   * Shows how the escalation ended on its message and records it resolved. Returns the new record, or
   * null when another replica still holds a live claim (it will see the change once it has posted).
   */
  async function resolve({ escalation: e, revision }: StoredEscalation, t: Ticket): Promise<StoredEscalation | null> {
    let at = e.message;
    if (e.state === 'claimed') {
      if (Date.parse(e.claimedUntil) > now()) {
        wake(e.ticketId, Date.parse(e.claimedUntil));
        return null;
      }
      at = await slack.findEscalation(settings.channel, searchSince(e), refOf(e));
    }
    const outcome = outcomeOf(t, e.askedAt);
    if (at && !(await slack.update(at, resolvedMessage(e, outcome)))) {
      log.warn({ ticketId: e.ticketId, message: at }, 'the escalation message is gone; recording the outcome without it');
    }
    const next: Escalation = { ...e, state: 'resolved', message: at, outcome: outcome.kind, updatedAt: iso(now()) };
    const rev = await escalations.update(next, revision);
    log.info({ ticketId: e.ticketId, askedAt: e.askedAt, outcome: outcome.kind, message: at }, 'escalation resolved');
    return { escalation: next, revision: rev };
  }

  // ---- answers from Slack ---------------------------------------------------------------------

  async function handle(inbound: Inbound): Promise<Handled> {
    if (inbound.kind === 'report') return report(inbound);
    if (inbound.kind === 'reply') {
      const ref = await escalations.thread({ channel: inbound.channel, ts: inbound.threadTs });
      if (!ref) return { status: 'ignored', reason: 'a reply in a thread that is not an escalation' };
      const text = inbound.text.trim();
      if (text === '') return { status: 'ignored', reason: 'an empty reply', ticketId: ref.ticketId };
      const given = replyAnswer(text);
      const thread = { channel: inbound.channel, ts: inbound.threadTs };
      if (!given.ok) return refuseInThread(thread, ref.ticketId, `Not taken: ${given.message}. Reply \`budget: <tokens>\` to raise this ticket's budget.`);
      return answer(ref, inbound.user, inbound.id, () => given.text, given.budget, thread);
    }
    const { value } = inbound;
    const e = (await escalations.get(value.t))?.escalation;
    const m = e?.message;
    if (!e || e.askedAt !== value.a || m?.channel !== inbound.channel || m.ts !== inbound.messageTs) {
      return { status: 'ignored', reason: 'a button that is not on the current escalation message', ticketId: value.t };
    }
    return answer(refOf(e), inbound.user, inbound.id, (questions) => answerText(questions, value.q, value.o));
  }

  async function answer(
    ref: EscalationRef,
    user: string,
    id: string,
    textOf: (questions: Question[]) => string | null,
    budget?: number,
    thread?: { channel: string; ts: string },
  ): Promise<Handled> {
    const { ticketId } = ref;
    const t = (await tickets.get(ticketId))?.ticket;
    if (!t || t.state !== 'awaiting_human' || t.parked?.askedAt !== ref.askedAt) {
      return { status: 'ignored', reason: `ticket is ${t?.state ?? 'gone'}, not waiting for this answer`, ticketId };
    }
    const text = textOf(t.parked.questions);
    if (text === null) return { status: 'ignored', reason: 'no such option', ticketId };
    if (text.length > 20_000) return { status: 'ignored', reason: 'an answer over 20000 characters', ticketId };
    const problem = budget === undefined ? null : budgetProblem(budget, t.usage);
    if (problem !== null) {
      return thread ? refuseInThread(thread, ticketId, `Not taken: ${problem}. Reply \`budget: <tokens>\` with a larger budget.`) : { status: 'ignored', reason: problem, ticketId };
    }
    const by = slackActor(user);
    const msg = envelope(HumanAnswered, { ticketId, text, by, ...(budget !== undefined && { budget }) }, { id, source: 'slack', correlationId: ticketId });
    const ack = await publishEvent(bus, 'slack', ticketId, msg);
    log.info({ ticketId, by, id, duplicate: ack.duplicate, budget }, 'answer from slack published');
    return { status: 'published', ticketId, id, duplicate: ack.duplicate };
  }

  /** A reply that cannot be taken as it is (an unusable budget): the thread says why; nothing is published. */
  function refuseInThread(thread: { channel: string; ts: string }, ticketId: string, text: string): Handled {
    track(
      slack.post(thread.channel, { text }, { threadTs: thread.ts }).then(
        () => log.info({ ticketId, thread }, 'told the thread why a reply was not taken'),
        (err: unknown) => log.error({ err, ticketId, thread }, 'could not tell the thread why a reply was not taken'),
      ),
    );
    return { status: 'ignored', reason: text, ticketId };
  }

  function track(sent: Promise<void>): void {
    replies.add(sent);
    void sent.finally(() => replies.delete(sent));
  }

  // ---- bug reports from the triage channel ----------------------------------------------------

  /**
   * Files a message from the triage channel with bug intake and answers in its thread: the ticket, the
   * refusal, or why it could not be filed. The external id names the Slack message, so a delivery
   * Slack repeats is the same ticket (answered "already reported"). When intake cannot be asked or does
   * not answer, the thread says so and this throws, so that over HTTP Slack sends the event again.
   */
  async function report(m: ReportInbound): Promise<Handled> {
    const repo = settings.triageRepo;
    if (!repo || m.channel !== settings.triageChannel) return { status: 'ignored', reason: 'a message outside the triage channel' };
    const payload = bugReportOf(m, repo);
    const subject = bus.subjects.bugIntake;
    const at = { id: m.id, channel: m.channel, ts: m.ts, externalId: payload.externalId };
    let reply: IntakeReply;
    try {
      reply = await requestIntake(bus, subject, payload, settings.intakeTimeoutMs ?? INTAKE_TIMEOUT_MS);
    } catch (err) {
      if (isNoResponders(err)) {
        log.error({ ...at, subject }, 'no coordinator serves bug intake: the report from slack is not filed');
        answerInThread(m, noCoordinatorText(subject));
      } else {
        log.error({ ...at, err, subject }, 'the report from slack could not be handed to bug intake');
        answerInThread(m, unreachableText(describeError(err).message));
      }
      throw err;
    }
    if (!reply.ok) {
      log.warn({ ...at, code: reply.error.code, issues: reply.error.issues }, 'bug intake refused the report from slack');
      answerInThread(m, refusedText(reply.error));
      return { status: 'refused', code: reply.error.code, id: m.id };
    }
    log.info({ ...at, ticketId: reply.id, duplicate: reply.duplicate, by: payload.reporter }, 'bug report from slack filed');
    answerInThread(m, reportedText(reply.id, reply.duplicate, settings.channel));
    return { status: 'reported', ticketId: reply.id, id: m.id, duplicate: reply.duplicate };
  }

  function answerInThread(m: ReportInbound, text: string): void {
    track(
      slack.post(m.channel, { text }, { threadTs: m.ts }).then(
        () => log.debug({ id: m.id, channel: m.channel, ts: m.ts }, 'answered a report in its thread'),
        (err: unknown) => log.error({ err, id: m.id, channel: m.channel, ts: m.ts, text }, 'could not answer a report in its thread'),
      ),
    );
  }

  // ---- loops ----------------------------------------------------------------------------------

  async function watchTickets(): Promise<void> {
    for await (const t of tickets.watch(abort.signal)) {
      if (t.state === 'awaiting_human' || t.timeline.some((e) => e.to === 'awaiting_human')) steps.enqueue(t.id);
    }
  }

  return {
    async start() {
      tickets = new TicketStore(await bus.tickets());
      escalations = await EscalationStore.open(bus);
      running.push(watchTickets(), steps.sweep());
      log.info({ channel: settings.channel, triageChannel: settings.triageChannel, replica }, 'slack gateway following tickets');
    },
    async stop() {
      abort.abort();
      await Promise.allSettled(running);
      await steps.drain();
      await Promise.allSettled([...replies]);
    },
    handle,
  };
}
