import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  CancelRequested,
  envelope,
  HumanAnswered,
  PR_FEEDBACK,
  PrChangesRequested,
  PrClosed,
  PrMerged,
  StageCompleted,
  StageFailed,
  StageStarted,
  StageUsage,
  type PrComment,
  type StageOutcome,
} from '../../bus/index.ts';
import {
  canTransition,
  IntakeRequest,
  isStage,
  isTerminal,
  ROLE_OF_STAGE,
  STAGES,
  STATES,
  Ticket,
  type State,
} from '../../shared/index.ts';
import type { CoordinatorEvent } from './events.ts';
import { applyEvent, COORDINATOR, dispatchId, MAX_IGNORED_ENTRIES, MAX_LOST_REDISPATCHES, newTicket, nextWake, outboxSent, redispatch, tick, type Policy } from './reducer.ts';
import { scaled } from '../../test/helpers/wait.ts';

/*
 * The coordinator's reducer (reducer.ts), the pure state machine of a ticket: newTicket, every event
 * applyEvent takes (stage results and usage, answers, budgets, failures, cancels, pull request events,
 * redeliveries), tick with its deadlines and retries, redispatch, outboxSent and nextWake, then a
 * property test over random sequences of events and ticks. One file because it is one unit: every test
 * builds on the same tickets, events and policy below and checks the same invariants (the transition
 * table, the timeline, the outbox); split by event, each file would import them all back.
 */

type Stage = (typeof STAGES)[number];

const T0 = Date.parse('2030-01-01T00:00:00.000Z');
const TIMEOUT: Readonly<Record<Stage, number>> = {
  triaging: 60_000,
  refining: 120_000,
  writing_tests: 180_000,
  coding: 240_000,
  reviewing: 300_000,
};
const HUMAN_TIMEOUT = 3_600_000;
const ATTEMPTS = 3;
/** The queue timeout: the bound from a dispatch until an agent starts it. */
const QUEUE = 90_000;
const policy: Policy = { stageTimeoutMs: (s) => TIMEOUT[s], queueTimeoutMs: QUEUE, stageAttempts: ATTEMPTS, humanTimeoutMs: HUMAN_TIMEOUT };
/** How many applied ids a ticket remembers (APPLIED_MEMORY in reducer.ts). */
const APPLIED_BOUND = 200;

const ID = 'tk-0123456789';
const OTHER = 'tk-abcdefghjk';
const iso = (ms: number) => new Date(T0 + ms).toISOString();

function request(type: 'feature' | 'bug' | 'chore' = 'feature'): IntakeRequest {
  return IntakeRequest.parse({ title: 'Add a --verbose flag', body: 'details', repo: { path: '/repos/app' }, type });
}

// ---- events -------------------------------------------------------------------------------------

let counter = 0;
const freshId = () => `ev-${++counter}`;

/** A stage result; by default it answers the first round's dispatch of that stage and attempt. */
function completed(stage: Stage, attempt: number, outcome: StageOutcome, id = freshId(), causationId = dispatchId(ID, stage, attempt)): CoordinatorEvent {
  const meta = { id, source: `agent:${ROLE_OF_STAGE[stage]}`, correlationId: ID, causationId };
  return { ...envelope(StageCompleted, { ticketId: ID, stage, attempt, outcome }, meta), type: StageCompleted.type };
}

function failed(
  stage: Stage,
  attempt: number,
  error: { code: string; message: string; retryable: boolean },
  id = freshId(),
  causationId = dispatchId(ID, stage, attempt),
): CoordinatorEvent {
  const meta = { id, source: `agent:${ROLE_OF_STAGE[stage]}`, correlationId: ID, causationId };
  return { ...envelope(StageFailed, { ticketId: ID, stage, attempt, error, deliveries: 1 }, meta), type: StageFailed.type };
}

/** An agent starting the ticket's current attempt at `at` (ms after T0); by default the dispatch it answers. */
function startedEv(t: Ticket, at: number, opts: { deliveries?: number; causationId?: string | null; id?: string } = {}): CoordinatorEvent {
  const w = t.work!;
  const causationId = opts.causationId === undefined ? (w.dispatchId ?? null) : opts.causationId;
  const meta = { id: opts.id ?? freshId(), source: `agent:${ROLE_OF_STAGE[w.stage]}`, correlationId: ID, causationId };
  const data = { ticketId: ID, stage: w.stage, attempt: w.attempt, deliveries: opts.deliveries ?? 1, startedAt: iso(at) };
  return { ...envelope(StageStarted, data, meta), type: StageStarted.type };
}

function answered(text: string, by = 'human:alice', id = freshId(), budget?: number): CoordinatorEvent {
  const data = { ticketId: ID, text, by, ...(budget !== undefined && { budget }) };
  return { ...envelope(HumanAnswered, data, { id, source: 'slack', correlationId: ID }), type: HumanAnswered.type };
}

function cancel(by = 'human:bob', reason?: string, id = freshId()): CoordinatorEvent {
  const data = { ticketId: ID, by, ...(reason !== undefined && { reason }) };
  return { ...envelope(CancelRequested, data, { id, source: 'cli', correlationId: ID }), type: CancelRequested.type };
}

const PR = 42;
const REVIEW_COMMENTS: PrComment[] = [
  { by: 'github:octocat', text: 'Handle the empty input too.' },
  { by: 'github:octocat', text: 'Exit code 2 here.', path: 'src/cli.ts', line: 27 },
];

function changesRequested(comments: PrComment[] = REVIEW_COMMENTS, feedbackIds = ['review:80', 'comment:1'], id = freshId()): CoordinatorEvent {
  const data = { ticketId: ID, number: PR, by: 'github:octocat', comments, feedbackIds };
  return { ...envelope(PrChangesRequested, data, { id, source: 'github', correlationId: ID }), type: PrChangesRequested.type };
}

function merged(id = freshId(), number = PR): CoordinatorEvent {
  const data = { ticketId: ID, number, by: 'github:octocat', mergeCommitSha: 'c2f9a1d0' };
  return { ...envelope(PrMerged, data, { id, source: 'github', correlationId: ID }), type: PrMerged.type };
}

function closed(id = freshId(), number = PR): CoordinatorEvent {
  return { ...envelope(PrClosed, { ticketId: ID, number, by: 'github:hubot' }, { id, source: 'github', correlationId: ID }), type: PrClosed.type };
}

const advance = (output: unknown = { ok: true }): StageOutcome => ({ kind: 'advance', output });
const QUESTIONS = [{ id: 'q1', text: 'Should the flag be -v or --verbose?', blocking: true }];
const escalate = (output?: unknown): StageOutcome => ({ kind: 'escalate', questions: QUESTIONS, ...(output !== undefined && { output }) });
const retryable = { code: 'mirror_locked', message: 'the repository mirror stayed locked', retryable: true };
const endpointDown = { code: 'model_unavailable', message: 'the model endpoint answered 500 three times', retryable: true };
const fatal = { code: 'bad_spec', message: 'no acceptance criteria', retryable: false };

// ---- invariants ---------------------------------------------------------------------------------

