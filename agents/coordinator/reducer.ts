/**
 * The coordinator's state machine, whole: every event (`applyEvent`) and every timer (`tick`) turned
 * into the ticket's next record, with the few moves they all share (dispatch, park, fail, moveTo,
 * ignore) and the bookkeeping those moves keep (timeline, applied ids, outbox). One file because it is
 * one transition table: split by event, each part would reach back into the same moves, and the
 * invariants reducer.test.ts checks over any sequence of events and ticks are those of the whole.
 */
import {
  budgetProblem,
  canTransition,
  isStage,
  isTerminal,
  NEXT_AFTER,
  type BugDetails,
  ROLE_OF_STAGE,
  sumUsage,
  type IntakeRequest,
  type OutboxItem,
  type Question,
  type Stage as StageName,
  type State as StateName,
  type Ticket,
  type TicketHead,
  type TimelineEntry,
} from '../../shared/index.ts';
import { PR_FEEDBACK, PrFeedback, type PrComment } from '../../bus/index.ts';
import type { CoordinatorEvent } from './events.ts';

/**
 * The coordinator's decisions, as pure functions from (ticket, event, now) to the next ticket record.
 * The caller writes the result with compare-and-set and publishes its outbox; nothing here does I/O.
 */
export interface Policy {
  /** Bound on one stage attempt once an agent has started it (from its `stage.started`). */
  stageTimeoutMs(stage: StageName): number;
  /** Bound on the wait between a dispatch and an agent starting it. */
  queueTimeoutMs: number;
  /** Attempts of one stage (first dispatch included) before the ticket fails. */
  stageAttempts: number;
  humanTimeoutMs: number;
}

/** How many applied message ids a ticket remembers, to recognise redeliveries. */
const APPLIED_MEMORY = 200;

export const COORDINATOR = 'coordinator';

/** A new ticket in `received`, as intake stores it; `report` holds a bug report's details. */
export function newTicket(id: string, req: IntakeRequest, now: Date, by: string, report?: BugDetails): Ticket {
  const at = now.toISOString();
  return {
    id,
    v: 1,
    title: req.title,
    body: req.body,
    type: req.type,
    repo: req.repo,
    ...(req.externalId !== undefined && { externalId: req.externalId }),
    ...(req.requester !== undefined && { requester: req.requester }),
    labels: req.labels,
    ...(report !== undefined && { report }),
    state: 'received',
    work: null,
    parked: null,
    answers: [],
    artifacts: {},
    usage: {},
    failure: null,
    outbox: [],
    applied: [],
    timeline: [{ at, by, event: 'received', to: 'received' }],
    createdAt: at,
    updatedAt: at,
  };
}

/** The result of a decision: the next record, or `null` when nothing changes. */
export type Decision = Ticket | null;

/** Applies one bus event. Redeliveries (same message id) change nothing. */
export function applyEvent(t: Ticket, ev: CoordinatorEvent, now: Date, policy: Policy): Decision {
  if (t.applied.includes(ev.id)) return null;
  // A start that is not the current dispatch's is routine (it races the result, or the ticket moved
  // on): nothing to record, and applying it again changes nothing either.
  if (ev.type === 'stage.started' && !startsCurrent(t, ev)) return null;
  return remember(decide(countUsage(t, ev), ev, now, policy), ev.id);
}

/** Tokens reported with a result count whatever becomes of the result: they were spent. */
function countUsage(t: Ticket, ev: CoordinatorEvent): Ticket {
  if ((ev.type !== 'stage.completed' && ev.type !== 'stage.failed' && ev.type !== 'stage.usage') || !ev.data.usage) return t;
  const role = ROLE_OF_STAGE[ev.data.stage];
  return { ...t, usage: { ...t.usage, [role]: sumUsage(t.usage[role], ev.data.usage) } };
}

