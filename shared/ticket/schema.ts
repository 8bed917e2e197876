import { z } from 'zod';
import { STAGES, STATES } from './states.ts';

export const State = z.enum(STATES);
export type State = z.infer<typeof State>;
export const Stage = z.enum(STAGES);
export type Stage = z.infer<typeof Stage>;
export const TicketType = z.enum(['feature', 'bug', 'chore']);
export type TicketType = z.infer<typeof TicketType>;

/** Ticket ids: `tk-` and ten lowercase base32 characters. Valid as a subject token and a KV key. */
export const TicketId = z.string().regex(/^tk-[0-9a-z]{10}$/, 'not a ticket id (tk- and ten characters)');
export type TicketId = z.infer<typeof TicketId>;

/** C0 controls, DEL and C1 controls: never in a one-line field (a title, a label, an id, a name). */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
/** C0 controls but tab, line feed and carriage return, and DEL: never in free text (a body, logs). */
const TEXT_CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

/** A one-line string of at most `max` characters with no control character at all. */
export const line = (max: number) => z.string().max(max).refine((v) => !CONTROL.test(v), { message: 'control characters are not allowed' });
/** Free text of at most `max` characters: tabs and line breaks, but no other control character. */
export const text = (max: number) => z.string().max(max).refine((v) => !TEXT_CONTROL.test(v), { message: 'control characters other than tab and line breaks are not allowed' });

/** Field limits of a ticket: what intake accepts and what reaches git and the models. */
export const LIMITS = {
  title: 200,
  body: 100_000,
  labels: 20,
  label: 50,
  externalId: 200,
  requester: 200,
  repoPath: 4096,
  repoUrl: 2048,
  baseBranch: 200,
  answer: 20_000,
  /** Largest token budget a human may give one ticket. */
  tokenBudget: 1_000_000_000,
} as const;

/** A ticket's token budget, as a human sets it: a positive whole number of tokens, bounded. */
export const TokenBudget = z.number().int().positive().max(LIMITS.tokenBudget);
export type TokenBudget = z.infer<typeof TokenBudget>;