/** Everything that must hold of any ticket the reducer produces, and of any step from `prev`. */
function violations(t: Ticket, prev?: Ticket): string[] {
  const out: string[] = [];
  const parsed = Ticket.safeParse(t);
  if (!parsed.success) out.push(`schema: ${parsed.error.message}`);
  else if (!isDeepStrictEqual(parsed.data, t)) out.push('schema: parsing changes the record (unknown or undefined fields)');

  const first = t.timeline[0];
  if (first?.event !== 'received' || first.to !== 'received') out.push('timeline does not start with received');
  let state: State = 'received';
  let last = '';
  for (const [i, e] of t.timeline.entries()) {
    if (e.at < last) out.push(`timeline[${i}] goes back in time`);
    last = e.at;
    if (e.event !== 'transition') continue;
    if (!e.from || !e.to) out.push(`timeline[${i}]: transition without from/to`);
    else {
      if (e.from !== state) out.push(`timeline[${i}]: transition from ${e.from} while in ${state}`);
      if (!canTransition(e.from, e.to)) out.push(`timeline[${i}]: illegal transition ${e.from} -> ${e.to}`);
      state = e.to;
    }
  }
  if (state !== t.state) out.push(`timeline ends in ${state} but the ticket is ${t.state}`);

  if (isStage(t.state)) {
    if (t.work?.stage !== t.state) out.push(`in ${t.state} with work ${JSON.stringify(t.work)}`);
    else if (t.work.startedAt === undefined && Date.parse(t.work.deadline) !== Date.parse(t.work.dispatchedAt) + QUEUE) out.push('work deadline is not dispatch + queue timeout');
    else if (t.work.startedAt !== undefined && Date.parse(t.work.deadline) !== Date.parse(t.work.startedAt) + TIMEOUT[t.work.stage]) out.push('work deadline is not start + timeout');
    else if (t.work.attempt > ATTEMPTS) out.push(`attempt ${t.work.attempt} beyond ${ATTEMPTS}`);
  } else if (t.work !== null) out.push(`work set in ${t.state}`);
  if ((t.state === 'awaiting_human') !== (t.parked !== null)) out.push(`parked ${JSON.stringify(t.parked)} in ${t.state}`);
  if (t.parked && Date.parse(t.parked.deadline) !== Date.parse(t.parked.askedAt) + HUMAN_TIMEOUT) out.push('parked deadline is not asked + timeout');
  if ((t.state === 'failed') !== (t.failure !== null)) out.push(`failure ${JSON.stringify(t.failure)} in ${t.state}`);
  if ((t.state === 'duplicate') !== (t.duplicateOf !== undefined)) out.push(`duplicateOf ${t.duplicateOf} in ${t.state}`);
  if (isTerminal(t.state) && t.outbox.length > 0) out.push(`outbox not empty in ${t.state}`);
  if (new Set(t.outbox.map((o) => o.msgId)).size !== t.outbox.length) out.push('outbox msgIds not unique');
  for (const o of t.outbox) {
    const dispatched = t.timeline.some((e) => e.event === 'dispatched' && e.stage === o.stage && e.attempt === o.attempt);
    if (!dispatched) out.push(`outbox item ${o.msgId} without a dispatched entry`);
  }
  if (t.applied.length > APPLIED_BOUND) out.push(`applied holds ${t.applied.length} ids`);
  if (new Set(t.applied).size !== t.applied.length) out.push('applied holds an id twice');
  if (t.updatedAt < t.createdAt) out.push('updatedAt before createdAt');

  if (prev) {
    if (t.id !== prev.id || t.createdAt !== prev.createdAt || t.title !== prev.title) out.push('identity changed');
    if (isTerminal(prev.state) && t.state !== prev.state) out.push(`terminal ${prev.state} moved to ${t.state}`);
    if (t.timeline.length < prev.timeline.length) out.push('timeline shrank');
    for (let i = 0; i < prev.timeline.length; i++) {
      if (t.timeline[i] !== prev.timeline[i] && !isDeepStrictEqual(t.timeline[i], prev.timeline[i])) {
        out.push(`timeline[${i}] rewritten`);
        break;
      }
    }
    if (t.answers.length < prev.answers.length || !prev.answers.every((a, i) => isDeepStrictEqual(a, t.answers[i]))) out.push('answers rewritten');
  }
  return out;
}

/**
 * Drives one ticket through reducer calls with a fixed clock, checking every invariant after every
 * step. `t` is the latest record; `now` is milliseconds after T0.
 */
class Driver {
  t: Ticket;
  now = 0;

  constructor(type: 'feature' | 'bug' | 'chore' = 'feature') {
    this.t = newTicket(ID, request(type), new Date(T0), 'intake:test');
    expect(violations(this.t)).toEqual([]);
  }

  #accept(next: Ticket | null): Ticket | null {
    if (next) {
      expect(violations(next, this.t)).toEqual([]);
      this.t = next;
    }
    return next;
  }

  at(): Date {
    return new Date(T0 + this.now);
  }

  later(ms: number): this {
    this.now += ms;
    return this;
  }

  apply(ev: CoordinatorEvent): Ticket | null {
    return this.#accept(applyEvent(this.t, ev, this.at(), policy));
  }

  /** Applies an event that must change the ticket. */
  must(ev: CoordinatorEvent): Ticket {
    const next = this.apply(ev);
    if (!next) throw new Error(`${ev.type} ${ev.id} changed nothing`);
    return next;
  }

  tick(): Ticket | null {
    return this.#accept(tick(this.t, this.at(), policy));
  }

  sent(ids = this.t.outbox.map((o) => o.msgId)): Ticket | null {
    return this.#accept(outboxSent(this.t, ids));
  }

  /** An agent starts the current attempt now. */
  start(): Ticket {
    return this.must(startedEv(this.t, this.now));
  }

  /** Completes the current stage attempt with `outcome`. */
  complete(outcome: StageOutcome = advance({ did: this.t.work?.stage })): Ticket {
    const work = this.t.work;
    if (!work) throw new Error(`no work in ${this.t.state}`);
    return this.must(completed(work.stage, work.attempt, outcome, freshId(), work.dispatchId));
  }
}

/** A ticket in `state`, reached through reducer steps only. */
function reach(state: State): Driver {
  const d = new Driver(state === 'triaging' || state === 'duplicate' ? 'bug' : 'feature');
  if (state === 'received') return d;
  d.later(10).tick();
  switch (state) {
    case 'triaging':
    case 'refining':
      return d;
    case 'awaiting_human':
      d.later(10).complete(escalate());
      return d;
    case 'duplicate':
      d.later(10).complete({ kind: 'duplicate', of: OTHER });
      return d;
    case 'failed':
      d.later(10).must(failed('refining', 1, fatal));
      return d;
    case 'cancelled':
      d.later(10).must(cancel());
      return d;
  }
  for (const stage of ['refining', 'writing_tests', 'coding', 'reviewing'] as const) {
    if (d.t.state === state) return d;
    expect(d.t.state).toBe(stage);
    d.later(10).complete();
  }
  if (state === 'pr_open') return d;
  expect(state).toBe('done');
  d.later(10).must(merged());
  return d;
}

const NON_TERMINAL = STATES.filter((s) => !isTerminal(s));
const TERMINAL = STATES.filter((s) => isTerminal(s));

// ---- tests --------------------------------------------------------------------------------------

describe('newTicket', () => {
  it('stores a received ticket with its request and one timeline entry', () => {
    const req = IntakeRequest.parse({
      title: 'Add a --verbose flag',
      body: 'details',
      repo: { path: '/repos/app', baseBranch: 'main' },
      externalId: 'GH-12',
      requester: 'alice',
      labels: ['cli'],
    });
    const t = newTicket(ID, req, new Date(T0), 'intake:alice');
    expect(t).toEqual({
      id: ID,
      v: 1,
      title: 'Add a --verbose flag',
      body: 'details',
      type: 'feature',
      repo: { path: '/repos/app', baseBranch: 'main' },
      externalId: 'GH-12',
      requester: 'alice',
      labels: ['cli'],
      state: 'received',
      work: null,
      parked: null,
      answers: [],
      artifacts: {},
      usage: {},
      failure: null,
      outbox: [],
      applied: [],
      timeline: [{ at: iso(0), by: 'intake:alice', event: 'received', to: 'received' }],
      createdAt: iso(0),
      updatedAt: iso(0),
    });
    expect(violations(t)).toEqual([]);
    expect(nextWake(t)).toBe(T0);
  });

  it('leaves optional fields out when the request has none', () => {
    const t = newTicket(ID, request(), new Date(T0), 'intake:anonymous');
    expect(Object.keys(t)).not.toContain('externalId');
    expect(Object.keys(t)).not.toContain('requester');
    expect(Ticket.parse(t)).toEqual(t);
  });
});

describe('redispatch (lost work)', () => {
  it('dispatches the attempt again under a new id, and fails the ticket once its work was lost too often', () => {
    let t = reach('refining').t;
    t = outboxSent(t, t.outbox.map((o) => o.msgId)) ?? t;
    const ids = [t.work!.dispatchId];
    for (let i = 0; i < MAX_LOST_REDISPATCHES; i++) {
      const next = redispatch(t, new Date(T0 + 1_000 * (i + 1)), policy, 'gone from the queue')!;
      expect(next.state).toBe('refining');
      expect(next.work).toMatchObject({ stage: 'refining', attempt: 1 });
      expect(ids).not.toContain(next.work!.dispatchId);
      ids.push(next.work!.dispatchId);
      t = outboxSent(next, next.outbox.map((o) => o.msgId))!;
    }
    const failed = redispatch(t, new Date(T0 + 10_000), policy, 'gone from the queue')!;
    expect(failed.state).toBe('failed');
    expect(failed.failure).toMatchObject({ code: 'work_lost', stage: 'refining' });
    expect(failed.timeline.filter((e) => e.event === 'retry')).toHaveLength(MAX_LOST_REDISPATCHES + 1);
  });

  it('does nothing to a ticket with an unsent dispatch or no work', () => {
    const d = reach('refining');
    expect(redispatch(d.t, new Date(T0 + 1), policy, 'x')).toBeNull();
    expect(redispatch(reach('pr_open').t, new Date(T0 + 1), policy, 'x')).toBeNull();
  });
});