function decide(t: Ticket, ev: CoordinatorEvent, now: Date, policy: Policy): Ticket {
  switch (ev.type) {
    case 'ticket.cancel_requested': {
      if (isTerminal(t.state)) return ignore(t, now, ev, `ticket is already ${t.state}`);
      const asked = entry(now, ev.source, 'cancel_requested', { cause: ev.id, reason: ev.data.reason });
      return moveTo({ ...t, outbox: [], timeline: [...t.timeline, asked] }, 'cancelled', now, {
        by: ev.data.by,
        reason: ev.data.reason ?? 'cancelled on request',
        cause: ev.id,
      });
    }
    case 'human.answered': {
      if (t.state !== 'awaiting_human' || !t.parked) {
        return ignore(t, now, ev, `ticket is ${t.state}, not awaiting a human answer`);
      }
      const { budget } = ev.data;
      const problem = budget === undefined ? null : budgetProblem(budget, t.usage);
      // Refused whole: the ticket stays parked, so the person can answer again with a usable budget.
      if (problem !== null) return ignore(t, now, ev, problem);
      const at = now.toISOString();
      const answered: Ticket = {
        ...t,
        ...(budget !== undefined && { budget }),
        answers: [...t.answers, { text: ev.data.text, by: ev.data.by, at }],
        timeline: [
          ...t.timeline,
          entry(now, ev.data.by, 'answered', { cause: ev.id, reason: budget === undefined ? undefined : `token budget set to ${budget} (was ${t.budget ?? 'the default'})` }),
        ],
      };
      return dispatch(answered, t.parked.from, 1, now, policy, { by: ev.data.by, reason: 'answered', cause: ev.id });
    }
    case 'stage.started':
      return started(t, ev, now, policy);
    case 'stage.usage':
      // Tokens of a delivery that ended without a result (retried, or handed back): counted, nothing moves.
      return { ...t, updatedAt: now.toISOString() };
    case 'pr.changes_requested':
      return changesRequested(t, ev, now, policy);
    case 'pr.merged': {
      const why = { by: ev.data.by, cause: ev.id };
      if (t.state === 'pr_open') return moveTo(t, 'done', now, { ...why, reason: `pull request #${ev.data.number} merged` });
      // Merged while the coder or reviewer works on feedback: people took the pull request as it was.
      if (!isTerminal(t.state) && onPullRequest(t, ev.data.number)) {
        return moveTo({ ...t, outbox: [] }, 'done', now, { ...why, reason: `pull request #${ev.data.number} was merged while nightshift worked on feedback; that work is dropped` });
      }
      return ignore(t, now, ev, `ticket is ${t.state}, not pr_open`);
    }
    case 'pr.closed': {
      if (t.state === 'pr_open' || (!isTerminal(t.state) && onPullRequest(t, ev.data.number))) {
        return moveTo({ ...t, outbox: [] }, 'cancelled', now, { by: ev.data.by, reason: `pull request #${ev.data.number} closed without merging`, cause: ev.id });
      }
      return ignore(t, now, ev, `ticket is ${t.state}, not pr_open`);
    }
    case 'stage.completed':
    case 'stage.failed': {
      const { stage, attempt } = ev.data;
      const current = t.state === stage && t.work?.stage === stage && t.work.attempt === attempt;
      // Only the dispatch it answers may settle a stage: a result without a causation is nobody's.
      const sameDispatch = t.work?.dispatchId !== undefined && ev.causationId === t.work.dispatchId;
      if (!current || !sameDispatch) {
        return ignore(t, now, ev, `stale result for ${stage} attempt ${attempt} (ticket is ${describeWork(t)})`);
      }
      return ev.type === 'stage.completed' ? completed(t, ev, now, policy) : failedAttempt(t, ev, now, policy);
    }
  }
}

/**
 * An agent started the current attempt: its stage deadline now runs from the start (clamped between
 * the dispatch and now, so a skewed agent clock can neither shorten the queue wait into the past nor
 * push the deadline out). Each delivery that starts restarts it; max_deliver bounds how often.
 */
