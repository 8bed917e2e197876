import {
  CancelRequested,
  publishEvent,
  envelope,
  HumanAnswered,
  isNoResponders,
  requestIntake,
  TicketStore,
  type Bus,
  type EventOrigin,
} from '../bus/index.ts';
import { TriagingOutput, type Classification, type Triage } from '../agents/kit/artifacts.ts';
import {
  budgetProblem,
  delay,
  IntakeReply,
  isTerminal,
  parseBudget,
  TicketId,
  UsageError,
  UserInputError,
  type State,
  type Ticket,
  type TimelineEntry,
} from '../shared/index.ts';

/** Posts an intake payload (already-encoded bytes are sent as they are) and returns the reply. */
export function createTicket(bus: Bus, payload: unknown, timeoutMs = 30_000): Promise<IntakeReply> {
  return postIntake(bus, bus.subjects.ticketIntake, payload, timeoutMs);
}

/** Posts a bug report (already-encoded bytes are sent as they are) to bug intake and returns the reply. */
/**
 * Posts to intake, retrying while no coordinator serves it yet (a stack that is still starting), for
 * up to `timeoutMs`.
 */
export async function createTicketWhenServed(bus: Bus, payload: unknown, signal: AbortSignal, timeoutMs = 60_000): Promise<IntakeReply> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await createTicket(bus, payload);
    } catch (err) {
      if (!(err instanceof UserInputError && err.code === 'no_coordinator') || Date.now() > deadline || signal.aborted) throw err;
      await delay(250, signal);
    }
  }
}

export function reportBug(bus: Bus, payload: unknown, timeoutMs = 30_000): Promise<IntakeReply> {
  return postIntake(bus, bus.subjects.bugIntake, payload, timeoutMs);
}

async function postIntake(bus: Bus, subject: string, payload: unknown, timeoutMs: number): Promise<IntakeReply> {
  try {
    return await requestIntake(bus, subject, payload, timeoutMs);
  } catch (err) {
    if (isNoResponders(err)) {
      throw new UserInputError('no_coordinator', `no coordinator is serving ${subject}; start one with \`nightshift up\` or \`nightshift coordinator\``);
    }
    throw err;
  }
}

/** How triage ended for a ticket: its classification, `duplicate`, or `pending` while a bug is not yet triaged. */
export type TriageOutcome = Classification | 'duplicate' | 'pending';

/** The triage result a ticket carries, if any. */
export function triageOf(t: Ticket): Triage | undefined {
  const parsed = TriagingOutput.safeParse(t.artifacts.triaging);
  return parsed.success ? parsed.data.triage : undefined;
}

/** A ticket's triage outcome; undefined for a ticket that was never a bug report. */
export function triageOutcome(t: Ticket): TriageOutcome | undefined {
  if (t.state === 'duplicate') return 'duplicate';
  const triage = triageOf(t);
  if (triage) return triage.classification;
  return t.type === 'bug' ? 'pending' : undefined;
}

/** Counts of triage outcomes over tickets, every outcome named (zero included). */
export function triageCounts(tickets: readonly Ticket[]): Record<TriageOutcome, number> {
  const counts: Record<TriageOutcome, number> = { bug: 0, not_bug: 0, needs_info: 0, duplicate: 0, pending: 0 };
  for (const t of tickets) {
    const o = triageOutcome(t);
    if (o) counts[o] += 1;
  }
  return counts;
}

/** Ids of the tickets marked duplicates of `id`, oldest first. */
export function duplicatesOf(tickets: readonly Ticket[], id: string): string[] {
  return tickets.filter((t) => t.duplicateOf === id).map((t) => t.id);
}

/** Throws a UsageError (exit 2) when `id` is not a ticket id at all. */
export function checkTicketId(id: string): string {
  if (!TicketId.safeParse(id).success) throw new UsageError(`"${id}" is not a ticket id (tk- and ten characters)`, 'invalid_ticket_id');
  return id;
}

/** The ticket with this id; throws a clear error for a malformed or unknown id. */
export async function getTicket(bus: Bus, id: string): Promise<Ticket> {
  checkTicketId(id);
  const stored = await new TicketStore(await bus.tickets()).get(id);
  if (!stored) throw new UserInputError('ticket_not_found', `no ticket ${id}`);
  return stored.ticket;
}

export async function listTickets(bus: Bus, filter: { states?: readonly State[] } = {}): Promise<Ticket[]> {
  const all = await new TicketStore(await bus.tickets()).list();
  return filter.states?.length ? all.filter((t) => filter.states!.includes(t.state)) : all;
}

/** States where a ticket rests until someone or something outside acts. */
export const RESTING_STATES: readonly State[] = ['awaiting_human', 'pr_open', 'done', 'failed', 'cancelled', 'duplicate'];

export class WaitTimeoutError extends UserInputError {
  readonly ticket: Ticket;
  constructor(ticket: Ticket, waitedFor: string, timeoutMs: number) {
    super('wait_timeout', `ticket ${ticket.id} is ${ticket.state}; gave up waiting for ${waitedFor} after ${timeoutMs}ms`);
    this.ticket = ticket;
  }
}

