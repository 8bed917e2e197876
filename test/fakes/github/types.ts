/*
 * What the local GitHub (test/fakes/github.ts) holds and answers with: its repositories, pull requests,
 * reviews, issues and comments, the requests it records, and the handle a test drives it through.
 */

export interface FakeReview {
  id: number;
  user: string;
  body: string;
  state: 'COMMENTED' | 'CHANGES_REQUESTED' | 'APPROVED';
  commitId: string;
  submittedAt: string;
}

export interface FakeReviewComment {
  id: number;
  reviewId: number;
  user: string;
  body: string;
  path: string;
  line: number;
  commitId: string;
  createdAt: string;
}

export interface FakePull {
  number: number;
  title: string;
  body: string;
  state: 'open' | 'closed';
  merged: boolean;
  head: string;
  base: string;
  user: string;
  createdAt: string;
  updatedAt: string;
  reviews: FakeReview[];
  comments: FakeReviewComment[];
}

export interface FakeIssueComment {
  id: number;
  user: string;
  /** `Bot` for an App (`name[bot]`), `User` for anyone else. */
  userType: 'User' | 'Bot';
  /** The commenter's relation to the repository, as GitHub reports it. */
  association: 'OWNER' | 'MEMBER' | 'COLLABORATOR' | 'CONTRIBUTOR' | 'NONE';
  body: string;
  createdAt: string;
}

export interface FakeIssue {
  number: number;
  title: string;
  body: string;
  user: string;
  createdAt: string;
  comments: FakeIssueComment[];
}

export interface FakeRepo {
  owner: string;
  name: string;
  /** The bare repository behind it (git over HTTP, head and base commits), when there is one. */
  gitDir?: string;
  pulls: FakePull[];
  issues: FakeIssue[];
}

export interface RecordedRequest {
  method: string;
  path: string;
  operationId: string | null;
  query: Record<string, string>;
  body: unknown;
  status: number;
  /** Who the credentials were: a token's user, `app` for the App JWT, or null. */
  as: string | null;
}

export interface RecordedGitRequest {
  method: string;
  path: string;
  service: string | null;
  status: number;
  authorized: boolean;
}

/** What a hook may ask of the response: `drop` closes the connection without answering (a crash after the write). */
export type HookResult = 'drop' | void;

export interface FakeGitHubOptions {
  /** A personal access token the API and git accept, acting as `user` (default nightshift-bot). */
  token?: string;
  user?: string;
  /** A GitHub App: its id and public key (PEM); installations are made per repository on demand. */
  app?: { id: number; publicKey: string };
  /** Directory of bare repositories, `<gitRoot>/<owner>/<name>.git`, served under `/git/`. */
  gitRoot?: string;
}

export interface FakeGitHub extends AsyncDisposable {
  /** The API base URL (GITHUB_API_URL). */
  readonly url: string;
  /** The git base URL (GITHUB_GIT_URL): `<gitUrl>/<owner>/<name>.git`. */
  readonly gitUrl: string;
  readonly requests: RecordedRequest[];
  readonly gitRequests: RecordedGitRequest[];
  /** Everything the fake found wrong with what it was sent (or with itself). */
  readonly violations: string[];
  /** Installation tokens issued to the App. */
  readonly issuedTokens: string[];
  repo(owner: string, name: string, opts?: { gitDir?: string }): FakeRepo;
  pull(owner: string, name: string, number: number): FakePull;
  /** Runs after the fake handled a request of `operationId` and before it answers. */
  after(operationId: string, hook: (req: RecordedRequest) => HookResult | Promise<HookResult>): void;
  /** Answers the next `times` requests of `operationId` (default 1; 0 stops failing) with `status`, doing nothing. */
  failNext(operationId: string, status: number, times?: number): void;
  /** An issue (made on first use, opened by `opts.user`, default octocat). */
  issue(owner: string, name: string, number: number, opts?: { user?: string; title?: string; body?: string }): FakeIssue;
  /** A person comments on an issue: returns the comment as the REST API shows it (for webhook payloads). */
  commentOnIssue(
    owner: string,
    name: string,
    number: number,
    comment: { user: string; body: string; association?: FakeIssueComment['association']; bot?: boolean },
  ): Record<string, unknown>;
  /** An issue comment as the REST API shows it. */
  issueCommentJson(owner: string, name: string, number: number, id: number): Record<string, unknown>;
  /** A person reviews a pull request: returns the review and its comments as the REST API shows them. */
  submitReview(
    owner: string,
    name: string,
    number: number,
    review: { user: string; state: FakeReview['state']; body?: string; comments?: { path: string; line: number; body: string }[] },
  ): { review: Record<string, unknown>; comments: Record<string, unknown>[] };
  merge(owner: string, name: string, number: number): void;
  close(owner: string, name: string, number: number): void;
  /** REST representations, for building webhook payloads. */
  pullJson(owner: string, name: string, number: number): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}