function started(t: Ticket, ev: Extract<CoordinatorEvent, { type: 'stage.started' }>, now: Date, policy: Policy): Ticket {
  const { stage, attempt } = ev.data;
  const w = t.work;
  // applyEvent lets through only a start of the current dispatch.
  if (!w || !startsCurrent(t, ev)) return t;
  const at = Math.min(Math.max(Date.parse(ev.data.startedAt), Date.parse(w.dispatchedAt)), now.getTime());
  return {
    ...t,
    work: { ...w, startedAt: new Date(at).toISOString(), deadline: new Date(at + policy.stageTimeoutMs(stage)).toISOString() },
    timeline: [...t.timeline, entry(now, ev.source, 'started', { stage, attempt, cause: ev.id })],
    updatedAt: now.toISOString(),
  };
}

/** Whether a `stage.started` is for the ticket's current dispatch (its causation is required). */
function startsCurrent(t: Ticket, ev: Extract<CoordinatorEvent, { type: 'stage.started' }>): boolean {
  const { stage, attempt } = ev.data;
  const w = t.work;
  return t.state === stage && w?.stage === stage && w.attempt === attempt && ev.causationId !== null && (w.dispatchId === undefined || ev.causationId === w.dispatchId);
}

function completed(
  t: Ticket,
  ev: Extract<CoordinatorEvent, { type: 'stage.completed' }>,
  now: Date,
  policy: Policy,
): Ticket {
  const { stage, outcome } = ev.data;
  const by = ev.source;
  const withOutput = (output: unknown): Ticket =>
    output === undefined ? t : { ...t, artifacts: { ...t.artifacts, [stage]: output } };
  switch (outcome.kind) {
    case 'advance': {
      const next = NEXT_AFTER[stage];
      const advanced = stage === 'reviewing' ? feedbackAnswered(withOutput(outcome.output)) : withOutput(outcome.output);
      if (isStage(next)) return dispatch(advanced, next, 1, now, policy, { by, reason: `${stage} done`, cause: ev.id });
      return moveTo(advanced, next, now, { by, reason: `${stage} done`, cause: ev.id });
    }
    case 'escalate':
      return park(withOutput(outcome.output), stage, outcome.questions, now, policy, by, ev.id);
    case 'send_back': {
      if (!canTransition(stage, outcome.to)) {
        return fail(t, now, { code: 'illegal_outcome', message: `${stage} cannot send work back to ${outcome.to}`, stage }, by, ev.id);
      }
      return dispatch(withOutput(outcome.output), outcome.to, 1, now, policy, { by, reason: outcome.reason, cause: ev.id });
    }
    case 'duplicate': {
      if (!canTransition(stage, 'duplicate')) {
        return fail(t, now, { code: 'illegal_outcome', message: `${stage} cannot mark a ticket duplicate`, stage }, by, ev.id);
      }
      if (outcome.of === t.id) {
        return fail(t, now, { code: 'illegal_outcome', message: `${stage} marked the ticket a duplicate of itself`, stage }, by, ev.id);
      }
      return moveTo({ ...withOutput(outcome.output), duplicateOf: outcome.of }, 'duplicate', now, {
        by,
        reason: outcome.reason ?? `duplicate of ${outcome.of}`,
        cause: ev.id,
      });
    }
    case 'close':
      return moveTo({ ...withOutput(outcome.output), outbox: [] }, 'cancelled', now, { by, reason: outcome.reason, cause: ev.id });
  }
}

/** Failures that say the model endpoint is down (the client's ModelUnavailableError, ModelTimeoutError), not the attempt. */
const ENDPOINT_DOWN: ReadonlySet<string> = new Set(['model_unavailable', 'model_timeout']);

function failedAttempt(
  t: Ticket,
  ev: Extract<CoordinatorEvent, { type: 'stage.failed' }>,
  now: Date,
  policy: Policy,
): Ticket {
  const { stage, attempt, error } = ev.data;
  if (ENDPOINT_DOWN.has(error.code)) {
    // Its retries and deliveries spent, the endpoint still fails: a new attempt would prepare the stage
    // again only to meet it. The ticket fails now, with the endpoint's error.
    const message = `${error.message} — the model endpoint kept failing through the retry budget (NIGHTSHIFT_MODEL_RETRIES retries of each call, NIGHTSHIFT_MAX_DELIVER deliveries of the attempt); check OPENAI_BASE_URL and the endpoint, then post the ticket again`;
    return fail(t, now, { code: error.code, message, stage }, ev.source, ev.id);
  }
  if (error.retryable && attempt < policy.stageAttempts) {
    const retried = { ...t, timeline: [...t.timeline, entry(now, ev.source, 'retry', { stage, attempt, reason: `${error.code}: ${error.message}`, cause: ev.id })] };
    return dispatch(retried, stage, attempt + 1, now, policy, { by: COORDINATOR, reason: 'retry', cause: ev.id }, false);
  }
  return fail(t, now, { code: error.code, message: error.message, stage }, ev.source, ev.id);
}

