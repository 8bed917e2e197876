import { Webhooks } from '@octokit/webhooks';
import { z } from 'zod';
import { envelope, HumanAnswered, PrChangesRequested, PrClosed, PrMerged, type Envelope, type MessageDef, type PrComment } from '../../bus/index.ts';
import { isSummaryReview, parseGitHubUrl, type GitHubConnection, type GitHubRepo } from '../../shared/forge/index.ts';
import {
  budgetDirective,
  budgetProblem,
  fieldIssues,
  ticketBranch,
  TicketId,
  ticketIdForExternalId,
  type BugReport,
  type IntakeReply,
  type Logger,
  type PullRequest,
  type PullRequestStore,
  type Ticket,
} from '../../shared/index.ts';
import { hasNightshiftMarker, issueExternalId } from './ask.ts';
import {
  ApiReview,
  ApiReviewComment,
  IssueCommentEvent,
  IssuesEvent,
  PullRequestEvent,
  PullRequestReviewCommentEvent,
  PullRequestReviewEvent,
} from './payloads.ts';

/** One webhook delivery as the HTTP server got it. */
export interface WebhookRequest {
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** What to answer GitHub: a status and a JSON body (shown in the webhook's "Recent deliveries"). */
export interface WebhookResponse {
  status: number;
  body: Record<string, unknown>;
}

export interface WebhookHandlerDeps {
  /** The webhook's secret: every delivery must carry its HMAC in X-Hub-Signature-256. */
  secret: string;
  /** Recorded pull requests: how a pull request is known to be a ticket's. */
  prs: PullRequestStore;
  /** The tickets: how an issue comment is known to answer a parked ticket. */
  tickets: { get(id: string): Promise<{ ticket: Ticket } | null> };
  /** Publishes a ticket event; resolves once the bus has stored it. */
  publish(ticketId: string, event: Envelope): Promise<void>;
  /** Posts an intake request and resolves with the reply. */
  intake(payload: unknown): Promise<IntakeReply>;
  /** Posts a bug report on bug intake and resolves with the reply (the same contract as intake). */
  bugIntake(payload: unknown): Promise<IntakeReply>;
  /** Hosts whose repository URLs are GitHub's (see gitHubHosts). */
  hosts: readonly string[];
  /** API access, to gather a whole review (its body and every line comment) from any of its events; null: the payload only. */
  github: GitHubConnection | null;
  /** Issues given this label become tickets; unset (and no bugLabel), issue events are ignored. */
  issueLabel?: string | undefined;
  /** Issues given this label become bug reports; it wins over issueLabel on an issue carrying both. */
  bugLabel?: string | undefined;
  /** A comment on a nightshift pull request's conversation that mentions this (e.g. `@nightshift`) sends work back. */
  mention?: string | undefined;
  log: Logger;
}

/** The envelope source of every event the receiver publishes. */
export const GITHUB_SOURCE = 'github';

const Delivery = z.string().regex(/^[A-Za-z0-9-]{1,100}$/);
const EventName = z.string().regex(/^[a-z_]{1,64}$/);
const BRANCH = /^nightshift\/(tk-[0-9a-z]{10})$/;
const MAX_COMMENTS = 100;

/**
 * GitHub webhook deliveries → ticket events. A delivery without a valid `X-Hub-Signature-256` is
 * refused (401) before anything else is read. The delivery id is the id of the event published, so a
 * redelivery is recognised by JetStream and by the ticket; an issue's ticket is keyed by the issue, so
 * intake answers a redelivery with the same ticket.
 *
 * - `pull_request_review` submitted as "changes requested", or as a comment with a body, and
 *   `pull_request_review_comment` created: `pr.changes_requested` with the review's body and comments;
 * - `pull_request` closed: `pr.merged` or `pr.closed`;
 * - `issues` labeled (or opened) with the configured bug label: a bug report on bug intake; with the
 *   configured issue label (and not the bug label): an intake request;
 * - `issue_comment` created on the issue of a ticket awaiting a human, by the person asked or by
 *   someone with write access: `human.answered` with the comment, under an id derived from the
 *   comment's (a comment answers once, however often it is delivered);
 * - anything else, or a pull request that is not a ticket's: acknowledged and ignored.
 */
export function createWebhookHandler(deps: WebhookHandlerDeps): (req: WebhookRequest) => Promise<WebhookResponse> {
  const webhooks = new Webhooks({ secret: deps.secret });

  async function verified(text: string, signature: string): Promise<boolean> {
    try {
      return await webhooks.verify(text, signature);
    } catch {
      return false;
    }
  }

  return async function handle(req) {
    const header = (name: string) => {
      const v = req.headers[name];
      return Array.isArray(v) ? v[0] : v;
    };
    const signature = header('x-hub-signature-256');
    if (!signature) return refuse(401, 'signature_missing', 'X-Hub-Signature-256 is missing: deliveries must be signed with the webhook secret');
    const text = req.body.toString('utf8');
    if (!(await verified(text, signature))) {
      deps.log.warn({ delivery: header('x-github-delivery') }, 'webhook refused: bad signature');
      return refuse(401, 'signature_invalid', 'X-Hub-Signature-256 does not match the payload and the webhook secret');
    }
    const event = EventName.safeParse(header('x-github-event'));
    const delivery = Delivery.safeParse(header('x-github-delivery'));
    if (!event.success) return refuse(400, 'invalid_event', 'X-GitHub-Event is missing or malformed');
    if (!delivery.success) return refuse(400, 'invalid_delivery', 'X-GitHub-Delivery is missing or malformed');
    let payload: unknown;
    try {
      payload = JSON.parse(text);
    } catch {
      return refuse(400, 'invalid_json', 'the payload is not JSON (set the webhook\'s content type to application/json)');
    }
    const ctx: Delivery = { id: delivery.data, event: event.data, log: deps.log.child({ delivery: delivery.data, event: event.data }) };
    switch (event.data) {
      case 'ping':
        return { status: 200, body: { ok: true, delivery: ctx.id, pong: true } };
      case 'pull_request':
        return parsed(PullRequestEvent, payload, (p) => onPullRequest(ctx, p));
      case 'pull_request_review':
        return parsed(PullRequestReviewEvent, payload, (p) => onReview(ctx, p));
      case 'pull_request_review_comment':
        return parsed(PullRequestReviewCommentEvent, payload, (p) => onReviewComment(ctx, p));
      case 'issues':
        return parsed(IssuesEvent, payload, (p) => onIssue(ctx, p));
      case 'issue_comment':
        return parsed(IssueCommentEvent, payload, (p) => onIssueComment(ctx, p));
      default:
        return ignored(ctx, `${event.data} events are not used`);
    }
  };

  async function onPullRequest(ctx: Delivery, p: z.infer<typeof PullRequestEvent>): Promise<WebhookResponse> {
    if (p.action !== 'closed') return ignored(ctx, `pull_request ${p.action} is not used`);
    const target = await ticketOf(p.pull_request, p.repository.full_name);
    if (typeof target === 'string') return ignored(ctx, target);
    const merged = p.pull_request.merged === true || Boolean(p.pull_request.merged_at);
    const data = {
      ticketId: target.ticketId,
      number: p.pull_request.number,
      url: p.pull_request.html_url,
      by: actor(p.sender),
      ...(merged && p.pull_request.merge_commit_sha && { mergeCommitSha: p.pull_request.merge_commit_sha }),
    };
    const type = merged ? await send(ctx, target.ticketId, PrMerged, data) : await send(ctx, target.ticketId, PrClosed, data);
    await deps.prs.put({ ...target.record, state: merged ? 'merged' : 'closed', updatedAt: new Date().toISOString() });
    return accepted(ctx, target.ticketId, type);
  }

  async function onReview(ctx: Delivery, p: z.infer<typeof PullRequestReviewEvent>): Promise<WebhookResponse> {
    if (p.action !== 'submitted') return ignored(ctx, `pull_request_review ${p.action} is not used`);
    const state = p.review.state.toLowerCase();
    if (state !== 'changes_requested' && state !== 'commented') return ignored(ctx, `a review that is ${state} asks for nothing`);
    if (isSummaryReview(p.review.body)) return ignored(ctx, "nightshift's own summary review");
    const target = await ticketOf(p.pull_request, p.repository.full_name);
    if (typeof target === 'string') return ignored(ctx, target);
    if (p.review.id === target.record.summaryReviewId) return ignored(ctx, "nightshift's own summary review");
    const fromPayload: Feedback = {
      comments: reviewBody(p.review.body, state, p.review.user, p.review.html_url),
      ids: [`review:${p.review.id}`],
    };
    const feedback = (await wholeReview(ctx, target.repo, p.pull_request.number, p.review.id)) ?? fromPayload;
    return requestChanges(ctx, target, p.pull_request, p.review.user ?? p.sender, feedback);
  }

  async function onReviewComment(ctx: Delivery, p: z.infer<typeof PullRequestReviewCommentEvent>): Promise<WebhookResponse> {
    if (p.action !== 'created') return ignored(ctx, `pull_request_review_comment ${p.action} is not used`);
    const target = await ticketOf(p.pull_request, p.repository.full_name);
    if (typeof target === 'string') return ignored(ctx, target);
    const c = p.comment;
    const fromPayload: Feedback = { comments: lineComment(c), ids: [`comment:${c.id}`] };
    const reviewId = c.pull_request_review_id ?? undefined;
    const whole = reviewId === undefined ? null : await wholeReview(ctx, target.repo, p.pull_request.number, reviewId);
    return requestChanges(ctx, target, p.pull_request, c.user ?? p.sender, whole ?? fromPayload);
  }

  async function requestChanges(
    ctx: Delivery,
    target: Target,
    pr: { number: number; html_url: string },
    by: { login: string } | null,
    feedback: Feedback | 'own',
  ): Promise<WebhookResponse> {
    if (feedback === 'own') return ignored(ctx, "nightshift's own summary review");
    if (feedback.comments.length === 0) return ignored(ctx, 'a review with neither a body nor line comments asks for nothing');
    const type = await send(ctx, target.ticketId, PrChangesRequested, {
      ticketId: target.ticketId,
      number: pr.number,
      url: pr.html_url,
      by: actor(by),
      comments: feedback.comments.slice(0, MAX_COMMENTS),
      feedbackIds: [...new Set(feedback.ids)].slice(0, 200),
    });
    return accepted(ctx, target.ticketId, type);
  }

  /**
   * The whole review through the API: its body and every line comment, under the same ids whichever
   * of its events (the review, or one per comment) arrives first, so the ticket acts on it once. Null
   * without API access or when the API fails (the payload alone is used then); 'own' for nightshift's
   * summary review.
   */
  async function wholeReview(ctx: Delivery, repo: GitHubRepo, number: number, reviewId: number): Promise<Feedback | 'own' | null> {
    if (!deps.github) return null;
    try {
      const api = await deps.github.octokit(repo);
      const where = { owner: repo.owner, repo: repo.name, pull_number: number, review_id: reviewId };
      const review = ApiReview.parse((await api.rest.pulls.getReview(where)).data);
      if (isSummaryReview(review.body)) return 'own';
      const comments = z.array(ApiReviewComment).parse(await api.paginate(api.rest.pulls.listCommentsForReview, { ...where, per_page: 100 }));
      return {
        comments: [...reviewBody(review.body ?? null, review.state.toLowerCase(), review.user ?? null, review.html_url), ...comments.flatMap(lineComment)],
        ids: [`review:${review.id}`, ...comments.map((c) => `comment:${c.id}`)],
      };
    } catch (err) {
      ctx.log.warn({ err, reviewId }, 'could not read the whole review from the API; using the payload');
      return null;
    }
  }

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
    if (p.issue.pull_request != null) return onPullRequestComment(ctx, p);
    const early = commentNotAnswer(p);
    if (early) return ignored(ctx, early);
    const ticketId = ticketIdForExternalId(issueExternalId(p.repository.full_name, p.issue.number));
    const stored = await deps.tickets.get(ticketId);
    const answer = answerOfComment(p, stored?.ticket ?? null);
    if (typeof answer === 'string') return ignored(ctx, answer);
    const type = await send(ctx, answer.ticketId, HumanAnswered, answer, commentEventId(p.comment.id));
    ctx.log.info({ ticketId: answer.ticketId, by: answer.by, commentId: p.comment.id }, 'answer from a github issue comment published');
    return accepted(ctx, answer.ticketId, type);
  }

  /**
   * A comment on a pull request's conversation that mentions nightshift (`deps.mention`), by someone
   * with write access: feedback like a review's, sending the ticket back to the coder.
   */
  async function onPullRequestComment(ctx: Delivery, p: IssueCommentPayload): Promise<WebhookResponse> {
    const why = pullRequestCommentNotFeedback(p, deps.mention);
    if (why) return ignored(ctx, why);
    const fullName = p.repository.full_name;
    const record = (await deps.prs.list()).find((r) => {
      const repo = r.forge === 'github' ? parseGitHubUrl(r.repo, deps.hosts) : null;
      return repo !== null && r.number === p.issue.number && `${repo.owner}/${repo.name}`.toLowerCase() === fullName.toLowerCase();
    });
    if (!record) return ignored(ctx, `no pull request ${fullName}#${p.issue.number} is recorded for a ticket`);
    const target = await ticketOf({ number: record.number, head: { ref: record.branch } }, fullName);
    if (typeof target === 'string') return ignored(ctx, target);
    const c = p.comment;
    const comments: PrComment[] = [{ by: actor(c.user), text: clip(c.body!.trim()), ...(c.html_url && c.html_url.length <= 2_000 && { url: c.html_url }) }];
    return requestChanges(ctx, target, { number: record.number, html_url: p.issue.html_url }, c.user ?? p.sender, { comments, ids: [`issue-comment:${c.id}`] });
  }

  /** The ticket a pull request belongs to: its branch names it and the store records this very pull request. */
  async function ticketOf(pr: { number: number; head: { ref: string } }, fullName: string): Promise<Target | string> {
    const m = BRANCH.exec(pr.head.ref);
    const id = m ? TicketId.safeParse(m[1]) : null;
    if (!id?.success) return `${fullName}#${pr.number} is not from a nightshift branch`;
    const record = await deps.prs.get(id.data);
    const repo = record ? parseGitHubUrl(record.repo, deps.hosts) : null;
    const same = repo !== null && `${repo.owner}/${repo.name}`.toLowerCase() === fullName.toLowerCase();
    if (!record || record.forge !== 'github' || record.number !== pr.number || record.branch !== ticketBranch(id.data) || !same || !repo) {
      return `no pull request ${fullName}#${pr.number} is recorded for ticket ${id.data}`;
    }
    return { ticketId: id.data, record, repo };
  }

  /** Publishes an event under the delivery's id, or under `id` when the event is keyed by something else. */
  async function send<S extends z.ZodType>(ctx: Delivery, ticketId: string, def: MessageDef<string, S>, data: z.input<S>, id: string = ctx.id): Promise<string> {
    const ev = envelope(def, data, { id, source: GITHUB_SOURCE, correlationId: ticketId });
    await deps.publish(ticketId, ev);
    return def.type;
  }

  function accepted(ctx: Delivery, ticketId: string, action: string): WebhookResponse {
    ctx.log.info({ ticketId, action }, 'webhook accepted');
    return { status: 202, body: { ok: true, delivery: ctx.id, action, ticketId } };
  }

  function ignored(ctx: Delivery, reason: string): WebhookResponse {
    ctx.log.info({ reason }, 'webhook ignored');
    return { status: 200, body: { ok: true, delivery: ctx.id, ignored: reason } };
  }
}

interface Delivery {
  id: string;
  event: string;
  log: Logger;
}

interface Target {
  ticketId: string;
  record: PullRequest;
  repo: GitHubRepo;
}

interface Feedback {
  comments: PrComment[];
  ids: string[];
}

function refuse(status: number, code: string, message: string, issues?: { path: string; message: string }[]): WebhookResponse {
  return { status, body: { ok: false, error: { code, message, ...(issues && { issues }) } } };
}

async function parsed<S extends z.ZodType>(schema: S, payload: unknown, then: (p: z.output<S>) => Promise<WebhookResponse>): Promise<WebhookResponse> {
  const result = schema.safeParse(payload);
  if (!result.success) return refuse(400, 'invalid_payload', 'the payload is not what GitHub sends for this event', fieldIssues(result.error.issues));
  return then(result.data);
}

type IssuesPayload = z.infer<typeof IssuesEvent>;
type IssueCommentPayload = z.infer<typeof IssueCommentEvent>;

/** The envelope id of the answer an issue comment gives: the same for every delivery of the comment. */
export function commentEventId(commentId: number): string {
  return `github-issue-comment-${commentId}`;
}

/** Relations to a repository that come with write access, enough to answer any question on its issues. */
const ANSWERING_ASSOCIATIONS: readonly string[] = ['OWNER', 'MEMBER', 'COLLABORATOR'];

/** Longest answer a ticket takes (HumanAnswered.text). */
const MAX_ANSWER = 20_000;

/**
 * Clock skew allowed between GitHub and nightshift: a comment written before its question (by more
 * than this) does not answer it, so a redelivered old comment does not answer a later parking.
 */
const COMMENT_SKEW_MS = 300_000;

/** Why a comment is not one a person just wrote: another action, a bot (nightshift's App among them), nightshift's own marker. */
function notNewFromAPerson(p: IssueCommentPayload): string | null {
  if (p.action !== 'created') return `issue_comment ${p.action} is not used`;
  if (p.comment.user?.type === 'Bot') return 'a comment by a bot';
  if (hasNightshiftMarker(p.comment.body)) return "nightshift's own comment";
  return null;
}

/**
 * Why a comment on a pull request's conversation is not feedback for nightshift, or null when it is: it
 * must be new, by a person (not a bot, not nightshift's own), mention `mention` (e.g. `@nightshift`, as
 * a word of its own, any case), and come from someone with write access — a plain "LGTM" or a drive-by
 * comment starts no work.
 */
export function pullRequestCommentNotFeedback(p: IssueCommentPayload, mention: string | undefined): string | null {
  const early = notNewFromAPerson(p);
  if (early) return early;
  if (!mention) return 'pull request comments are not used (NIGHTSHIFT_GITHUB_MENTION is off)';
  const body = p.comment.body?.trim() ?? '';
  const named = new RegExp(`(^|[^\\w@/-])${mention.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![\\w-])`, 'i');
  if (!named.test(body)) return `a pull request comment that does not mention ${mention} (submit a review, or mention ${mention}, to send work back)`;
  if (!ANSWERING_ASSOCIATIONS.includes(p.comment.author_association)) {
    return `${actor(p.comment.user)} has no write access (${p.comment.author_association.toLowerCase()}); only collaborators send work back by comment`;
  }
  return null;
}

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
  if (given.budget === undefined) return { ticketId: ticket.id, text: clip(text, MAX_ANSWER), by };
  if (!ANSWERING_ASSOCIATIONS.includes(p.comment.author_association)) {
    return `${by} may answer but not raise the token budget: that takes write access (${p.comment.author_association.toLowerCase()})`;
  }
  const problem = budgetProblem(given.budget, ticket.usage);
  if (problem !== null) return `/nightshift budget: ${problem}`;
  return { ticketId: ticket.id, text: clip(given.text, MAX_ANSWER), by, budget: given.budget };
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
    description: body ? clip(body, MAX_DESCRIPTION) : `The GitHub issue has no description: ${p.issue.html_url}`,
    repo,
    reporter: actor(p.issue.user ?? p.sender),
    externalId,
    labels,
  };
}

