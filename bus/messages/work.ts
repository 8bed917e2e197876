import { z } from 'zod';
import { Answer, BugDetails, LIMITS, RepoRef, RoleUsage, Stage, TicketId, TicketType, TokenBudget, type Ticket } from '../../shared/index.ts';
import { defineMessage } from '../envelope.ts';

/** What an agent is given about the ticket it works on. */
export const WorkTicket = z.object({
  id: TicketId,
  title: z.string().max(LIMITS.title),
  body: z.string().max(LIMITS.body),
  type: TicketType,
  repo: RepoRef,
  labels: z.array(z.string().max(LIMITS.label)).max(LIMITS.labels),
  /** Who posted it (a bug's reporter). */
  requester: z.string().max(LIMITS.requester).optional(),
  /** A bug report's details, when the ticket came from one. */
  report: BugDetails.optional(),
  answers: z.array(Answer),
  artifacts: z.record(z.string(), z.unknown()),
  /** Tokens spent so far, by role: what counts against the ticket's budget. */
  usage: z.record(z.string(), RoleUsage).default({}),
  /** The ticket's own token budget, when a human set one: it overrides NIGHTSHIFT_TOKEN_BUDGET. */
  budget: TokenBudget.optional(),
});
export type WorkTicket = z.infer<typeof WorkTicket>;

/** The part of a ticket record an agent is given. */
export function workTicketOf(t: Ticket): WorkTicket {
  return {
    id: t.id,
    title: t.title,
    body: t.body,
    type: t.type,
    repo: t.repo,
    labels: t.labels,
    ...(t.requester !== undefined && { requester: t.requester }),
    ...(t.report !== undefined && { report: t.report }),
    answers: t.answers,
    artifacts: t.artifacts,
    usage: t.usage,
    ...(t.budget !== undefined && { budget: t.budget }),
  };
}

/** Coordinator → agent: do one attempt of one stage of one ticket. Subject: P.work.<role>.<ticketId>. */
export const WorkItem = defineMessage(
  'work.item',
  1,
  z.object({
    stage: Stage,
    attempt: z.number().int().positive(),
    /** The stage's round (Ticket.work.round): attempts of one round adopt each other's pushed work. */
    round: z.number().int().positive().optional(),
    ticket: WorkTicket,
  }),
);
export type WorkItemData = z.infer<typeof WorkItem.data>;