/** The ticket's pull request feedback, or a fresh record for pull request `number`. */
function feedbackOf(t: Ticket, number: number): PrFeedback {
  const parsed = PrFeedback.safeParse(t.artifacts[PR_FEEDBACK]);
  return parsed.success ? parsed.data : { number, pending: [], handled: [], rounds: 0 };
}

/** Whether the ticket is working on feedback from pull request `number` (it left pr_open for it). */
function onPullRequest(t: Ticket, number: number): boolean {
  const parsed = PrFeedback.safeParse(t.artifacts[PR_FEEDBACK]);
  return parsed.success && parsed.data.number === number && parsed.data.rounds > 0;
}

/** The reviewer approved and the pull request was updated: the pending feedback is answered. */
function feedbackAnswered(t: Ticket): Ticket {
  const parsed = PrFeedback.safeParse(t.artifacts[PR_FEEDBACK]);
  if (!parsed.success || parsed.data.pending.length === 0) return t;
  return { ...t, artifacts: { ...t.artifacts, [PR_FEEDBACK]: { ...parsed.data, pending: [] } } };
}

const MAX_HANDLED = 1_000;

/**
 * People asked for changes on the pull request: from pr_open, back to the coder with the comments as
 * the reason and in the `pr_feedback` artifact. Feedback already acted on (the same review arriving
 * again, as its review event and its comment events, or redelivered later) changes nothing.
 */
function changesRequested(t: Ticket, ev: Extract<CoordinatorEvent, { type: 'pr.changes_requested' }>, now: Date, policy: Policy): Ticket {
  const { number, by, comments, feedbackIds } = ev.data;
  if (t.state !== 'pr_open') return ignore(t, now, ev, `ticket is ${t.state}, not pr_open`);
  const fb = feedbackOf(t, number);
  const fresh = feedbackIds.filter((id) => !fb.handled.includes(id));
  if (fresh.length === 0) return ignore(t, now, ev, `feedback ${feedbackIds.join(', ')} was already acted on`);
  const feedback: PrFeedback = {
    number,
    pending: [...fb.pending, ...comments],
    handled: [...fb.handled, ...new Set(fresh)].slice(-MAX_HANDLED),
    rounds: fb.rounds + 1,
  };
  const reason = `changes requested on pull request #${number}:\n${describeComments(comments)}`.slice(0, 4_000);
  return dispatch({ ...t, artifacts: { ...t.artifacts, [PR_FEEDBACK]: feedback } }, 'coding', 1, now, policy, { by, reason, cause: ev.id });
}

/** Comments as lines: `- by (path:line): text`. */
export function describeComments(comments: readonly PrComment[]): string {
  return comments
    .map((c) => `- ${c.by}${c.path ? ` (${c.path}${c.line ? `:${c.line}` : ''})` : ''}: ${c.text.replace(/\s+/g, ' ').trim()}`)
    .join('\n');
}

/**
 * Time-driven decisions, run by the sweeper: start a received ticket, time out a stage attempt
 * (retrying it while attempts remain), fail a ticket nobody answered.
 */