export interface WaitOptions {
  /** States to wait for; by default the resting states. */
  states?: readonly State[];
  /** Wait for this instead of a state. */
  until?: { test: (t: Ticket) => boolean; what: string };
  timeoutMs: number;
  /** Called with every timeline entry, those already there first, then each as it appears. */
  onEntry?: (e: TimelineEntry, t: Ticket) => void;
}

/**
 * Waits until the ticket is in one of the states (or passes `until`), following its timeline.
 * Throws WaitTimeoutError after `timeoutMs`, or as soon as the ticket ends in another state.
 */
export async function waitTicket(bus: Bus, id: string, opts: WaitOptions): Promise<Ticket> {
  const states = opts.states?.length ? opts.states : RESTING_STATES;
  const until = opts.until ?? { test: (t: Ticket) => states.includes(t.state), what: states.join(' or ') };
  let latest = await getTicket(bus, id);
  let seen = 0;
  const report = (t: Ticket) => {
    for (const e of t.timeline.slice(seen)) opts.onEntry?.(e, t);
    seen = Math.max(seen, t.timeline.length);
  };
  report(latest);
  if (until.test(latest)) return latest;
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), opts.timeoutMs);
  try {
    for await (const t of new TicketStore(await bus.tickets()).watch(abort.signal, id)) {
      latest = t;
      report(t);
      if (until.test(t)) return t;
      if (isTerminal(t.state)) break;
    }
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
  throw new WaitTimeoutError(latest, until.what, opts.timeoutMs);
}

/**
 * Where a person's answer or cancellation is published from: `cli` (the operator's credentials) or
 * `web` (the console's own); each may publish only under its origin (bus/permissions.ts).
 */
export type PersonOrigin = Extract<EventOrigin, 'cli' | 'web'>;

/** Asks the coordinator to cancel; resolves with the ticket once it is cancelled (or already ended). */
export async function cancelTicket(bus: Bus, id: string, opts: { by: string; reason?: string; timeoutMs: number; origin?: PersonOrigin }): Promise<Ticket> {
  const t = await getTicket(bus, id);
  if (isTerminal(t.state)) throw new UserInputError('ticket_finished', `ticket ${id} is already ${t.state}`);
  const origin = opts.origin ?? 'cli';
  const ev = envelope(CancelRequested, { ticketId: id, by: opts.by, ...(opts.reason && { reason: opts.reason }) }, { source: origin, correlationId: id });
  await publishEvent(bus, origin, id, ev);
  return waitTicket(bus, id, { until: { test: (c) => isTerminal(c.state), what: 'cancellation' }, timeoutMs: opts.timeoutMs });
}

/** A `--budget` nobody can use: not a whole number in range, or not above what the ticket used. Bad usage (exit 2). */
export class InvalidBudgetError extends UsageError {
  constructor(message: string) {
    super(message, 'invalid_budget', [{ path: 'budget', message }]);
  }
}

/** Reads a `--budget` value; throws InvalidBudgetError. */
export function budgetOption(text: string): number {
  const parsed = parseBudget(text);
  if (!parsed.ok) throw new InvalidBudgetError(`--budget: ${parsed.message}`);
  return parsed.value;
}

/**
 * Answers a parked ticket, raising its token budget to `budget` when given (it must be above what the
 * ticket used); resolves with the ticket once the coordinator has taken the answer.
 */
export async function answerTicket(bus: Bus, id: string, text: string, opts: { by: string; timeoutMs: number; budget?: number; origin?: PersonOrigin }): Promise<Ticket> {
  const t = await getTicket(bus, id);
  if (t.state !== 'awaiting_human') {
    throw new UserInputError('not_awaiting_human', `ticket ${id} is ${t.state}; only a ticket in awaiting_human takes an answer`);
  }
  if (text.trim() === '') throw new UserInputError('empty_answer', 'the answer is empty');
  const { budget } = opts;
  const problem = budget === undefined ? null : budgetProblem(budget, t.usage);
  if (problem !== null) throw new InvalidBudgetError(`--budget: ${problem}`);
  const origin = opts.origin ?? 'cli';
  const ev = envelope(HumanAnswered, { ticketId: id, text, by: opts.by, ...(budget !== undefined && { budget }) }, { source: origin, correlationId: id });
  await publishEvent(bus, origin, id, ev);
  const before = t.answers.length;
  const taken = await waitTicket(bus, id, {
    until: {
      test: (c) => c.answers.length > before || c.state !== 'awaiting_human' || c.timeline.some((e) => e.cause === ev.id && e.event === 'ignored'),
      what: 'the answer to be taken',
    },
    timeoutMs: opts.timeoutMs,
  });
  const refused = taken.timeline.find((e) => e.cause === ev.id && e.event === 'ignored');
  if (refused && taken.answers.length === before) throw new UserInputError('answer_refused', `the coordinator refused the answer: ${refused.reason ?? 'no reason given'}`);
  return taken;
}