describe('tick', () => {
  it.each([
    ['feature', 'refining'],
    ['chore', 'refining'],
    ['bug', 'triaging'],
  ] as const)('starts a received %s ticket in %s', (type, first) => {
    const d = new Driver(type);
    d.later(5);
    const t = d.tick()!;
    expect(t.state).toBe(first);
    expect(t.work).toEqual({ stage: first, attempt: 1, dispatchId: dispatchId(ID, first, 1), dispatchedAt: iso(5), deadline: iso(5 + QUEUE), round: 1 });
    expect(t.outbox).toEqual([{ msgId: dispatchId(ID, first, 1), kind: 'dispatch', stage: first, attempt: 1, round: 1 }]);
    expect(t.timeline.slice(1)).toEqual([
      { at: iso(5), by: COORDINATOR, event: 'transition', from: 'received', to: first, reason: 'received' },
      { at: iso(5), by: COORDINATOR, event: 'dispatched', stage: first, attempt: 1 },
    ]);
    expect(t.updatedAt).toBe(iso(5));
    expect(nextWake(t)).toBe(T0 + 5 + QUEUE);
  });

  it('does nothing before a deadline, and nothing in states only an event moves', () => {
    const refining = reach('refining');
    refining.now = Date.parse(refining.t.work!.deadline) - T0 - 1;
    expect(refining.tick()).toBeNull();
    const parked = reach('awaiting_human');
    parked.now = Date.parse(parked.t.parked!.deadline) - T0 - 1;
    expect(parked.tick()).toBeNull();
    for (const state of ['pr_open', ...TERMINAL] as const) {
      const d = reach(state);
      expect(nextWake(d.t)).toBeNull();
      d.later(365 * 86_400_000);
      expect(d.tick()).toBeNull();
    }
  });

  it('retries a timed-out attempt while attempts remain, then fails with stage_timeout', () => {
    const d = reach('refining');
    const seen = new Set([d.t.outbox[0]!.msgId]);
    for (let attempt = 1; attempt < ATTEMPTS; attempt++) {
      d.later(7).start();
      const deadline = Date.parse(d.t.work!.deadline) - T0;
      expect(deadline).toBe(d.now + TIMEOUT.refining);
      d.now = deadline;
      const before = d.t.timeline.length;
      const t = d.tick()!;
      expect(t.state).toBe('refining');
      expect(t.work).toEqual({ stage: 'refining', attempt: attempt + 1, dispatchId: dispatchId(ID, 'refining', attempt + 1), dispatchedAt: iso(deadline), deadline: iso(deadline + QUEUE), round: 1 });
      expect(t.timeline.slice(before)).toEqual([
        {
          at: iso(deadline),
          by: COORDINATOR,
          event: 'timeout',
          stage: 'refining',
          attempt,
          reason: `refining attempt ${attempt} timed out after ${TIMEOUT.refining}ms`,
        },
        { at: iso(deadline), by: COORDINATOR, event: 'dispatched', stage: 'refining', attempt: attempt + 1 },
      ]);
      const item = t.outbox.at(-1)!;
      expect(item).toEqual({ msgId: dispatchId(ID, 'refining', attempt + 1), kind: 'dispatch', stage: 'refining', attempt: attempt + 1, round: 1 });
      expect(seen.has(item.msgId)).toBe(false);
      seen.add(item.msgId);
      d.sent();
    }
    d.later(7).start();
    d.now = Date.parse(d.t.work!.deadline) - T0;
    const t = d.tick()!;
    expect(t.state).toBe('failed');
    expect(t.failure).toEqual({
      code: 'stage_timeout',
      message: `refining attempt ${ATTEMPTS} timed out after ${TIMEOUT.refining}ms`,
      stage: 'refining',
    });
    expect(t.work).toBeNull();
    expect(t.timeline.slice(-2).map((e) => e.event)).toEqual(['timeout', 'transition']);
    expect(t.timeline.at(-1)).toMatchObject({ by: COORDINATOR, from: 'refining', to: 'failed', reason: expect.stringMatching(/^stage_timeout: /) });
    expect(d.later(1_000_000).tick()).toBeNull();
  });

  it('fails a parked ticket nobody answered with human_timeout', () => {
    const d = reach('awaiting_human');
    d.now = Date.parse(d.t.parked!.deadline) - T0;
    const t = d.tick()!;
    expect(t.state).toBe('failed');
    expect(t.failure).toEqual({ code: 'human_timeout', message: `no answer within ${HUMAN_TIMEOUT}ms`, stage: 'refining' });
    expect(t.parked).toBeNull();
    expect(t.timeline.at(-1)).toMatchObject({ event: 'transition', by: COORDINATOR, from: 'awaiting_human', to: 'failed' });
  });
});

describe('stage.completed', () => {
  it('advances a feature through every stage to pr_open, recording artifacts and dispatching each stage', () => {
    const d = reach('refining');
    const chain = ['refining', 'writing_tests', 'coding', 'reviewing'] as const;
    for (const [i, stage] of chain.entries()) {
      const ev = completed(stage, 1, advance({ stage, n: i }));
      d.later(1_000);
      const before = d.t;
      const t = d.must(ev);
      expect(t.artifacts[stage]).toEqual({ stage, n: i });
      expect(Object.keys(t.artifacts)).toEqual(chain.slice(0, i + 1));
      expect(t.applied.at(-1)).toBe(ev.id);
      const next = chain[i + 1];
      const newEntries = t.timeline.slice(before.timeline.length);
      if (next) {
        expect(t.state).toBe(next);
        expect(t.work).toEqual({ stage: next, attempt: 1, dispatchId: dispatchId(ID, next, 1), dispatchedAt: iso(d.now), deadline: iso(d.now + QUEUE), round: 1 });
        expect(t.outbox).toEqual([{ msgId: dispatchId(ID, next, 1), kind: 'dispatch', stage: next, attempt: 1, round: 1 }]);
        expect(newEntries).toEqual([
          { at: iso(d.now), by: `agent:${ROLE_OF_STAGE[stage]}`, event: 'transition', from: stage, to: next, reason: `${stage} done`, cause: ev.id },
          { at: iso(d.now), by: COORDINATOR, event: 'dispatched', stage: next, attempt: 1 },
        ]);
      } else {
        expect(t.state).toBe('pr_open');
        expect(t.work).toBeNull();
        expect(newEntries).toEqual([
          { at: iso(d.now), by: 'agent:reviewer', event: 'transition', from: 'reviewing', to: 'pr_open', reason: 'reviewing done', cause: ev.id },
        ]);
        expect(nextWake(t)).toBeNull();
      }
    }
    expect(d.t.outbox.map((o) => o.msgId)).toEqual([dispatchId(ID, 'reviewing', 1)]);
    expect(d.sent()!.outbox).toEqual([]);
  });

  it('takes an accepted bug from triaging straight to its reproduction test', () => {
    const d = reach('triaging');
    const t = d.complete(advance({ severity: 'high' }));
    expect(t.state).toBe('writing_tests');
    expect(t.artifacts).toEqual({ triaging: { severity: 'high' } });
    expect(t.outbox.at(-1)).toEqual({ msgId: dispatchId(ID, 'writing_tests', 1), kind: 'dispatch', stage: 'writing_tests', attempt: 1, round: 1 });
  });

  it('records no artifact for an advance without output', () => {
    const d = reach('refining');
    const t = d.complete({ kind: 'advance', output: undefined });
    expect(t.state).toBe('writing_tests');
    expect(t.artifacts).toEqual({});
  });

  it('parks an escalation in awaiting_human with its questions and a deadline', () => {
    const d = reach('writing_tests');
    d.later(7);
    const t = d.complete(escalate({ draft: 'tests so far' }));
    expect(t.state).toBe('awaiting_human');
    expect(t.work).toBeNull();
    expect(t.parked).toEqual({ from: 'writing_tests', questions: QUESTIONS, askedAt: iso(d.now), deadline: iso(d.now + HUMAN_TIMEOUT) });
    expect(t.artifacts.writing_tests).toEqual({ draft: 'tests so far' });
    expect(t.timeline.at(-1)).toMatchObject({ event: 'transition', from: 'writing_tests', to: 'awaiting_human', reason: QUESTIONS[0]!.text });
    expect(nextWake(t)).toBe(T0 + d.now + HUMAN_TIMEOUT);
  });

  it('sends work back from the reviewer to the coder, as a new dispatch of coding attempt 1', () => {
    const d = reach('reviewing');
    d.sent();
    const firstCoding = d.t.timeline.filter((e) => e.event === 'dispatched' && e.stage === 'coding');
    expect(firstCoding).toHaveLength(1);
    const ev = completed('reviewing', 1, { kind: 'send_back', to: 'coding', reason: 'handle the empty input', output: { comments: 2 } });
    const t = d.later(3).must(ev);
    expect(t.state).toBe('coding');
    expect(t.work).toMatchObject({ stage: 'coding', attempt: 1 });
    expect(t.artifacts.reviewing).toEqual({ comments: 2 });
    expect(t.timeline.at(-2)).toMatchObject({ event: 'transition', by: 'agent:reviewer', from: 'reviewing', to: 'coding', reason: 'handle the empty input', cause: ev.id });
    // Not the id of the first coding dispatch: the server would drop it as a duplicate.
    expect(t.outbox).toHaveLength(1);
    expect(t.outbox[0]!.msgId).not.toBe(dispatchId(ID, 'coding', 1));
    // A new round of coding: its attempts must not adopt the first round's commit.
    expect(t.outbox[0]).toMatchObject({ kind: 'dispatch', stage: 'coding', attempt: 1, round: 2 });
    expect(t.work?.round).toBe(2);
  });

  it.each([
    ['refining', 'reviewing'],
    ['coding', 'coding'],
    ['writing_tests', 'reviewing'],
  ] as const)('fails on an illegal send_back from %s to %s', (from, to) => {
    const d = reach(from);
    const before = d.t;
    const t = d.complete({ kind: 'send_back', to, reason: 'go there', output: { ignored: true } });
    expect(t.state).toBe('failed');
    expect(t.failure).toEqual({ code: 'illegal_outcome', message: `${from} cannot send work back to ${to}`, stage: from });
    expect(t.artifacts).toEqual(before.artifacts);
    expect(t.outbox).toEqual([]);
  });

  it('marks a bug duplicate from triaging', () => {
    const d = reach('triaging');
    const t = d.complete({ kind: 'duplicate', of: OTHER, reason: 'same crash as tk-abcdefghjk' });
    expect(t.state).toBe('duplicate');
    expect(t.duplicateOf).toBe(OTHER);
    expect(t.outbox).toEqual([]);
    expect(t.work).toBeNull();
    expect(t.timeline.at(-1)).toMatchObject({ event: 'transition', from: 'triaging', to: 'duplicate', reason: 'same crash as tk-abcdefghjk' });
    expect(nextWake(t)).toBeNull();
  });

  it('keeps the output of a duplicate outcome as the stage artifact', () => {
    const t = reach('triaging').complete({ kind: 'duplicate', of: OTHER, output: { classification: 'bug' } });
    expect(t.artifacts.triaging).toEqual({ classification: 'bug' });
  });

  it('fails a ticket marked a duplicate of itself', () => {
    const t = reach('triaging').complete({ kind: 'duplicate', of: ID });
    expect(t.state).toBe('failed');
    expect(t.failure).toEqual({ code: 'illegal_outcome', message: 'triaging marked the ticket a duplicate of itself', stage: 'triaging' });
    expect(t.duplicateOf).toBeUndefined();
  });

  it('closes a report that describes no bug as cancelled, with the reason and the triage kept', () => {
    const d = reach('triaging');
    const t = d.complete({ kind: 'close', reason: 'not a bug: the limit is documented', output: { classification: 'not_bug' } });
    expect(t.state).toBe('cancelled');
    expect(t.work).toBeNull();
    expect(t.outbox).toEqual([]);
    expect(t.artifacts.triaging).toEqual({ classification: 'not_bug' });
    expect(t.timeline.at(-1)).toMatchObject({ event: 'transition', from: 'triaging', to: 'cancelled', reason: 'not a bug: the limit is documented' });
    expect(nextWake(t)).toBeNull();
  });

  it('gives a duplicate without a reason a default one', () => {
    const t = reach('triaging').complete({ kind: 'duplicate', of: OTHER });
    expect(t.timeline.at(-1)?.reason).toBe(`duplicate of ${OTHER}`);
  });

  it('fails a duplicate outcome from a stage that cannot mark one', () => {
    const t = reach('refining').complete({ kind: 'duplicate', of: OTHER });
    expect(t.state).toBe('failed');
    expect(t.failure).toEqual({ code: 'illegal_outcome', message: 'refining cannot mark a ticket duplicate', stage: 'refining' });
    expect(t.duplicateOf).toBeUndefined();
  });
});

