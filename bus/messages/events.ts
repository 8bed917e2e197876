import { z } from 'zod';
import { Actor, Question, RoleUsage, Stage, TicketId, TokenBudget } from '../../shared/index.ts';
import { defineMessage } from '../envelope.ts';

/** How a stage attempt ended, as the agent reports it. */
export const StageOutcome = z.discriminatedUnion('kind', [
  /** The stage is done; the ticket moves on. `output` is kept as the stage's artifact. */
  z.object({ kind: z.literal('advance'), output: z.unknown() }),
  /** The agent needs a human: the ticket parks in awaiting_human with these questions. */
  z.object({ kind: z.literal('escalate'), questions: z.array(Question).min(1).max(20), output: z.unknown().optional() }),
  /** The work goes back to an earlier stage (e.g. the reviewer requesting changes). */
  z.object({ kind: z.literal('send_back'), to: Stage, reason: z.string().min(1).max(4000), output: z.unknown().optional() }),
  /** The ticket duplicates another one. `output` is kept as the stage's artifact. */
  z.object({ kind: z.literal('duplicate'), of: TicketId, reason: z.string().max(4000).optional(), output: z.unknown().optional() }),
  /** There is nothing to do (a bug report that describes no bug): the ticket is closed as cancelled. */
  z.object({ kind: z.literal('close'), reason: z.string().min(1).max(4000), output: z.unknown().optional() }),
]);
export type StageOutcome = z.infer<typeof StageOutcome>;

const attemptRef = {
  ticketId: TicketId,
  stage: Stage,
  attempt: z.number().int().positive(),
  /** Model tokens this attempt spent, counted on the ticket whatever the outcome. */
  usage: RoleUsage.optional(),
};

/** Agent → coordinator: a stage attempt finished. */
export const StageCompleted = defineMessage(
  'stage.completed',
  1,
  z.object({ ...attemptRef, outcome: StageOutcome }),
);

/** Agent → coordinator: a stage attempt failed for good (fatal, or retries exhausted). */
export const StageFailed = defineMessage(
  'stage.failed',
  1,
  z.object({
    ...attemptRef,
    error: z.object({ code: z.string(), message: z.string().max(4000), retryable: z.boolean() }),
    deliveries: z.number().int().nonnegative(),
  }),
);

/**
 * Agent → coordinator: a delivery of a stage attempt spent model tokens and ends without a result —
 * it failed and will be retried, or was handed back at shutdown. Only the tokens count; the ticket
 * does not move.
 */
export const StageUsage = defineMessage(
  'stage.usage',
  1,
  z.object({ ticketId: TicketId, stage: Stage, attempt: z.number().int().positive(), usage: RoleUsage, deliveries: z.number().int().nonnegative() }),
);

/**
 * Agent → coordinator: an agent took up a stage attempt (one delivery of its work item) and starts
 * work. Its causation id is the dispatch id; the coordinator starts the attempt's stage deadline at
 * `startedAt` (until then only the queue timeout runs).
 */
export const StageStarted = defineMessage(
  'stage.started',
  1,
  z.object({
    ticketId: TicketId,
    stage: Stage,
    attempt: z.number().int().positive(),
    deliveries: z.number().int().positive(),
    startedAt: z.iso.datetime(),
  }),
);

/**
 * A human (through the CLI, Slack…) answers the questions of a parked ticket. `budget`, when given,
 * becomes the ticket's token budget (it must be above what the ticket has used).
 */
export const HumanAnswered = defineMessage(
  'human.answered',
  1,
  z.object({ ticketId: TicketId, text: z.string().min(1).max(20_000), by: z.string().min(1).max(200), budget: TokenBudget.optional() }),
);

/** Someone asks for a ticket to be cancelled. */
export const CancelRequested = defineMessage(
  'ticket.cancel_requested',
  1,
  z.object({ ticketId: TicketId, by: z.string().min(1).max(200), reason: z.string().max(4000).optional() }),
);

/** One remark a person left on a pull request: a review's body or one of its line comments. */
export const PrComment = z.object({
  by: Actor,
  text: z.string().min(1).max(8_000),
  /** The file a line comment is on, and the line. */
  path: z.string().min(1).max(500).optional(),
  line: z.number().int().positive().optional(),
  url: z.string().max(2_000).optional(),
});
export type PrComment = z.infer<typeof PrComment>;

const prRef = {
  ticketId: TicketId,
  /** The pull request's number on its forge. */
  number: z.number().int().positive(),
  url: z.string().max(2_000).optional(),
  /** Who did it on the forge, e.g. `github:octocat`. */
  by: Actor,
};

/**
 * Forge (webhook receiver) → coordinator: people asked for changes on the ticket's pull request. It
 * sends the ticket from pr_open back to the coder; the new commits land on the same pull request.
 */
export const PrChangesRequested = defineMessage(
  'pr.changes_requested',
  1,
  z.object({
    ...prRef,
    comments: z.array(PrComment).min(1).max(100),
    /** The forge's ids of the review and comments this carries (`review:80`, `comment:1`): each is acted on once. */
    feedbackIds: z.array(z.string().min(1).max(100)).min(1).max(200),
  }),
);

/** Forge → coordinator: the ticket's pull request was merged. */
export const PrMerged = defineMessage('pr.merged', 1, z.object({ ...prRef, mergeCommitSha: z.string().max(64).optional() }));

/** Forge → coordinator: the ticket's pull request was closed without being merged. */
export const PrClosed = defineMessage('pr.closed', 1, z.object(prRef));

/**
 * The `pr_feedback` artifact the coordinator keeps from `pr.changes_requested`: what people asked for
 * that no updated pull request has answered yet (the coder and reviewer read it), and every feedback
 * id acted on.
 */
export const PrFeedback = z.object({
  number: z.number().int().positive(),
  pending: z.array(PrComment),
  handled: z.array(z.string()).max(1_000),
  /** Times people sent the ticket back. */
  rounds: z.number().int().min(0),
});
export type PrFeedback = z.infer<typeof PrFeedback>;

/** The artifact key of PrFeedback. */
export const PR_FEEDBACK = 'pr_feedback';

/** Every message type on the events stream. */
export const TICKET_EVENTS = [StageStarted, StageCompleted, StageFailed, StageUsage, HumanAnswered, CancelRequested, PrChangesRequested, PrMerged, PrClosed] as const;
