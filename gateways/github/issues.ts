import type { z } from 'zod';
import { HumanAnswered } from '../../bus/index.ts';
import { budgetDirective, budgetProblem, clip, ticketIdForExternalId, type BugReport, type IntakeReply, type Ticket } from '../../shared/index.ts';
import { issueExternalId } from './ask.ts';
import {
  accepted,
  actor,
  ANSWERING_ASSOCIATIONS,
  CUT,
  ignored,
  notNewFromAPerson,
  send,
  type Delivery,
  type IssueCommentPayload,
  type Publish,
  type WebhookResponse,
} from './delivery.ts';
import type { IssuesEvent } from './payloads.ts';

export interface IssueIntakeDeps {
  /** The tickets: how an issue comment is known to answer a parked ticket. */
  tickets: { get(id: string): Promise<{ ticket: Ticket } | null> };
  publish: Publish;
  /** Posts an intake request and resolves with the reply. */
  intake(payload: unknown): Promise<IntakeReply>;
  /** Posts a bug report on bug intake and resolves with the reply (the same contract as intake). */
  bugIntake(payload: unknown): Promise<IntakeReply>;
  /** Issues given this label become tickets; unset (and no bugLabel), issue events are ignored. */
  issueLabel?: string | undefined;
  /** Issues given this label become bug reports; it wins over issueLabel on an issue carrying both. */
  bugLabel?: string | undefined;
}

type IssuesPayload = z.infer<typeof IssuesEvent>;

/**
 * What people do on issues: an issue given the configured label becomes a ticket (or a bug report,
 * with the bug label), keyed by the issue so that a redelivery is the same ticket; a comment on the
 * issue of a ticket awaiting a human answers it.
 */
export function createIssueIntake(deps: IssueIntakeDeps) {
  async function onIssue(ctx: Delivery, p: IssuesPayload): Promise<WebhookResponse> {
    const labels = { issue: deps.issueLabel, bug: deps.bugLabel };
    if (!labels.issue && !labels.bug) {
      return ignored(ctx, 'issues do not become tickets (neither NIGHTSHIFT_GITHUB_ISSUE_LABEL nor NIGHTSHIFT_GITHUB_BUG_LABEL is set)');
    }
    const route = issueRoute(p, labels);
    if (!route) {
      const names = [labels.issue, labels.bug].filter((l) => l).map((l) => `"${l}"`);
      return ignored(ctx, `issues ${p.action} without the label ${names.join(' or ')}`);
    }
    const issue = p.issue.html_url;
    const reply = route === 'bug' ? await deps.bugIntake(issueBugReport(p)) : await deps.intake(issueTicketRequest(p));
    if (!reply.ok) {
      ctx.log.warn({ code: reply.error.code, issue, route }, route === 'bug' ? 'issue refused by bug intake' : 'issue refused by intake');
      return { status: 422, body: { ok: false, delivery: ctx.id, error: reply.error } };
    }
    const action = route === 'bug' ? 'bug_report' : 'ticket';
    ctx.log.info({ ticketId: reply.id, duplicate: reply.duplicate, issue }, route === 'bug' ? 'issue posted as a bug report' : 'issue posted as a ticket');
    return { status: 202, body: { ok: true, delivery: ctx.id, action, ticketId: reply.id, duplicate: reply.duplicate } };
  }

  async function onIssueComment(ctx: Delivery, p: IssueCommentPayload): Promise<WebhookResponse> {
    const early = commentNotAnswer(p);
    if (early) return ignored(ctx, early);
    const ticketId = ticketIdForExternalId(issueExternalId(p.repository.full_name, p.issue.number));
    const stored = await deps.tickets.get(ticketId);
    const answer = answerOfComment(p, stored?.ticket ?? null);
    if (typeof answer === 'string') return ignored(ctx, answer);
    const type = await send(deps.publish, ctx, answer.ticketId, HumanAnswered, answer, commentEventId(p.comment.id));
    ctx.log.info({ ticketId: answer.ticketId, by: answer.by, commentId: p.comment.id }, 'answer from a github issue comment published');
    return accepted(ctx, answer.ticketId, type);
  }

  return { onIssue, onIssueComment };
}

/** The envelope id of the answer an issue comment gives: the same for every delivery of the comment. */
export function commentEventId(commentId: number): string {
  return `github-issue-comment-${commentId}`;
}

/** Longest answer a ticket takes (HumanAnswered.text). */
const MAX_ANSWER = 20_000;

/**
 * Clock skew allowed between GitHub and nightshift: a comment written before its question (by more
 * than this) does not answer it, so a redelivered old comment does not answer a later parking.
 */
const COMMENT_SKEW_MS = 300_000;

/**
 * Why a comment on an issue cannot be an answer, before any ticket is read: it is not new from a
 * person (`notNewFromAPerson`: a bot, a quote of nightshift's marker…), or it is empty. Null: it may be
 * one. (Comments on a pull request's conversation are feedback, screened by pullRequestCommentNotFeedback.)
 */
export function commentNotAnswer(p: IssueCommentPayload): string | null {
  return notNewFromAPerson(p) ?? (p.comment.body?.trim() ? null : 'an empty comment');
}