describe('the timeline', () => {
  it(`takes at most ${MAX_IGNORED_ENTRIES} ignored entries; later ignored events are still remembered`, () => {
    let t = reach('pr_open').t;
    for (let i = 0; i < MAX_IGNORED_ENTRIES + 30; i++) t = applyEvent(t, answered(`late answer ${i}`, 'human:ada', `late-${i}`), new Date(T0), policy)!;
    const ignored = t.timeline.filter((e) => e.event === 'ignored');
    expect(ignored).toHaveLength(MAX_IGNORED_ENTRIES);
    expect(ignored.at(-1)!.cause).toBe(`late-${MAX_IGNORED_ENTRIES - 1}`);
    expect(t.applied.at(-1)).toBe(`late-${MAX_IGNORED_ENTRIES + 29}`);
    expect(applyEvent(t, answered('again', 'human:ada', `late-${MAX_IGNORED_ENTRIES + 29}`), new Date(T0), policy)).toBeNull();
  });
});

describe('stage.usage', () => {
  it('counts the tokens of a delivery that ended without a result, and moves nothing', () => {
    const d = reach('refining');
    const before = d.t;
    const ev = envelope(
      StageUsage,
      { ticketId: ID, stage: 'refining', attempt: 1, usage: { inputTokens: 100, outputTokens: 20, totalTokens: 120, calls: 2 }, deliveries: 1 },
      { source: 'agent:refiner', correlationId: ID, id: 'usage-1' },
    );
    const t = applyEvent(before, { ...ev, type: StageUsage.type }, new Date(T0), policy)!;
    expect(t.usage.refiner).toEqual({ inputTokens: 100, outputTokens: 20, totalTokens: 120, calls: 2 });
    expect({ ...t, usage: before.usage, applied: before.applied, updatedAt: before.updatedAt }).toEqual(before);
    // Delivered again, it counts once.
    expect(applyEvent(t, { ...ev, type: StageUsage.type }, new Date(T0), policy)).toBeNull();
  });
});

describe('human.answered', () => {
  it('resumes the stage the ticket was parked from, at attempt 1, with the answer and who gave it', () => {
    const d = reach('refining');
    d.later(10).must(failed('refining', 1, retryable));
    expect(d.t.work?.attempt).toBe(2);
    d.sent();
    d.later(10).complete(escalate());
    expect(d.t.parked?.from).toBe('refining');
    const ev = answered('Both: -v and --verbose', 'human:alice');
    d.later(10);
    const before = d.t.timeline.length;
    const t = d.must(ev);
    expect(t.state).toBe('refining');
    expect(t.parked).toBeNull();
    expect(t.answers).toEqual([{ text: 'Both: -v and --verbose', by: 'human:alice', at: iso(d.now) }]);
    expect(t.work).toEqual({ stage: 'refining', attempt: 1, dispatchId: expect.stringMatching(/^tk-0123456789\.refining\.1\.r\d+$/), dispatchedAt: iso(d.now), deadline: iso(d.now + QUEUE), round: 2 });
    expect(t.timeline.slice(before)).toEqual([
      { at: iso(d.now), by: 'human:alice', event: 'answered', cause: ev.id },
      { at: iso(d.now), by: 'human:alice', event: 'transition', from: 'awaiting_human', to: 'refining', reason: 'answered', cause: ev.id },
      { at: iso(d.now), by: COORDINATOR, event: 'dispatched', stage: 'refining', attempt: 1 },
    ]);
    // A fresh Msg-Id: the first refining dispatch used dispatchId(ID, 'refining', 1).
    expect(t.outbox).toEqual([{ msgId: dispatchId(ID, 'refining', 1, 2), kind: 'dispatch', stage: 'refining', attempt: 1, round: 2 }]);
    expect(t.outbox[0]!.msgId).not.toBe(dispatchId(ID, 'refining', 1));
  });

  it('gives every dispatch of a ticket its own Msg-Id, however often a stage resumes', () => {
    const d = reach('refining');
    const ids = [d.t.outbox[0]!.msgId];
    for (let i = 0; i < 5; i++) {
      d.sent();
      d.later(1).complete(escalate());
      d.later(1).must(answered(`answer ${i}`));
      ids.push(d.t.outbox[0]!.msgId);
    }
    expect(new Set(ids).size).toBe(ids.length);
    expect(d.t.answers.map((a) => a.text)).toEqual(['answer 0', 'answer 1', 'answer 2', 'answer 3', 'answer 4']);
  });

  it.each([...NON_TERMINAL.filter((s) => s !== 'awaiting_human'), ...TERMINAL])('is ignored when the ticket is %s', (state) => {
    const d = reach(state);
    const before = d.t;
    const ev = answered('too late');
    d.later(5);
    const t = d.must(ev);
    expect(t).toEqual({
      ...before,
      applied: [...before.applied, ev.id],
      updatedAt: iso(d.now),
      timeline: [
        ...before.timeline,
        { at: iso(d.now), by: 'slack', event: 'ignored', reason: `human.answered: ticket is ${state}, not awaiting a human answer`, cause: ev.id },
      ],
    });
  });
});

