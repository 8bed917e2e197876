import { z } from 'zod';
import { PrChangesRequested, PrClosed, PrMerged, type PrComment } from '../../bus/index.ts';
import { isSummaryReview, parseGitHubUrl, type GitHubConnection, type GitHubRepo } from '../../shared/forge/index.ts';
import { clip, ticketBranch, ticketOfBranch, type PullRequest, type PullRequestStore } from '../../shared/index.ts';
import {
  accepted,
  actor,
  ANSWERING_ASSOCIATIONS,
  CUT,
  ignored,
  MAX_TEXT,
  notNewFromAPerson,
  send,
  type Delivery,
  type IssueCommentPayload,
  type Publish,
  type WebhookResponse,
} from './delivery.ts';
import { ApiReview, ApiReviewComment, PullRequestEvent, PullRequestReviewCommentEvent, PullRequestReviewEvent } from './payloads.ts';

export interface ReviewFeedbackDeps {
  /** Recorded pull requests: how a pull request is known to be a ticket's. */
  prs: PullRequestStore;
  publish: Publish;
  /** Hosts whose repository URLs are GitHub's (see gitHubHosts). */
  hosts: readonly string[];
  /** API access, to gather a whole review (its body and every line comment) from any of its events; null: the payload only. */
  github: GitHubConnection | null;
  /** A comment on a nightshift pull request's conversation that mentions this (e.g. `@nightshift`) sends work back. */
  mention?: string | undefined;
}

const MAX_COMMENTS = 100;

interface Target {
  ticketId: string;
  record: PullRequest;
  repo: GitHubRepo;
}

interface Feedback {
  comments: PrComment[];
  ids: string[];
}

/**
 * What people do on a ticket's pull request: reviews and line comments (and conversation comments
 * that mention nightshift) send the ticket back with their feedback; closing it, merged or not, ends
 * the ticket. A pull request counts only when its branch names a ticket and the store records this
 * very pull request for it.
 */
export function createReviewFeedback(deps: ReviewFeedbackDeps) {
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
    const type = merged ? await send(deps.publish, ctx, target.ticketId, PrMerged, data) : await send(deps.publish, ctx, target.ticketId, PrClosed, data);
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
    const type = await send(deps.publish, ctx, target.ticketId, PrChangesRequested, {
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
    const comments: PrComment[] = [{ by: actor(c.user), text: clip(c.body!.trim(), MAX_TEXT, CUT), ...(c.html_url && c.html_url.length <= 2_000 && { url: c.html_url }) }];
    return requestChanges(ctx, target, { number: record.number, html_url: p.issue.html_url }, c.user ?? p.sender, { comments, ids: [`issue-comment:${c.id}`] });
  }

  /** The ticket a pull request belongs to: its branch names it and the store records this very pull request. */
  async function ticketOf(pr: { number: number; head: { ref: string } }, fullName: string): Promise<Target | string> {
    const ticketId = ticketOfBranch(pr.head.ref);
    if (ticketId === null) return `${fullName}#${pr.number} is not from a nightshift branch`;
    const record = await deps.prs.get(ticketId);
    const repo = record ? parseGitHubUrl(record.repo, deps.hosts) : null;
    const same = repo !== null && `${repo.owner}/${repo.name}`.toLowerCase() === fullName.toLowerCase();
    if (!record || record.forge !== 'github' || record.number !== pr.number || record.branch !== ticketBranch(ticketId) || !same || !repo) {
      return `no pull request ${fullName}#${pr.number} is recorded for ticket ${ticketId}`;
    }
    return { ticketId, record, repo };
  }

  return { onPullRequest, onReview, onReviewComment, onPullRequestComment };
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

/** A review's body as a comment, when it says something. */
function reviewBody(body: string | null, state: string, user: { login: string } | null, url: string | undefined): PrComment[] {
  const text = body?.trim();
  if (text) return [{ by: actor(user), text: clip(text, MAX_TEXT, CUT), ...(url && url.length <= 2_000 && { url }) }];
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
      text: clip(text, MAX_TEXT, CUT),
      ...(c.path && c.path.length <= 500 && { path: c.path }),
      ...(typeof c.line === 'number' && c.line > 0 && { line: c.line }),
      ...(c.html_url && c.html_url.length <= 2_000 && { url: c.html_url }),
    },
  ];
}