const gitRef = z
  .string()
  .min(1)
  .max(LIMITS.baseBranch)
  .regex(/^(?![-/.]|HEAD$|.*\/[.\/]|.*\.\.|.*@\{|.*\.lock\/|.*[\s~^:?*[\\])[^\0-\x1f\x7f]+(?<![/.]|\.lock)$/, 'not a valid branch name');

/** Where the code lives: exactly one of a local path or a clone URL, and optionally the base branch. */
export const RepoRef = z
  .object({
    path: line(LIMITS.repoPath).min(1).optional(),
    url: line(LIMITS.repoUrl).min(1).optional(),
    baseBranch: gitRef.optional(),
  })
  .strict()
  .refine((r) => (r.path === undefined) !== (r.url === undefined), {
    message: 'give exactly one of path or url',
  });
export type RepoRef = z.infer<typeof RepoRef>;

/** The body of a request on the intake subject (BRIEF §4). Unknown fields are refused. */
export const IntakeRequest = z
  .object({
    title: line(LIMITS.title).trim().min(1),
    body: text(LIMITS.body),
    repo: RepoRef,
    type: TicketType.default('feature'),
    externalId: line(LIMITS.externalId).min(1).optional(),
    requester: line(LIMITS.requester).min(1).optional(),
    labels: z.array(line(LIMITS.label).min(1)).max(LIMITS.labels).default([]),
  })
  .strict();
export type IntakeRequest = z.infer<typeof IntakeRequest>;

const reportText = (max: number) => text(max).trim().min(1);

/** What a bug report says beyond its title and description; kept on the bug's ticket as `report`. */
export const BugDetails = z
  .object({
    /** How to make the bug happen. */
    steps: reportText(20_000).optional(),
    expected: reportText(10_000).optional(),
    actual: reportText(10_000).optional(),
    /** Logs or a stack trace, as pasted. */
    logs: text(60_000).min(1).optional(),
    /** Versions, operating system, configuration: where it happens. */
    environment: reportText(4_000).optional(),
  })
  .strict();
export type BugDetails = z.infer<typeof BugDetails>;

/** The body of a request on the bug intake subject. Unknown fields are refused. */
export const BugReport = z
  .object({
    title: line(LIMITS.title).trim().min(1),
    description: reportText(50_000),
    repo: RepoRef,
    ...BugDetails.shape,
    /** Who reported it: they are asked when the report lacks information. */
    reporter: line(LIMITS.requester).min(1).optional(),
    externalId: line(LIMITS.externalId).min(1).optional(),
    labels: z.array(line(LIMITS.label).min(1)).max(LIMITS.labels).default([]),
  })
  .strict();
export type BugReport = z.infer<typeof BugReport>;

/** A bug report as the ticket it becomes: the common intake request, and the report's own details. */
export function bugTicketRequest(report: BugReport): { request: IntakeRequest; details: BugDetails } {
  const { title, description, repo, reporter, externalId, labels, steps, expected, actual, logs, environment } = report;
  const request: IntakeRequest = {
    title,
    body: description,
    repo,
    type: 'bug',
    labels,
    ...(externalId !== undefined && { externalId }),
    ...(reporter !== undefined && { requester: reporter }),
  };
  const details: BugDetails = {
    ...(steps !== undefined && { steps }),
    ...(expected !== undefined && { expected }),
    ...(actual !== undefined && { actual }),
    ...(logs !== undefined && { logs }),
    ...(environment !== undefined && { environment }),
  };
  return { request, details };
}

/** Error codes of intake replies; each names one cause. */
export const IntakeErrorCode = z.enum([
  'invalid_json',
  'invalid_ticket',
  'invalid_report',
  'payload_too_large',
  'invalid_repository',
  'internal_error',
]);
export type IntakeErrorCode = z.infer<typeof IntakeErrorCode>;

export const ErrorBody = z.object({
  code: z.string(),
  message: z.string(),
  issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
});
export type ErrorBody = z.infer<typeof ErrorBody>;

export const IntakeReply = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true), id: TicketId, duplicate: z.boolean() }),
  z.object({ ok: z.literal(false), error: ErrorBody }),
]);
export type IntakeReply = z.infer<typeof IntakeReply>;

/** Who did something: the coordinator, an agent role, a human, or the CLI on someone's behalf. */
export const Actor = z.string().min(1).max(200);

/** A question put to a human; `options`, when given, are the answers offered as choices. */
export const Question = z.object({
  id: z.string().min(1).max(64),
  text: z.string().min(1).max(4000),
  options: z.array(z.string().min(1).max(200)).max(10).optional(),
  blocking: z.boolean().default(true),
  /** Who is asked, when it is someone in particular: the reporter of a bug that lacks information. */
  to: Actor.optional(),
});
export type Question = z.infer<typeof Question>;

/** A human's answer to a parked ticket's questions. */
export const Answer = z.object({ text: z.string().max(LIMITS.answer), by: Actor, at: z.iso.datetime() });
export type Answer = z.infer<typeof Answer>;

/** One entry of a ticket's history: who did what, when, and why. */
export const TimelineEntry = z.object({
  at: z.iso.datetime(),
  by: Actor,
  event: z.enum([
    'received',
    'transition',
    'dispatched',
    'retry',
    'timeout',
    'answered',
    'cancel_requested',
    'ignored',
    'started',
  ]),
  from: State.optional(),
  to: State.optional(),
  stage: Stage.optional(),
  attempt: z.number().int().positive().optional(),
  reason: z.string().max(4000).optional(),
  /** The id of the bus message that caused this entry, when there was one. */
  cause: z.string().optional(),
});
export type TimelineEntry = z.infer<typeof TimelineEntry>;

/** A message the coordinator must publish after its state write lands (transactional outbox). */
export const OutboxItem = z.object({
  /** Used as the JetStream Msg-Id, so publishing it again is deduplicated. */
  msgId: z.string(),
  kind: z.literal('dispatch'),
  stage: Stage,
  attempt: z.number().int().positive(),
  /** The stage's round (see Ticket.work.round). */
  round: z.number().int().positive().optional(),
});
export type OutboxItem = z.infer<typeof OutboxItem>;

