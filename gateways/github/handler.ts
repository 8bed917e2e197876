import { Webhooks } from '@octokit/webhooks';
import { z } from 'zod';
import type { Logger } from '../../shared/index.ts';
import { ignored, parsed, refuse, type Delivery, type WebhookResponse } from './delivery.ts';
import { createIssueIntake, type IssueIntakeDeps } from './issues.ts';
import { IssueCommentEvent, IssuesEvent, PullRequestEvent, PullRequestReviewCommentEvent, PullRequestReviewEvent } from './payloads.ts';
import { createReviewFeedback, type ReviewFeedbackDeps } from './reviews.ts';

export { GITHUB_SOURCE } from './delivery.ts';
export type { WebhookResponse } from './delivery.ts';
export { answerOfComment, BUDGET_COMMAND, commentEventId, commentNotAnswer, issueBugReport, issueRoute, issueTicketRequest } from './issues.ts';
export { pullRequestCommentNotFeedback } from './reviews.ts';

/** One webhook delivery as the HTTP server got it. */
export interface WebhookRequest {
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export interface WebhookHandlerDeps extends ReviewFeedbackDeps, IssueIntakeDeps {
  /** The webhook's secret: every delivery must carry its HMAC in X-Hub-Signature-256. */
  secret: string;
  log: Logger;
}

const DeliveryId = z.string().regex(/^[A-Za-z0-9-]{1,100}$/);
const EventName = z.string().regex(/^[a-z_]{1,64}$/);

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

  const reviews = createReviewFeedback(deps);
  const issues = createIssueIntake(deps);

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
    const delivery = DeliveryId.safeParse(header('x-github-delivery'));
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
        return parsed(PullRequestEvent, payload, (p) => reviews.onPullRequest(ctx, p));
      case 'pull_request_review':
        return parsed(PullRequestReviewEvent, payload, (p) => reviews.onReview(ctx, p));
      case 'pull_request_review_comment':
        return parsed(PullRequestReviewCommentEvent, payload, (p) => reviews.onReviewComment(ctx, p));
      case 'issues':
        return parsed(IssuesEvent, payload, (p) => issues.onIssue(ctx, p));
      case 'issue_comment':
        // A pull request's conversation is an issue to GitHub: its comments are review feedback.
        return parsed(IssueCommentEvent, payload, (p) => (p.issue.pull_request != null ? reviews.onPullRequestComment(ctx, p) : issues.onIssueComment(ctx, p)));
      default:
        return ignored(ctx, `${event.data} events are not used`);
    }
  };
}