function actor(user: { login: string } | null): string {
  return `github:${(user?.login ?? 'ghost').slice(0, 190)}`;
}

/** `text` cut to at most `max` characters, saying so (never between the halves of a surrogate pair). */
function clip(text: string, max = 8_000): string {
  if (text.length <= max) return text;
  let end = max - 20;
  if (/[\uDC00-\uDFFF]/.test(text.charAt(end))) end--;
  return `${text.slice(0, end)} … (cut)`;
}

/** A review's body as a comment, when it says something. */
function reviewBody(body: string | null, state: string, user: { login: string } | null, url: string | undefined): PrComment[] {
  const text = body?.trim();
  if (text) return [{ by: actor(user), text: clip(text), ...(url && url.length <= 2_000 && { url }) }];
  // "Request changes" with no body still asks for something; the line comments (if any) say what.
  if (state === 'changes_requested') return [{ by: actor(user), text: 'Changes requested (see the line comments, if any).', ...(url && url.length <= 2_000 && { url }) }];
  return [];
}

function lineComment(c: z.infer<typeof ApiReviewComment>): PrComment[] {
  const text = c.body.trim();
  if (!text) return [];
  return [
    {
      by: actor(c.user ?? null),
      text: clip(text),
      ...(c.path && c.path.length <= 500 && { path: c.path }),
      ...(typeof c.line === 'number' && c.line > 0 && { line: c.line }),
      ...(c.html_url && c.html_url.length <= 2_000 && { url: c.html_url }),
    },
  ];
}