describe('human.answered with a token budget', () => {
  /** A ticket parked on the token-budget question after the refiner spent `spent` tokens. */
  function overBudget(spent: number): Driver {
    const d = reach('refining');
    const w = d.t.work!;
    const usage = { inputTokens: spent - 100, outputTokens: 100, totalTokens: spent, calls: 3 };
    const meta = { id: freshId(), source: 'agent:refiner', correlationId: ID, causationId: w.dispatchId! };
    const data = { ticketId: ID, stage: 'refining' as const, attempt: w.attempt, usage, outcome: escalate() };
    d.later(10).must({ ...envelope(StageCompleted, data, meta), type: StageCompleted.type });
    expect(d.t.state).toBe('awaiting_human');
    return d;
  }

  it('sets the ticket budget, says so on the timeline, and resumes the stage with it', () => {
    const d = overBudget(1_200);
    expect(d.t.budget).toBeUndefined();
    const ev = answered('go on, with more tokens', 'cli:ana', freshId(), 600_000);
    const before = d.t.timeline.length;
    const t = d.later(10).must(ev);
    expect(t.budget).toBe(600_000);
    expect(t.state).toBe('refining');
    expect(t.answers.at(-1)).toEqual({ text: 'go on, with more tokens', by: 'cli:ana', at: iso(d.now) });
    expect(t.timeline[before]).toEqual({ at: iso(d.now), by: 'cli:ana', event: 'answered', cause: ev.id, reason: 'token budget set to 600000 (was the default)' });
    expect(t.outbox).toEqual([expect.objectContaining({ kind: 'dispatch', stage: 'refining', attempt: 1 })]);
    expect(Ticket.parse(t).budget).toBe(600_000);
  });

  it('keeps the budget through later answers that carry none, and takes a new one over it', () => {
    const d = overBudget(1_200);
    d.later(10).must(answered('more', 'cli:ana', freshId(), 5_000));
    d.sent();
    d.later(10).complete(escalate());
    d.later(10).must(answered('a plain answer'));
    expect(d.t.budget).toBe(5_000);
    d.sent();
    d.later(10).complete(escalate());
    const ev = answered('even more', 'slack:U1', freshId(), 9_000);
    d.later(10).must(ev);
    expect(d.t.budget).toBe(9_000);
    expect(d.t.timeline.find((e) => e.cause === ev.id && e.event === 'answered')?.reason).toBe('token budget set to 9000 (was 5000)');
  });

  it.each([
    [1_200, 'budget 1200 is not above the 1200 tokens the ticket has used already'],
    [800, 'budget 800 is not above the 1200 tokens the ticket has used already'],
  ])('refuses a budget of %i whole: the ticket stays parked, the answer is not taken', (budget, reason) => {
    const d = overBudget(1_200);
    const before = d.t;
    const ev = answered('resume', 'cli:ana', freshId(), budget);
    const t = d.later(10).must(ev);
    expect(t).toEqual({
      ...before,
      applied: [...before.applied, ev.id],
      updatedAt: iso(d.now),
      timeline: [...before.timeline, { at: iso(d.now), by: 'slack', event: 'ignored', reason: `human.answered: ${reason}`, cause: ev.id }],
    });
    // A usable budget afterwards is taken.
    expect(d.later(10).must(answered('resume', 'cli:ana', freshId(), 1_201)).budget).toBe(1_201);
  });

  it('refuses an out-of-range budget in the event schema, before the reducer sees it', () => {
    for (const budget of [0, -5, 1.5, 1_000_000_001]) {
      expect(HumanAnswered.data.safeParse({ ticketId: ID, text: 'x', by: 'a', budget }).success).toBe(false);
    }
    expect(HumanAnswered.data.safeParse({ ticketId: ID, text: 'x', by: 'a', budget: 1_000_000_000 }).success).toBe(true);
  });

  it('refuses a ticket record whose budget is not a positive whole number', () => {
    const d = overBudget(1_200);
    for (const budget of [0, 2.5, 'lots']) expect(Ticket.safeParse({ ...d.t, budget }).success).toBe(false);
  });
});

describe('stage.failed', () => {
  it('retries a retryable failure with attempts left: same stage, next attempt, a retry entry', () => {
    const d = reach('coding');
    const ev = failed('coding', 1, retryable);
    d.later(42);
    const before = d.t.timeline.length;
    const t = d.must(ev);
    expect(t.state).toBe('coding');
    expect(t.work).toEqual({ stage: 'coding', attempt: 2, dispatchId: dispatchId(ID, 'coding', 2), dispatchedAt: iso(d.now), deadline: iso(d.now + QUEUE), round: 1 });
    expect(t.outbox.at(-1)).toEqual({ msgId: dispatchId(ID, 'coding', 2), kind: 'dispatch', stage: 'coding', attempt: 2, round: 1 });
    expect(t.timeline.slice(before)).toEqual([
      { at: iso(d.now), by: 'agent:coder', event: 'retry', stage: 'coding', attempt: 1, reason: 'mirror_locked: the repository mirror stayed locked', cause: ev.id },
      { at: iso(d.now), by: COORDINATOR, event: 'dispatched', stage: 'coding', attempt: 2 },
    ]);
    expect(t.timeline.filter((e) => e.event === 'transition').at(-1)?.to).toBe('coding');
  });

  it('fails the ticket when a retryable failure comes from the last attempt', () => {
    const d = reach('coding');
    for (let attempt = 1; attempt < ATTEMPTS; attempt++) d.later(1).must(failed('coding', attempt, retryable));
    expect(d.t.work?.attempt).toBe(ATTEMPTS);
    const t = d.later(1).must(failed('coding', ATTEMPTS, retryable));
    expect(t.state).toBe('failed');
    expect(t.failure).toEqual({ code: 'mirror_locked', message: 'the repository mirror stayed locked', stage: 'coding' });
    expect(t.outbox).toEqual([]);
    expect(t.timeline.at(-1)).toMatchObject({ by: 'agent:coder', from: 'coding', to: 'failed', reason: 'mirror_locked: the repository mirror stayed locked' });
  });

  it('fails the ticket at once when the model endpoint kept failing through its deliveries: a new attempt would meet it again', () => {
    for (const code of ['model_unavailable', 'model_timeout']) {
      const d = reach('coding');
      const ev = failed('coding', 1, { ...endpointDown, code });
      const t = d.must(ev);
      expect(t.state).toBe('failed');
      expect(t.outbox).toEqual([]);
      expect(t.failure).toMatchObject({ code, stage: 'coding' });
      expect(t.failure!.message).toContain('the model endpoint answered 500 three times');
      expect(t.failure!.message).toContain('NIGHTSHIFT_MODEL_RETRIES');
    }
  });

  it('fails the ticket at once on a non-retryable failure, with its code', () => {
    const d = reach('refining');
    const ev = failed('refining', 1, fatal);
    const t = d.must(ev);
    expect(t.state).toBe('failed');
    expect(t.failure).toEqual({ code: 'bad_spec', message: 'no acceptance criteria', stage: 'refining' });
    expect(t.timeline.at(-1)).toMatchObject({ event: 'transition', to: 'failed', reason: 'bad_spec: no acceptance criteria', cause: ev.id });
  });
});

describe('usage', () => {
  it('adds the tokens a result reports to its role, also when the result is stale', () => {
    const d = reach('refining');
    const usage = { inputTokens: 100, outputTokens: 20, totalTokens: 120, calls: 2 };
    const stale = { ...completed('refining', 7, advance()), data: { ticketId: ID, stage: 'refining' as const, attempt: 7, outcome: advance(), usage } };
    d.later(1).must(stale as CoordinatorEvent);
    expect(d.t.usage).toEqual({ refiner: usage });
    const done = { ...completed('refining', 1, advance()), data: { ticketId: ID, stage: 'refining' as const, attempt: 1, outcome: advance(), usage } };
    d.later(1).must(done as CoordinatorEvent);
    expect(d.t.usage).toEqual({ refiner: { inputTokens: 200, outputTokens: 40, totalTokens: 240, calls: 4 } });
    expect(applyEvent(d.t, done as CoordinatorEvent, new Date(T0), policy)).toBeNull();
  });
});

describe('stale results', () => {
  const stale: [string, (d: Driver) => CoordinatorEvent][] = [
    ['completion of an earlier attempt', () => completed('refining', 1, advance())],
    ['completion of a later attempt', () => completed('refining', 3, advance())],
    ['completion of another stage', () => completed('coding', 2, advance())],
    ['failure of an earlier attempt', () => failed('refining', 1, fatal)],
    ['failure of another stage', () => failed('triaging', 2, fatal)],
  ];

  it.each(stale)('ignores the %s', (_what, make) => {
    const d = reach('refining');
    d.later(1).must(failed('refining', 1, retryable));
    expect(d.t.work?.attempt).toBe(2);
    const before = d.t;
    const ev = make(d);
    d.later(1);
    const t = d.must(ev);
    const { stage, attempt } = ev.data as { stage: Stage; attempt: number };
    expect(t).toEqual({
      ...before,
      applied: [...before.applied, ev.id],
      updatedAt: iso(d.now),
      timeline: [
        ...before.timeline,
        {
          at: iso(d.now),
          by: ev.source,
          event: 'ignored',
          reason: `${ev.type}: stale result for ${stage} attempt ${attempt} (ticket is refining, refining attempt 2)`,
          cause: ev.id,
        },
      ],
    });
  });

  it.each([
    ['no causation', null],
    ['another ticket\'s dispatch', dispatchId(OTHER, 'refining', 1)],
    ['a made-up dispatch', 'forged'],
  ])('ignores a result that answers %s', (_what, causationId) => {
    const d = reach('refining');
    const forged = { ...completed('refining', 1, advance()), causationId };
    const t = d.later(1).must(forged);
    expect(t.state).toBe('refining');
    expect(t.timeline.at(-1)).toMatchObject({ event: 'ignored', cause: forged.id });
    expect(d.later(1).must(failed('refining', 1, fatal, freshId(), 'forged')).state).toBe('refining');
  });

  it('ignores a result caused by an earlier dispatch of the same stage and attempt (an older round)', () => {
    const d = reach('awaiting_human');
    d.later(1).must(answered('use --verbose'));
    expect(d.t.work).toMatchObject({ stage: 'refining', attempt: 1, dispatchId: `${dispatchId(ID, 'refining', 1)}.r2` });
    const old = { ...completed('refining', 1, advance()), causationId: dispatchId(ID, 'refining', 1) };
    const t = d.later(1).must(old);
    expect(t.state).toBe('refining');
    expect(t.timeline.at(-1)).toMatchObject({ event: 'ignored', cause: old.id });
    const current = { ...completed('refining', 1, advance()), causationId: `${dispatchId(ID, 'refining', 1)}.r2` };
    expect(d.later(1).must(current).state).toBe('writing_tests');
  });

  it.each(['awaiting_human', 'pr_open', 'failed', 'cancelled', 'duplicate'] as const)('ignores any result while %s', (state) => {
    const d = reach(state);
    for (const stage of STAGES) {
      const before = d.t;
      const t = d.must(completed(stage, 1, advance()));
      expect(t.state).toBe(before.state);
      expect(t.timeline.at(-1)).toMatchObject({ event: 'ignored', reason: expect.stringContaining(`(ticket is ${state})`) });
      expect(d.must(failed(stage, 1, fatal)).state).toBe(before.state);
    }
  });
});

