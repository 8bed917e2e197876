import { z } from 'zod';

/**
 * The parts of GitHub's webhook payloads the receiver relies on (GitHub sends much more; unknown fields
 * are ignored). Checked against `@octokit/webhooks-examples` in the tests.
 */

const User = z.object({ login: z.string().min(1) }).nullable();

export const Repository = z.object({
  full_name: z.string().regex(/^[^/\s]+\/[^/\s]+$/),
  html_url: z.string().min(1),
});

const PullRequestRef = z.object({
  number: z.number().int().positive(),
  html_url: z.string(),
  state: z.string(),
  merged: z.boolean().nullable().optional(),
  merged_at: z.string().nullable().optional(),
  merge_commit_sha: z.string().nullable().optional(),
  head: z.object({ ref: z.string(), sha: z.string() }),
  base: z.object({ ref: z.string() }),
});
export type PullRequestRef = z.infer<typeof PullRequestRef>;

export const PullRequestEvent = z.object({
  action: z.string(),
  pull_request: PullRequestRef,
  repository: Repository,
  sender: User,
});

export const PullRequestReviewEvent = z.object({
  action: z.string(),
  review: z.object({
    id: z.number().int().positive(),
    body: z.string().nullable(),
    state: z.string(),
    html_url: z.string().optional(),
    user: User,
  }),
  pull_request: PullRequestRef,
  repository: Repository,
  sender: User,
});

export const PullRequestReviewCommentEvent = z.object({
  action: z.string(),
  comment: z.object({
    id: z.number().int().positive(),
    body: z.string(),
    path: z.string().optional(),
    line: z.number().int().nullable().optional(),
    html_url: z.string().optional(),
    pull_request_review_id: z.number().int().nullable().optional(),
    user: User,
  }),
  pull_request: PullRequestRef,
  repository: Repository,
  sender: User,
});

export const IssuesEvent = z.object({
  action: z.string(),
  issue: z.object({
    number: z.number().int().positive(),
    title: z.string(),
    body: z.string().nullable(),
    html_url: z.string(),
    labels: z.array(z.object({ name: z.string() })).optional(),
    /** Who opened the issue: a bug report's reporter. */
    user: User.optional(),
  }),
  label: z.object({ name: z.string() }).optional(),
  repository: Repository,
  sender: User,
});

/** A review as the REST API returns it (`GET …/reviews/{id}`). */
export const ApiReview = z.object({
  id: z.number().int().positive(),
  body: z.string().nullable().optional(),
  state: z.string(),
  html_url: z.string().optional(),
  user: User.optional(),
});

/** A review comment as the REST API returns it (`GET …/reviews/{id}/comments`). */
export const ApiReviewComment = z.object({
  id: z.number().int().positive(),
  body: z.string(),
  path: z.string().optional(),
  line: z.number().int().nullable().optional(),
  original_line: z.number().int().nullable().optional(),
  html_url: z.string().optional(),
  user: User.optional(),
});

/** Who wrote a comment: `type` is `Bot` for apps (nightshift's own App among them). */
const Commenter = z.object({ login: z.string().min(1), type: z.string().optional() }).nullable();

/** `issue_comment`: a comment on an issue's conversation (or on a pull request's, with `issue.pull_request`). */
export const IssueCommentEvent = z.object({
  action: z.string(),
  issue: z.object({
    number: z.number().int().positive(),
    html_url: z.string(),
    /** Present when the "issue" is a pull request. */
    pull_request: z.unknown().optional(),
  }),
  comment: z.object({
    id: z.number().int().positive(),
    body: z.string().nullable(),
    html_url: z.string().optional(),
    created_at: z.string(),
    /** The commenter's relation to the repository: OWNER, MEMBER, COLLABORATOR, CONTRIBUTOR, NONE… */
    author_association: z.string(),
    user: Commenter,
  }),
  repository: Repository,
  sender: User,
});

/** An issue comment as the REST API returns it (`POST`/`GET …/issues/{number}/comments`). */
export const ApiIssueComment = z.object({
  id: z.number().int().positive(),
  body: z.string().nullable().optional(),
  html_url: z.string().optional(),
  user: Commenter.optional(),
});
export type ApiIssueComment = z.infer<typeof ApiIssueComment>;
