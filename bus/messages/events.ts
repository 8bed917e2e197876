import { z } from 'zod';
import { Question, RoleUsage, Stage, TicketId } from '../../shared/index.ts';
import { defineMessage } from '../envelope.ts';

/** How a stage attempt ended, as the agent reports it. */
export const StageOutcome = z.discriminatedUnion('kind', [
  /** The stage is done; the ticket moves on. `output` is kept as the stage's artifact. */
  z.object({ kind: z.literal('advance'), output: z.unknown() }),
  /** The agent needs a human: the ticket parks in awaiting_human with these questions. */
  z.object({ kind: z.literal('escalate'), questions: z.array(Question).min(1).max(20), output: z.unknown().optional() }),
  /** The work goes back to an earlier stage (e.g. the reviewer requesting changes). */
  z.object({ kind: z.literal('send_back'), to: Stage, reason: z.string().min(1).max(4000), output: z.unknown().optional() }),
  /** The ticket duplicates another one. */
  z.object({ kind: z.literal('duplicate'), of: TicketId, reason: z.string().max(4000).optional() }),
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

/** A human (through the CLI, Slack…) answers the questions of a parked ticket. */
export const HumanAnswered = defineMessage(
  'human.answered',
  1,
  z.object({ ticketId: TicketId, text: z.string().min(1).max(20_000), by: z.string().min(1).max(200) }),
);

/** Someone asks for a ticket to be cancelled. */
export const CancelRequested = defineMessage(
  'ticket.cancel_requested',
  1,
  z.object({ ticketId: TicketId, by: z.string().min(1).max(200), reason: z.string().max(4000).optional() }),
);

/** Every message type on the events stream. */
export const TICKET_EVENTS = [StageCompleted, StageFailed, HumanAnswered, CancelRequested] as const;