describe('cancel', () => {
  it.each(NON_TERMINAL)('cancels a ticket in %s and empties its outbox', (state) => {
    const d = reach(state);
    const ev = cancel('human:bob', 'no longer needed');
    d.later(9);
    const before = d.t.timeline.length;
    const t = d.must(ev);
    expect(t.state).toBe('cancelled');
    expect(t.outbox).toEqual([]);
    expect(t.work).toBeNull();
    expect(t.parked).toBeNull();
    expect(t.timeline.slice(before)).toEqual([
      { at: iso(d.now), by: 'cli', event: 'cancel_requested', reason: 'no longer needed', cause: ev.id },
      { at: iso(d.now), by: 'human:bob', event: 'transition', from: state, to: 'cancelled', reason: 'no longer needed', cause: ev.id },
    ]);
    expect(nextWake(t)).toBeNull();
    expect(d.later(1e9).tick()).toBeNull();
  });

  it('gives a cancellation without a reason a default one', () => {
    const t = reach('coding').must(cancel('human:bob'));
    expect(t.timeline.at(-1)?.reason).toBe('cancelled on request');
  });

  it.each(TERMINAL)('ignores a cancellation of a %s ticket', (state) => {
    const d = reach(state);
    const before = d.t;
    const ev = cancel();
    const t = d.must(ev);
    expect(t.state).toBe(state);
    expect(t.timeline.slice(before.timeline.length)).toEqual([
      { at: iso(d.now), by: 'cli', event: 'ignored', reason: `ticket.cancel_requested: ticket is already ${state}`, cause: ev.id },
    ]);
    expect(t.failure).toEqual(before.failure);
  });
});

describe('pull request events', () => {
  /** A ticket in pr_open whose pull request people reviewed once: back in coding with the feedback. */
  function sentBack(): { d: Driver; ev: CoordinatorEvent } {
    const d = reach('pr_open');
    const ev = changesRequested();
    d.later(5).must(ev);
    return { d, ev };
  }

  it('sends a pr_open ticket back to the coder with the comments as the reason and in the pr_feedback artifact', () => {
    const d = reach('pr_open');
    const firstCoding = dispatchId(ID, 'coding', 1);
    const before = d.t;
    const ev = changesRequested();
    d.later(5);
    const t = d.must(ev);
    expect(t.state).toBe('coding');
    expect(t.work).toMatchObject({ stage: 'coding', attempt: 1 });
    expect(t.outbox).toHaveLength(1);
    expect(t.outbox[0]!.msgId).not.toBe(firstCoding);
    expect(t.artifacts[PR_FEEDBACK]).toEqual({ number: PR, pending: REVIEW_COMMENTS, handled: ['review:80', 'comment:1'], rounds: 1 });
    expect(t.artifacts.reviewing).toEqual(before.artifacts.reviewing);
    expect(t.timeline.slice(before.timeline.length)).toEqual([
      {
        at: iso(d.now),
        by: 'github:octocat',
        event: 'transition',
        from: 'pr_open',
        to: 'coding',
        reason: 'changes requested on pull request #42:\n- github:octocat: Handle the empty input too.\n- github:octocat (src/cli.ts:27): Exit code 2 here.',
        cause: ev.id,
      },
      { at: iso(d.now), by: COORDINATOR, event: 'dispatched', stage: 'coding', attempt: 1 },
    ]);
  });

  it('keeps the feedback pending through the coder and a reviewer send-back, and clears it once the pull request is updated', () => {
    const { d } = sentBack();
    d.later(1).complete();
    expect(d.t.state).toBe('reviewing');
    d.later(1).complete({ kind: 'send_back', to: 'coding', reason: 'still misses the empty input' });
    expect((d.t.artifacts[PR_FEEDBACK] as { pending: unknown[] }).pending).toEqual(REVIEW_COMMENTS);
    d.later(1).complete();
    const t = d.later(1).complete(advance({ verdict: 'approve' }));
    expect(t.state).toBe('pr_open');
    expect(t.artifacts[PR_FEEDBACK]).toEqual({ number: PR, pending: [], handled: ['review:80', 'comment:1'], rounds: 1 });
  });

  it('acts on a review once: the same feedback delivered again later (another delivery id) changes nothing but the timeline', () => {
    const { d } = sentBack();
    d.later(1).complete();
    d.later(1).complete();
    expect(d.t.state).toBe('pr_open');
    const before = d.t;
    const again = changesRequested(REVIEW_COMMENTS.slice(1), ['review:80', 'comment:1']);
    const t = d.later(1).must(again);
    expect(t.state).toBe('pr_open');
    expect(t.artifacts).toEqual(before.artifacts);
    expect(t.outbox).toEqual(before.outbox);
    expect(t.timeline.slice(before.timeline.length)).toEqual([
      { at: iso(d.now), by: 'github', event: 'ignored', reason: 'pr.changes_requested: feedback review:80, comment:1 was already acted on', cause: again.id },
    ]);
    // A new review is new feedback: a second round, the handled ids kept.
    const next = d.later(1).must(changesRequested([{ by: 'github:hubot', text: 'Rename the flag.' }], ['review:81']));
    expect(next.state).toBe('coding');
    expect(next.artifacts[PR_FEEDBACK]).toEqual({
      number: PR,
      pending: [{ by: 'github:hubot', text: 'Rename the flag.' }],
      handled: ['review:80', 'comment:1', 'review:81'],
      rounds: 2,
    });
  });

  it.each(['refining', 'coding', 'reviewing', 'awaiting_human', 'done', 'cancelled', 'failed'] as const)('ignores changes requested while %s', (state) => {
    const d = reach(state);
    const before = d.t;
    const ev = changesRequested();
    const t = d.later(1).must(ev);
    expect(t).toEqual({
      ...before,
      applied: [...before.applied, ev.id],
      updatedAt: iso(d.now),
      timeline: [...before.timeline, { at: iso(d.now), by: 'github', event: 'ignored', reason: `pr.changes_requested: ticket is ${state}, not pr_open`, cause: ev.id }],
    });
  });

  it('ignores the comments of a review that arrive after its first event moved the ticket (the comment events of the same review)', () => {
    const { d } = sentBack();
    const t = d.later(1).must(changesRequested(REVIEW_COMMENTS.slice(1), ['review:80', 'comment:1']));
    expect(t.state).toBe('coding');
    expect(t.timeline.at(-1)).toMatchObject({ event: 'ignored', reason: 'pr.changes_requested: ticket is coding, not pr_open' });
  });

  it('finishes a pr_open ticket as done when its pull request is merged', () => {
    const d = reach('pr_open');
    const ev = merged();
    const t = d.later(3).must(ev);
    expect(t.state).toBe('done');
    expect(t.work).toBeNull();
    expect(t.outbox).toEqual([]);
    expect(t.timeline.at(-1)).toEqual({ at: iso(d.now), by: 'github:octocat', event: 'transition', from: 'pr_open', to: 'done', reason: 'pull request #42 merged', cause: ev.id });
    expect(nextWake(t)).toBeNull();
  });

  it('cancels a pr_open ticket whose pull request is closed without merging', () => {
    const d = reach('pr_open');
    const ev = closed();
    const t = d.later(3).must(ev);
    expect(t.state).toBe('cancelled');
    expect(t.timeline.at(-1)).toEqual({ at: iso(d.now), by: 'github:hubot', event: 'transition', from: 'pr_open', to: 'cancelled', reason: 'pull request #42 closed without merging', cause: ev.id });
  });

  it.each([
    ['merged', merged, 'done', 'pull request #42 was merged while nightshift worked on feedback; that work is dropped'],
    ['closed', closed, 'cancelled', 'pull request #42 closed without merging'],
  ] as const)('stops the feedback work in flight when the pull request is %s (%s), outbox emptied', (_what, make, state, reason) => {
    const { d } = sentBack();
    expect(d.t.outbox).toHaveLength(1);
    const t = d.later(1).must(make());
    expect(t.state).toBe(state);
    expect(t.outbox).toEqual([]);
    expect(t.work).toBeNull();
    expect(t.timeline.at(-1)).toMatchObject({ event: 'transition', from: 'coding', to: state, reason });
  });

  it.each(['refining', 'coding', 'reviewing', 'awaiting_human'] as const)('ignores a merge or close while %s before any pull request', (state) => {
    const d = reach(state);
    for (const ev of [merged(), closed()]) {
      const t = d.later(1).must(ev);
      expect(t.state).toBe(state);
      expect(t.timeline.at(-1)).toMatchObject({ event: 'ignored', reason: `${ev.type}: ticket is ${state}, not pr_open` });
    }
  });

  it('ignores a close of another pull request number while working on feedback', () => {
    const { d } = sentBack();
    const t = d.later(1).must(closed(freshId(), PR + 1));
    expect(t.state).toBe('coding');
    expect(t.timeline.at(-1)).toMatchObject({ event: 'ignored' });
  });

  it.each(TERMINAL)('ignores a merge or close of a %s ticket', (state) => {
    const d = reach(state);
    for (const ev of [merged(), closed()]) {
      const before = d.t;
      const t = d.later(1).must(ev);
      expect(t.state).toBe(state);
      expect(t.timeline.slice(before.timeline.length)).toEqual([
        { at: iso(d.now), by: 'github', event: 'ignored', reason: `${ev.type}: ticket is ${state}, not pr_open`, cause: ev.id },
      ]);
    }
  });
});