/**
 * The answer a comment gives `ticket` (the ticket of its issue's external id, if any), or why it gives
 * none: the issue is not a ticket's, the ticket awaits no human, the comment predates the question, or
 * the commenter is neither the person asked (a parked question's `to`, `github:<login>`) nor someone
 * with write access (author association OWNER, MEMBER or COLLABORATOR). A first line
 * `/nightshift budget <tokens>` also raises the ticket's token budget (the rest is the answer); only
 * someone with write access may, and the budget must be above what the ticket used.
 */
export function answerOfComment(p: IssueCommentPayload, ticket: Ticket | null): { ticketId: string; text: string; by: string; budget?: number } | string {
  const issue = `${p.repository.full_name}#${p.issue.number}`;
  const externalId = issueExternalId(p.repository.full_name, p.issue.number);
  if (!ticket || ticket.externalId !== externalId) return `${issue} is not a ticket's issue`;
  if (ticket.state !== 'awaiting_human' || !ticket.parked) return `ticket ${ticket.id} is ${ticket.state}, not awaiting an answer`;
  const written = Date.parse(p.comment.created_at);
  if (Number.isFinite(written) && written < Date.parse(ticket.parked.askedAt) - COMMENT_SKEW_MS) {
    return `the comment predates the questions of ticket ${ticket.id}`;
  }
  const by = actor(p.comment.user);
  const asked = ticket.parked.questions.some((q) => q.to !== undefined && q.to.toLowerCase() === by.toLowerCase());
  if (!asked && !ANSWERING_ASSOCIATIONS.includes(p.comment.author_association)) {
    return `${by} was not asked and has no write access (${p.comment.author_association.toLowerCase()})`;
  }
  const text = p.comment.body?.trim();
  if (!text) return 'an empty comment';
  const given = budgetDirective(text, BUDGET_COMMAND);
  if (!given.ok) return `/nightshift budget: ${given.message}`;
  if (given.budget === undefined) return { ticketId: ticket.id, text: clip(text, MAX_ANSWER, CUT), by };
  if (!ANSWERING_ASSOCIATIONS.includes(p.comment.author_association)) {
    return `${by} may answer but not raise the token budget: that takes write access (${p.comment.author_association.toLowerCase()})`;
  }
  const problem = budgetProblem(given.budget, ticket.usage);
  if (problem !== null) return `/nightshift budget: ${problem}`;
  return { ticketId: ticket.id, text: clip(given.text, MAX_ANSWER, CUT), by, budget: given.budget };
}

/** A comment's first line that raises the ticket's token budget: `/nightshift budget 600000` (any case). */
export const BUDGET_COMMAND = /\/nightshift\s+budget(?![\w-])/i;

/**
 * What an `issues` delivery asks for, given the configured labels: 'bug' when it is opened with, or
 * labeled with, the bug label, or labeled with the issue label while it carries the bug label (the bug
 * label wins); 'ticket' when opened or labeled with the issue label alone; null otherwise.
 */
export function issueRoute(p: IssuesPayload, labels: { issue?: string | undefined; bug?: string | undefined }): 'bug' | 'ticket' | null {
  const carries = (label: string) => (p.issue.labels ?? []).some((l) => l.name === label);
  const given = (label: string | undefined) =>
    label !== undefined && label !== '' && (p.action === 'labeled' ? p.label?.name === label : p.action === 'opened' && carries(label));
  if (given(labels.bug)) return 'bug';
  if (given(labels.issue)) return labels.bug && carries(labels.bug) ? 'bug' : 'ticket';
  return null;
}

/** The parts an issue's ticket and its bug report share: title, repository, the issue as external id, labels. */
function issueFields({ issue, repository }: IssuesPayload) {
  return {
    title: issue.title.trim().slice(0, 200) || `GitHub issue #${issue.number}`,
    repo: { url: repository.html_url },
    // The same issue is always the same ticket, whichever intake it went through.
    externalId: issueExternalId(repository.full_name, issue.number),
    labels: [...new Set((issue.labels ?? []).map((l) => l.name))].filter((l) => l.length >= 1 && l.length <= 50).slice(0, 20),
  };
}

/** An issue as an intake request: its body with a link back, and whoever gave it the label as requester. */
export function issueTicketRequest(p: IssuesPayload) {
  const { title, repo, externalId, labels } = issueFields(p);
  return {
    title,
    body: `${p.issue.body ?? ''}\n\n(GitHub issue ${p.issue.html_url})`.trim().slice(0, 100_000),
    repo,
    externalId,
    requester: actor(p.sender),
    labels,
  };
}

/** Longest description a bug report takes (BugReport.description). */
const MAX_DESCRIPTION = 50_000;

/**
 * An issue as a bug report: its body is the description (an empty one says so and links the issue, so
 * that intake takes it and the triager asks for more); the issue's author is the reporter, who is asked
 * when the report lacks information.
 */
export function issueBugReport(p: IssuesPayload): BugReport {
  const { title, repo, externalId, labels } = issueFields(p);
  const body = p.issue.body?.trim();
  return {
    title,
    description: body ? clip(body, MAX_DESCRIPTION, CUT) : `The GitHub issue has no description: ${p.issue.html_url}`,
    repo,
    reporter: actor(p.issue.user ?? p.sender),
    externalId,
    labels,
  };
}