export function tick(t: Ticket, now: Date, policy: Policy): Decision {
  if (t.state === 'received') {
    const first: StageName = t.type === 'bug' ? 'triaging' : 'refining';
    return dispatch(t, first, 1, now, policy, { by: COORDINATOR, reason: 'received' });
  }
  if (t.work && isStage(t.state) && Date.parse(t.work.deadline) <= now.getTime()) {
    const { stage, attempt, startedAt } = t.work;
    const reason = startedAt
      ? `${stage} attempt ${attempt} timed out after ${policy.stageTimeoutMs(stage)}ms`
      : `${stage} attempt ${attempt} was not started within the queue timeout of ${policy.queueTimeoutMs}ms`;
    const timedOut = { ...t, timeline: [...t.timeline, entry(now, COORDINATOR, 'timeout', { stage, attempt, reason })] };
    if (attempt < policy.stageAttempts) {
      return dispatch(timedOut, stage, attempt + 1, now, policy, { by: COORDINATOR, reason: 'retry after timeout' }, false);
    }
    return fail(timedOut, now, { code: startedAt ? 'stage_timeout' : 'queue_timeout', message: reason, stage }, COORDINATOR);
  }
  if (t.state === 'awaiting_human' && t.parked && Date.parse(t.parked.deadline) <= now.getTime()) {
    return fail(t, now, { code: 'human_timeout', message: `no answer within ${policy.humanTimeoutMs}ms`, stage: t.parked.from }, COORDINATOR);
  }
  return null;
}

/** When `tick` next has something to do for this ticket, or null when only an event can move it. */
export function nextWake(t: Pick<TicketHead, 'state' | 'createdAt' | 'work' | 'parked'>): number | null {
  if (t.state === 'received') return Date.parse(t.createdAt);
  if (t.work && isStage(t.state)) return Date.parse(t.work.deadline);
  if (t.state === 'awaiting_human' && t.parked) return Date.parse(t.parked.deadline);
  return null;
}

/** Times one attempt may be dispatched again because its work was lost, before the ticket fails. */
export const MAX_LOST_REDISPATCHES = 3;
/** How the timeline says an attempt was dispatched again because its work was lost. */
export const LOST_WORK = 'lost work: ';

/**
 * Dispatches the current attempt again under a new id, when its work item is gone from the queue
 * while the ticket still waits on it: the item or its result was lost (a cluster that lost an
 * acknowledged write). The attempt keeps its number; results of the lost dispatch no longer count.
 * Bounded: an agent that acks its work without ever reporting a result (a bug, or a hostile
 * process with the role's credentials) would otherwise have the work redone, and paid for, forever.
 */
export function redispatch(t: Ticket, now: Date, policy: Policy, reason: string): Decision {
  if (!t.work || !isStage(t.state) || t.outbox.length > 0) return null;
  const { stage, attempt } = t.work;
  const lost = t.timeline.filter((e) => e.event === 'retry' && e.stage === stage && e.attempt === attempt && e.reason?.startsWith(LOST_WORK)).length;
  const noted = { ...t, timeline: [...t.timeline, entry(now, COORDINATOR, 'retry', { stage, attempt, reason: `${LOST_WORK}${reason}` })] };
  if (lost >= MAX_LOST_REDISPATCHES) {
    return fail(noted, now, { code: 'work_lost', message: `${stage} attempt ${attempt} lost its work ${lost + 1} times: ${reason}`, stage }, COORDINATOR);
  }
  return dispatch(noted, stage, attempt, now, policy, { by: COORDINATOR, reason }, false);
}

/** Marks outbox items as published. */
export function outboxSent(t: Ticket, msgIds: readonly string[]): Decision {
  const outbox = t.outbox.filter((o) => !msgIds.includes(o.msgId));
  return outbox.length === t.outbox.length ? null : { ...t, outbox };
}

/**
 * The JetStream Msg-Id of one stage attempt's dispatch. `round` counts dispatches of the same stage
 * and attempt: a stage resumed after an answer or sent back starts again at attempt 1, and must not
 * reuse an id the server would deduplicate (nor one whose result events are already applied).
 */
export function dispatchId(ticketId: string, stage: StageName, attempt: number, round = 1): string {
  return round === 1 ? `${ticketId}.${stage}.${attempt}` : `${ticketId}.${stage}.${attempt}.r${round}`;
}

interface Why {
  by: string;
  reason?: string | undefined;
  cause?: string | undefined;
}

/**
 * Dispatches an attempt of `stage`. Entering the stage (`transition`) starts a new round of it; a
 * retry stays in the round. Until an agent starts the attempt, the queue timeout bounds it.
 */