describe('redeliveries', () => {
  const cases: [string, State, () => CoordinatorEvent][] = [
    ['stage.completed (advance)', 'refining', () => completed('refining', 1, advance())],
    ['stage.completed (escalate)', 'coding', () => completed('coding', 1, escalate())],
    ['stage.completed (send_back)', 'reviewing', () => completed('reviewing', 1, { kind: 'send_back', to: 'coding', reason: 'fix it' })],
    ['stage.completed (duplicate)', 'triaging', () => completed('triaging', 1, { kind: 'duplicate', of: OTHER })],
    ['stage.completed (stale, ignored)', 'refining', () => completed('reviewing', 4, advance())],
    ['stage.failed (retryable)', 'refining', () => failed('refining', 1, retryable)],
    ['stage.failed (fatal)', 'refining', () => failed('refining', 1, fatal)],
    ['human.answered', 'awaiting_human', () => answered('yes')],
    ['human.answered (not parked, ignored)', 'coding', () => answered('yes')],
    ['ticket.cancel_requested', 'writing_tests', () => cancel()],
    ['ticket.cancel_requested (terminal, ignored)', 'failed', () => cancel()],
    ['pr.changes_requested', 'pr_open', () => changesRequested()],
    ['pr.changes_requested (not pr_open, ignored)', 'coding', () => changesRequested()],
    ['pr.merged', 'pr_open', () => merged()],
    ['pr.merged (terminal, ignored)', 'done', () => merged()],
    ['pr.closed', 'pr_open', () => closed()],
  ];

  it.each(cases)('applies %s once: the same event id again changes nothing', (_what, state, make) => {
    const d = reach(state);
    const ev = make();
    const once = d.later(1).must(ev);
    expect(once.applied.at(-1)).toBe(ev.id);
    expect(applyEvent(once, ev, d.later(1).at(), policy)).toBeNull();
    expect(applyEvent(once, { ...ev, ts: iso(d.now) }, d.later(1_000_000).at(), policy)).toBeNull();
  });

  it('recognises a redelivery after other events were applied in between', () => {
    const d = reach('refining');
    const first = completed('refining', 1, advance());
    d.must(first);
    d.complete();
    d.must(answered('stray'));
    expect(d.apply(first)).toBeNull();
  });

  it(`remembers the last ${APPLIED_BOUND} event ids, newest last`, () => {
    const d = reach('awaiting_human');
    const ids: string[] = [];
    for (let i = 0; i < APPLIED_BOUND + 50; i++) {
      const ev = completed('coding', 1, advance());
      ids.push(ev.id);
      d.must(ev);
    }
    expect(d.t.applied).toHaveLength(APPLIED_BOUND);
    expect(d.t.applied).toEqual(ids.slice(-APPLIED_BOUND));
    expect(d.t.state).toBe('awaiting_human');
  });
});

describe('outboxSent', () => {
  it('keeps only the newest dispatch: superseded unsent work is dropped, not sent late', () => {
    const d = reach('coding');
    expect(d.t.outbox).toEqual([{ msgId: dispatchId(ID, 'coding', 1), kind: 'dispatch', stage: 'coding', attempt: 1, round: 1 }]);
  });

  it('removes the items sent and keeps the others', () => {
    const d = reach('coding');
    const extra = { msgId: 'other', kind: 'dispatch' as const, stage: 'coding' as const, attempt: 1 };
    const before = { ...d.t, outbox: [...d.t.outbox, extra] };
    const t = outboxSent(before, [dispatchId(ID, 'coding', 1)])!;
    expect(t.outbox).toEqual([extra]);
    expect({ ...t, outbox: before.outbox }).toEqual(before);
  });

  it('changes nothing when none of the ids is in the outbox', () => {
    const d = reach('coding');
    expect(outboxSent(d.t, [])).toBeNull();
    expect(outboxSent(d.t, ['tk-0123456789.reviewing.1', 'unknown'])).toBeNull();
    d.sent();
    expect(outboxSent(d.t, [dispatchId(ID, 'coding', 1)])).toBeNull();
  });
});

describe('nextWake', () => {
  it('is the creation time, the work deadline or the answer deadline, else null', () => {
    expect(nextWake(reach('received').t)).toBe(T0);
    const coding = reach('coding').t;
    expect(nextWake(coding)).toBe(Date.parse(coding.work!.deadline));
    const parked = reach('awaiting_human').t;
    expect(nextWake(parked)).toBe(Date.parse(parked.parked!.deadline));
    for (const state of ['pr_open', ...TERMINAL] as const) expect(nextWake(reach(state).t)).toBeNull();
  });
});

// ---- property ---------------------------------------------------------------------------------