const tokens = z.number().int().min(0);

/** Model tokens spent by one role on a ticket, and in how many calls. */
export const RoleUsage = z.object({ inputTokens: tokens, outputTokens: tokens, totalTokens: tokens, calls: tokens });
export type RoleUsage = z.infer<typeof RoleUsage>;

/** The ticket record kept in the tickets KV bucket, one key per ticket id. */
export const Ticket = z.object({
  id: TicketId,
  v: z.literal(1),
  title: z.string(),
  body: z.string(),
  type: TicketType,
  repo: RepoRef,
  externalId: z.string().optional(),
  requester: z.string().optional(),
  labels: z.array(z.string()),
  /** What the bug report said beyond its description, for tickets posted as bug reports. */
  report: BugDetails.optional(),
  state: State,
  /** The current stage attempt, while an agent works on the ticket. */
  work: z
    .object({
      stage: Stage,
      attempt: z.number().int().positive(),
      /** The Msg-Id of the dispatched work item; results name it as their causation id. */
      dispatchId: z.string().optional(),
      dispatchedAt: z.iso.datetime(),
      /**
       * When an agent started this attempt (its latest delivery): from then the stage timeout runs;
       * before, the queue timeout.
       */
      startedAt: z.iso.datetime().optional(),
      deadline: z.iso.datetime(),
      /**
       * How many times the ticket has entered this stage: retries of an attempt keep it, a ticket
       * sent back or resumed starts a new round. Work pushed in a round is adopted by its later attempts.
       */
      round: z.number().int().positive().optional(),
    })
    .nullable(),
  /** While awaiting_human: where the ticket came from and what it asks. */
  parked: z
    .object({
      from: Stage,
      questions: z.array(Question),
      askedAt: z.iso.datetime(),
      deadline: z.iso.datetime(),
    })
    .nullable(),
  /** Answers given by humans, oldest first. */
  answers: z.array(Answer),
  /** What each stage produced, by stage. */
  artifacts: z.record(z.string(), z.unknown()),
  /** Model tokens spent on the ticket, by role, all attempts included. */
  usage: z.record(z.string(), RoleUsage).default({}),
  /** The ticket's token budget, when a human raised it; it overrides NIGHTSHIFT_TOKEN_BUDGET. */
  budget: TokenBudget.optional(),
  /** Why the ticket failed, when it did. */
  failure: z.object({ code: z.string(), message: z.string(), stage: Stage.optional() }).nullable(),
  /** Set when the ticket is a duplicate of another. */
  duplicateOf: TicketId.optional(),
  outbox: z.array(OutboxItem),
  /**
   * The W3C traceparent of the ticket's intake span, when the coordinator that took it traced: every
   * later span of the ticket, in any process and however much later, joins that trace (shared/trace.ts).
   */
  traceparent: z.string().regex(/^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/).optional(),
  /** Ids of bus messages already applied, newest last, bounded: redeliveries are recognised. */
  applied: z.array(z.string()),
  timeline: z.array(TimelineEntry),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
});
export type Ticket = z.infer<typeof Ticket>;

/**
 * The part of a ticket record a watcher of every ticket keeps timers and counts by (the
 * coordinator's index), and an agent checks its work against (the fence): validated on its own,
 * without the rest of the record, so that reading it costs little. A whole Ticket is a TicketHead.
 */
export const TicketHead = z.object({
  id: TicketId,
  state: State,
  work: Ticket.shape.work,
  parked: z.object({ askedAt: z.iso.datetime(), deadline: z.iso.datetime() }).nullable(),
  /** Only how many items wait: what they are is read with the whole record when they are sent. */
  outbox: z.array(z.unknown()),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
  traceparent: Ticket.shape.traceparent,
});
export type TicketHead = z.infer<typeof TicketHead>;