function dispatch(t: Ticket, stage: StageName, attempt: number, now: Date, policy: Policy, why: Why, transition = true): Ticket {
  const at = now.toISOString();
  const sent = 1 + t.timeline.filter((e) => e.event === 'dispatched' && e.stage === stage && e.attempt === attempt).length;
  const moved = transition ? moveTo(t, stage, now, why) : t;
  const entered = moved.timeline.filter((e) => e.event === 'transition' && e.to === stage).length;
  const round = !transition && t.work?.stage === stage && t.work.round !== undefined ? t.work.round : Math.max(1, entered);
  const item: OutboxItem = { msgId: dispatchId(t.id, stage, attempt, sent), kind: 'dispatch', stage, attempt, round };
  return {
    ...moved,
    parked: null,
    work: {
      stage,
      attempt,
      dispatchId: item.msgId,
      dispatchedAt: at,
      deadline: new Date(now.getTime() + policy.queueTimeoutMs).toISOString(),
      round,
    },
    // One piece of work at a time: an unsent dispatch of superseded work is dropped, not sent late.
    outbox: [item],
    timeline: [...moved.timeline, entry(now, COORDINATOR, 'dispatched', { stage, attempt })],
    updatedAt: at,
  };
}

function park(t: Ticket, from: StageName, questions: Question[], now: Date, policy: Policy, by: string, cause: string): Ticket {
  const moved = moveTo(t, 'awaiting_human', now, { by, reason: questions.map((q) => q.text).join('\n'), cause });
  return {
    ...moved,
    parked: {
      from,
      questions,
      askedAt: now.toISOString(),
      deadline: new Date(now.getTime() + policy.humanTimeoutMs).toISOString(),
    },
  };
}

function fail(t: Ticket, now: Date, failure: NonNullable<Ticket['failure']>, by: string, cause?: string): Ticket {
  return { ...moveTo(t, 'failed', now, { by, reason: `${failure.code}: ${failure.message}`, cause }), failure };
}

/** A legal state change with its timeline entry. Illegal ones throw: they are bugs, not inputs. */
function moveTo(t: Ticket, to: StateName, now: Date, why: Why): Ticket {
  if (!canTransition(t.state, to)) throw new Error(`illegal transition ${t.state} -> ${to} for ${t.id}`);
  const at = now.toISOString();
  return {
    ...t,
    state: to,
    work: isStage(to) ? t.work : null,
    parked: to === 'awaiting_human' ? t.parked : null,
    outbox: isTerminal(to) ? [] : t.outbox,
    timeline: [...t.timeline, entry(now, why.by, 'transition', { from: t.state, to, reason: why.reason, cause: why.cause })],
    updatedAt: at,
  };
}

/**
 * How many `ignored` entries a timeline takes. Stale results and repeated webhooks are not bounded by
 * anything nightshift controls; past this, an ignored event is still remembered (its id, so it is
 * never applied) and logged by the coordinator, but the timeline — append-only — stays as it is.
 */
export const MAX_IGNORED_ENTRIES = 100;

function ignore(t: Ticket, now: Date, ev: CoordinatorEvent, reason: string): Ticket {
  if (t.timeline.filter((e) => e.event === 'ignored').length >= MAX_IGNORED_ENTRIES) return t;
  return { ...t, timeline: [...t.timeline, entry(now, ev.source, 'ignored', { reason: `${ev.type}: ${reason}`, cause: ev.id })], updatedAt: now.toISOString() };
}

function remember(t: Ticket, id: string): Ticket {
  return { ...t, applied: [...t.applied, id].slice(-APPLIED_MEMORY) };
}

function entry(
  now: Date,
  by: string,
  event: TimelineEntry['event'],
  fields: Omit<Partial<TimelineEntry>, 'at' | 'by' | 'event'> = {},
): TimelineEntry {
  const e: TimelineEntry = { at: now.toISOString(), by, event };
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) (e as Record<string, unknown>)[k] = v;
  return e;
}

function describeWork(t: Ticket): string {
  return t.work ? `${t.state}, ${t.work.stage} attempt ${t.work.attempt}` : t.state;
}