/** mulberry32: a small seeded PRNG, so every run replays the same sequence. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

describe('any sequence of events and ticks', () => {
  const STEPS = 2_000;

  it.each([1, 2, 3, 4, 5, 42])('keeps every invariant (seed %i)', (seed) => {
    const rnd = prng(seed);
    const int = (n: number) => Math.floor(rnd() * n);
    const pick = <T,>(xs: readonly T[]): T => xs[int(xs.length)]!;
    const visited = new Set<State>();
    const kinds = new Map<string, number>();
    let tickets = 0;
    let t!: Ticket;
    let now = 0;
    let msgIds = new Set<string>();
    let recent: CoordinatorEvent[] = [];
    let sinceRest = 0;

    const fresh = () => {
      tickets += 1;
      t = newTicket(ID, request(pick(['feature', 'bug', 'chore'] as const)), new Date(T0 + now), 'intake:prop');
      msgIds = new Set();
      recent = [];
      sinceRest = 0;
    };
    fresh();

    for (let step = 0; step < STEPS; step++) {
      // A ticket at rest (only a human or the forge moves pr_open on) gives way to a new one after a while.
      if ((isTerminal(t.state) || t.state === 'pr_open') && ++sinceRest > 6) fresh();
      now += int(2_000);
      const prev = t;
      let next: Ticket | null;
      let kind: string;
      const r = rnd();
      if (r < 0.2) {
        kind = 'tick';
        const wake = nextWake(t);
        if (wake !== null && rnd() < 0.4) now = Math.max(now, wake - T0 + int(3));
        next = tick(t, new Date(T0 + now), policy);
      } else if (r < 0.24 && recent.length > 0) {
        kind = 'redelivery';
        const ev = pick(recent);
        next = applyEvent(t, ev, new Date(T0 + now), policy);
        if (t.applied.includes(ev.id) && next !== null) throw new Error(`seed ${seed} step ${step}: redelivered ${ev.id} was applied again`);
      } else if (r < 0.3) {
        kind = 'outboxSent';
        const ids = t.outbox.filter(() => rnd() < 0.7).map((o) => o.msgId);
        next = outboxSent(t, rnd() < 0.1 ? ['nope'] : ids);
      } else {
        let ev: CoordinatorEvent;
        const e = rnd();
        const work = t.work;
        if (work && e < 0.55) {
          const o = rnd();
          let outcome: StageOutcome;
          if (o < 0.7) outcome = advance({ step });
          else if (o < 0.8) outcome = escalate(rnd() < 0.5 ? { step } : undefined);
          else if (o < (work.stage === 'triaging' ? 0.85 : 0.93)) outcome = { kind: 'send_back', to: pick(STAGES), reason: `step ${step}` };
          else if (o < 0.97) outcome = { kind: 'duplicate', of: OTHER };
          else outcome = { kind: 'close', reason: `step ${step}` };
          ev = completed(work.stage, work.attempt, outcome, freshId(), work.dispatchId);
          kind = `completed:${outcome.kind}`;
        } else if (work && e < 0.68) {
          ev = failed(work.stage, work.attempt, rnd() < 0.85 ? retryable : fatal, freshId(), work.dispatchId);
          kind = 'failed';
        } else if ((t.state === 'pr_open' && e < 0.9) || (e >= 0.68 && e < 0.72)) {
          const p = rnd();
          // Feedback ids from a small pool, so the same review often arrives again.
          if (p < 0.6) ev = changesRequested([{ by: 'github:octocat', text: `step ${step}` }], [`review:${int(6)}`, ...(rnd() < 0.5 ? [`comment:${int(6)}`] : [])]);
          else if (p < 0.8) ev = merged();
          else ev = closed();
          kind = ev.type;
        } else if ((t.state === 'awaiting_human' && e < 0.7) || (e >= 0.9 && e < 0.995)) {
          ev = answered(`answer at step ${step}`, pick(['human:alice', 'human:bob']));
          kind = 'answered';
        } else if (e < 0.995) {
          const stage = pick(STAGES);
          const attempt = 1 + int(ATTEMPTS + 1);
          ev = rnd() < 0.6 ? completed(stage, attempt, advance()) : failed(stage, attempt, retryable);
          kind = 'maybe-stale';
        } else {
          ev = cancel('human:carol', rnd() < 0.5 ? 'enough' : undefined);
          kind = 'cancel';
        }
        next = applyEvent(t, ev, new Date(T0 + now), policy);
        if (!next) throw new Error(`seed ${seed} step ${step}: a new ${ev.type} changed nothing`);
        if (next.applied.at(-1) !== ev.id) throw new Error(`seed ${seed} step ${step}: ${ev.id} not remembered`);
        recent = [...recent, ev].slice(-40);
      }
      kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
      if (next) {
        const problems = violations(next, prev);
        if (problems.length > 0) throw new Error(`seed ${seed} step ${step} (${kind}, ${prev.state} -> ${next.state}): ${problems.join('; ')}`);
        for (const o of next.outbox) {
          if (prev.outbox.some((p) => p.msgId === o.msgId)) continue;
          if (msgIds.has(o.msgId)) throw new Error(`seed ${seed} step ${step}: dispatch id ${o.msgId} issued twice`);
          msgIds.add(o.msgId);
        }
        t = next;
      }
      visited.add(t.state);
    }

    // The walk went everywhere an event can take a ticket, so the invariants were tested there.
    expect([...visited].sort()).toEqual([...STATES].sort());
    expect(tickets).toBeGreaterThan(5);
    for (const k of ['tick', 'redelivery', 'outboxSent', 'completed:advance', 'completed:escalate', 'completed:send_back', 'failed', 'maybe-stale', 'answered', 'cancel', 'pr.changes_requested', 'pr.merged', 'pr.closed']) {
      expect(kinds.get(k) ?? 0, k).toBeGreaterThan(0);
    }
  }, scaled(60_000));

  it('keeps the applied ids bounded on a ticket that lives long', () => {
    const rnd = prng(7);
    let t = newTicket(ID, request(), new Date(T0), 'intake:prop');
    t = tick(t, new Date(T0), policy)!;
    for (let step = 0; step < 1_000; step++) {
      const ev = rnd() < 0.5 ? answered(`a${step}`) : completed(pick(), 1 + Math.floor(rnd() * 5), advance());
      const next = applyEvent(t, ev, new Date(T0 + step), policy);
      if (!next) throw new Error(`step ${step}: nothing changed`);
      const problems = violations(next, t);
      if (problems.length > 0) throw new Error(`step ${step}: ${problems.join('; ')}`);
      t = next;
    }
    expect(t.applied).toHaveLength(APPLIED_BOUND);
    function pick(): Stage {
      // Never the current refining attempt 1, so the ticket stays put and every event is stale.
      return STAGES.filter((s) => s !== 'refining')[Math.floor(rnd() * 4)]!;
    }
    // A thousand steps take well under a second alone; a busy 2-core machine may take many times that.
  }, scaled(60_000));
});

describe('stage deadlines: the queue timeout until an agent starts, then the stage timeout', () => {
  it('bounds a dispatch nobody has started by the queue timeout', () => {
    const d = reach('refining');
    expect(d.t.work?.startedAt).toBeUndefined();
    expect(nextWake(d.t)).toBe(Date.parse(d.t.work!.dispatchedAt) + QUEUE);
  });

  it('starts the stage timeout when an agent starts the current dispatch', () => {
    const d = reach('refining');
    const dispatched = Date.parse(d.t.work!.dispatchedAt) - T0;
    d.later(50_000);
    const ev = startedEv(d.t, d.now);
    const t = d.must(ev);
    expect(t.state).toBe('refining');
    expect(t.work).toMatchObject({ startedAt: iso(d.now), deadline: iso(d.now + TIMEOUT.refining), dispatchedAt: iso(dispatched) });
    expect(t.timeline.at(-1)).toEqual({ at: iso(d.now), by: 'agent:refiner', event: 'started', stage: 'refining', attempt: 1, cause: ev.id });
    expect(nextWake(t)).toBe(T0 + d.now + TIMEOUT.refining);
    // Queued for longer than the stage timeout, then started: not timed out.
    d.now = dispatched + QUEUE - 1;
    expect(d.tick()).toBeNull();
  });

  it('keeps the start between the dispatch and now, whatever the agent clock says', () => {
    const early = reach('refining');
    const dispatched = Date.parse(early.t.work!.dispatchedAt) - T0;
    early.later(100);
    expect(early.must(startedEv(early.t, dispatched - 60_000)).work?.startedAt).toBe(iso(dispatched));
    const late = reach('refining');
    late.later(100);
    expect(late.must(startedEv(late.t, late.now + 3_600_000)).work?.startedAt).toBe(iso(late.now));
  });

  it('restarts the stage timeout on a redelivery that starts again', () => {
    const d = reach('coding');
    d.later(10).start();
    d.later(TIMEOUT.coding - 1);
    const t = d.must(startedEv(d.t, d.now, { deliveries: 2 }));
    expect(t.work?.deadline).toBe(iso(d.now + TIMEOUT.coding));
  });

  it.each([
    ['another dispatch of the same stage and attempt', { causationId: 'tk-0123456789.refining.1.r7' }],
    ['no causation', { causationId: null }],
  ] as const)('changes nothing for a start naming %s', (_what, opts) => {
    const d = reach('refining');
    expect(d.later(10).apply(startedEv(d.t, d.now, opts))).toBeNull();
    expect(d.t.work?.startedAt).toBeUndefined();
  });

  it('changes nothing for the start of an earlier attempt, nor for a start that comes after the result or the cancel', () => {
    const d = reach('refining');
    const first = d.t;
    d.later(10).must(failed('refining', 1, retryable));
    expect(d.later(10).apply(startedEv(first, d.now))).toBeNull();
    expect(d.t.work).toMatchObject({ attempt: 2 });
    expect(d.t.work?.startedAt).toBeUndefined();
    // The start raced the result (two coordinators, or a fast handler): the completed attempt stays completed.
    const second = d.t;
    d.later(10).complete();
    expect(d.later(10).apply(startedEv(second, d.now))).toBeNull();
    expect(d.t.state).toBe('writing_tests');
    const running = d.t;
    d.later(10).must(cancel());
    expect(d.later(10).apply(startedEv(running, d.now))).toBeNull();
    expect(d.t.timeline.filter((e) => e.event === 'ignored')).toEqual([]);
  });

  it('dispatches again an attempt nobody started in time, and fails with queue_timeout after the last', () => {
    const d = reach('refining');
    for (let attempt = 1; attempt < ATTEMPTS; attempt++) {
      d.now = Date.parse(d.t.work!.deadline) - T0;
      const t = d.tick()!;
      expect(t.work).toMatchObject({ attempt: attempt + 1, deadline: iso(d.now + QUEUE), round: 1 });
      expect(t.timeline.at(-2)).toMatchObject({
        event: 'timeout',
        attempt,
        reason: `refining attempt ${attempt} was not started within the queue timeout of ${QUEUE}ms`,
      });
      d.sent();
    }
    d.now = Date.parse(d.t.work!.deadline) - T0;
    const t = d.tick()!;
    expect(t.state).toBe('failed');
    expect(t.failure).toEqual({ code: 'queue_timeout', message: `refining attempt ${ATTEMPTS} was not started within the queue timeout of ${QUEUE}ms`, stage: 'refining' });
  });
});

describe('stage rounds', () => {
  it('keeps the round across retries of a stage and starts a new one when the stage is entered again', () => {
    const d = reach('coding');
    expect(d.t.work).toMatchObject({ stage: 'coding', attempt: 1, round: 1 });
    d.later(10).must(failed('coding', 1, retryable));
    expect(d.t.work).toMatchObject({ attempt: 2, round: 1 });
    d.now = Date.parse(d.t.work!.deadline) - T0;
    d.tick();
    expect(d.t.work).toMatchObject({ attempt: 3, round: 1 });
    d.later(10).complete();
    d.later(10).complete({ kind: 'send_back', to: 'coding', reason: 'handle the empty input' });
    expect(d.t.work).toMatchObject({ stage: 'coding', attempt: 1, round: 2 });
    expect(d.t.outbox).toEqual([expect.objectContaining({ stage: 'coding', attempt: 1, round: 2 })]);
    d.later(10).must(failed('coding', 1, retryable, freshId(), d.t.work!.dispatchId));
    expect(d.t.work).toMatchObject({ attempt: 2, round: 2 });
  });
});
