import { spawn } from 'node:child_process';
import { createPublicKey, createVerify, randomBytes, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { git } from '../../shared/index.ts';
import { githubOpenApi, type Operation } from './openapi.ts';

/**
 * A local GitHub, enough for nightshift: the REST endpoints it uses, with in-memory pull requests,
 * reviews and review comments, issues and their comments, and git's smart HTTP protocol over bare
 * repositories on disk.
 *
 * Every REST request is routed by GitHub's OpenAPI description (`@octokit/openapi`): a path or method
 * the description does not have, a missing required parameter or body field, an unknown field or a
 * value of the wrong type is answered 400 and recorded in `violations`, and so is a response of the fake
 * that does not fit the documented schema. A documented endpoint the fake does not implement is
 * answered 501 and recorded too. Tests end with `expect(fake.violations).toEqual([])`.
 *
 * Authentication is checked like GitHub does: the API wants `Authorization: token|bearer <token>` with
 * the configured token or an installation token the fake issued; the App endpoints want an RS256 JWT
 * signed with the App's key. Git wants `Authorization: Basic` with any user and such a token as the
 * password (`x-access-token`).
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

class HttpError extends Error {
  readonly status: number;
  readonly body: Record<string, unknown>;
  constructor(status: number, message: string, extra: Record<string, unknown> = {}) {
    super(message);
    this.status = status;
    this.body = { message, documentation_url: 'https://docs.github.com/rest', ...extra };
  }
}

const BOT = 'nightshift-bot';
const ZERO = '0'.repeat(40);

export async function startFakeGitHub(opts: FakeGitHubOptions = {}): Promise<FakeGitHub> {
  const api = githubOpenApi();
  const repos = new Map<string, FakeRepo>();
  const requests: RecordedRequest[] = [];
  const gitRequests: RecordedGitRequest[] = [];
  const violations: string[] = [];
  const hooks = new Map<string, ((req: RecordedRequest) => HookResult | Promise<HookResult>)[]>();
  const failures = new Map<string, { status: number; times: number }>();
  const installations = new Map<string, number>();
  const installationTokens = new Map<string, { installation: number; expiresAt: number }>();
  const appKey: KeyObject | null = opts.app ? createPublicKey(opts.app.publicKey) : null;
  const issuedTokens: string[] = [];
  let nextId = 80;
  let url = '';
  const now = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  const key = (owner: string, name: string) => `${owner}/${name}`.toLowerCase();

  function repo(owner: string, name: string, o: { gitDir?: string } = {}): FakeRepo {
    let r = repos.get(key(owner, name));
    if (!r) {
      const gitDir = o.gitDir ?? (opts.gitRoot ? join(opts.gitRoot, owner, `${name}.git`) : undefined);
      r = { owner, name, ...(gitDir && { gitDir }), pulls: [], issues: [] };
      repos.set(key(owner, name), r);
    } else if (o.gitDir) r.gitDir = o.gitDir;
    return r;
  }
  function findRepo(owner: string, name: string): FakeRepo {
    const r = repos.get(key(owner, name));
    if (!r) throw new HttpError(404, 'Not Found');
    return r;
  }
  function findIssue(r: FakeRepo, number: string | number): FakeIssue {
    const i = r.issues.find((x) => x.number === Number(number));
    if (!i) throw new HttpError(404, 'Not Found');
    return i;
  }
  function issue(owner: string, name: string, number: number, o: { user?: string; title?: string; body?: string } = {}): FakeIssue {
    const r = repo(owner, name);
    let i = r.issues.find((x) => x.number === number);
    if (!i) {
      i = { number, title: o.title ?? `Issue ${number}`, body: o.body ?? '', user: o.user ?? 'octocat', createdAt: now(), comments: [] };
      r.issues.push(i);
    }
    return i;
  }
  function findPull(r: FakeRepo, number: string | number): FakePull {
    const p = r.pulls.find((x) => x.number === Number(number));
    if (!p) throw new HttpError(404, 'Not Found');
    return p;
  }
  async function sha(r: FakeRepo, branch: string): Promise<string | null> {
    if (!r.gitDir) return ZERO;
    try {
      return (await git(r.gitDir, ['rev-parse', '--verify', `refs/heads/${branch}^{commit}`])).trim();
    } catch {
      return null;
    }
  }
  async function isOnBranch(r: FakeRepo, commit: string, branch: string): Promise<boolean> {
    if (!r.gitDir) return true;
    try {
      await git(r.gitDir, ['merge-base', '--is-ancestor', commit, `refs/heads/${branch}`]);
      return true;
    } catch {
      return false;
    }
  }

  // ---- REST representations, from the description's own examples -----------------------------

  const userJson = (login: string) => ({ ...(api.example('pull-request').user as Record<string, unknown>), login, html_url: `https://github.com/${login}` });

  async function pullJson(r: FakeRepo, p: FakePull, simple = false): Promise<Record<string, unknown>> {
    const t = simple ? (api.example('pull-request-simple-items') as unknown as Record<string, unknown>[])[0]! : api.example('pull-request');
    const apiBase = `${url}/repos/${r.owner}/${r.name}`;
    const html = `https://github.com/${r.owner}/${r.name}/pull/${p.number}`;
    const side = async (ref: string, tmpl: Record<string, unknown>) => ({
      ...tmpl,
      label: `${r.owner}:${ref}`,
      ref,
      sha: (await sha(r, ref)) ?? ZERO,
      user: userJson(r.owner),
    });
    const json: Record<string, unknown> = {
      ...t,
      id: 1_000 + p.number,
      number: p.number,
      url: `${apiBase}/pulls/${p.number}`,
      html_url: html,
      state: p.state,
      title: p.title,
      body: p.body,
      user: userJson(p.user),
      created_at: p.createdAt,
      updated_at: p.updatedAt,
      closed_at: p.state === 'closed' ? p.updatedAt : null,
      merged_at: p.merged ? p.updatedAt : null,
      draft: false,
      requested_reviewers: [],
      requested_teams: [],
      head: await side(p.head, t.head as Record<string, unknown>),
      base: await side(p.base, t.base as Record<string, unknown>),
    };
    if (!simple) Object.assign(json, { merged: p.merged, mergeable: true, merged_by: p.merged ? userJson('octocat') : null, comments: 0, review_comments: p.comments.length });
    return json;
  }

  function reviewJson(r: FakeRepo, p: FakePull, v: FakeReview): Record<string, unknown> {
    const html = `https://github.com/${r.owner}/${r.name}/pull/${p.number}#pullrequestreview-${v.id}`;
    return {
      ...api.example('pull-request-review'),
      id: v.id,
      node_id: `PRR_${v.id}`,
      user: userJson(v.user),
      body: v.body,
      state: v.state,
      html_url: html,
      pull_request_url: `${url}/repos/${r.owner}/${r.name}/pulls/${p.number}`,
      _links: { html: { href: html }, pull_request: { href: `${url}/repos/${r.owner}/${r.name}/pulls/${p.number}` } },
      submitted_at: v.submittedAt,
      commit_id: v.commitId,
    };
  }

  function commentJson(r: FakeRepo, p: FakePull, c: FakeReviewComment): Record<string, unknown> {
    const t = (api.example('review-comment-items') as unknown as Record<string, unknown>[])[0]!;
    const html = `https://github.com/${r.owner}/${r.name}/pull/${p.number}#discussion_r${c.id}`;
    return {
      ...t,
      id: c.id,
      node_id: `PRRC_${c.id}`,
      pull_request_review_id: c.reviewId,
      user: userJson(c.user),
      body: c.body,
      path: c.path,
      line: c.line,
      original_line: c.line,
      commit_id: c.commitId,
      original_commit_id: c.commitId,
      html_url: html,
      pull_request_url: `${url}/repos/${r.owner}/${r.name}/pulls/${p.number}`,
      created_at: c.createdAt,
      updated_at: c.createdAt,
    };
  }

  function issueCommentJson(r: FakeRepo, i: FakeIssue, c: FakeIssueComment): Record<string, unknown> {
    const t = api.example('issue-comment');
    const apiBase = `${url}/repos/${r.owner}/${r.name}`;
    return {
      ...t,
      id: c.id,
      node_id: `IC_${c.id}`,
      url: `${apiBase}/issues/comments/${c.id}`,
      html_url: `https://github.com/${r.owner}/${r.name}/issues/${i.number}#issuecomment-${c.id}`,
      issue_url: `${apiBase}/issues/${i.number}`,
      body: c.body,
      user: { ...userJson(c.user), type: c.userType },
      author_association: c.association,
      created_at: c.createdAt,
      updated_at: c.createdAt,
    };
  }

  /** A `Link` header for page `page` of `total` items, `perPage` a page, as GitHub sends it (absent for one page). */
  function linkHeader(path: string, query: URLSearchParams, page: number, perPage: number, total: number): Record<string, string> {
    const last = Math.max(1, Math.ceil(total / perPage));
    const at = (n: number) => {
      const q = new URLSearchParams(query);
      q.set('page', String(n));
      q.set('per_page', String(perPage));
      return `<${url}${path}?${q.toString()}>`;
    };
    const links: string[] = [];
    if (page < last) links.push(`${at(page + 1)}; rel="next"`, `${at(last)}; rel="last"`);
    if (page > 1) links.push(`${at(1)}; rel="first"`, `${at(page - 1)}; rel="prev"`);
    return links.length ? { link: links.join(', ') } : {};
  }

  // ---- authentication -------------------------------------------------------------------------

  function whoIs(header: string | undefined): string | null {
    const m = /^(token|bearer)\s+(\S+)$/i.exec(header ?? '');
    if (!m) return null;
    const credential = m[2]!;
    if (opts.token && credential === opts.token) return opts.user ?? BOT;
    const issued = installationTokens.get(credential);
    if (issued && issued.expiresAt > Date.now()) return `${BOT}[bot]`;
    if (appKey && credential.split('.').length === 3 && verifyJwt(credential)) return 'app';
    return null;
  }

  function verifyJwt(jwt: string): boolean {
    const [h, p, s] = jwt.split('.') as [string, string, string];
    try {
      const header = JSON.parse(Buffer.from(h, 'base64url').toString()) as { alg?: string };
      const payload = JSON.parse(Buffer.from(p, 'base64url').toString()) as { iss?: unknown; iat?: number; exp?: number };
      const ok = createVerify('RSA-SHA256').update(`${h}.${p}`).verify(appKey!, Buffer.from(s, 'base64url'));
      const t = Date.now() / 1000;
      const valid = ok && header.alg === 'RS256' && String(payload.iss) === String(opts.app!.id) && (payload.iat ?? Infinity) <= t + 60 && (payload.exp ?? 0) > t && (payload.exp ?? 0) - (payload.iat ?? 0) <= 600;
      if (!valid) violations.push(`an App JWT that GitHub would refuse: ${JSON.stringify({ header, payload, signatureOk: ok })}`);
      return valid;
    } catch {
      return false;
    }
  }

  // ---- operations -------------------------------------------------------------------------------

  type Ctx = { op: Operation; path: string; query: URLSearchParams; body: Record<string, unknown>; as: string };
  const operations: Record<string, (c: Ctx) => Promise<[number, unknown] | [number, unknown, Record<string, string>]>> = {
    async 'issues/create-comment'({ op, body, as }) {
      const r = findRepo(op.params.owner!, op.params.repo!);
      const i = findIssue(r, op.params.issue_number!);
      if (String(body.body ?? '').length > 65_536) throw new HttpError(422, 'Validation Failed', { errors: [{ resource: 'IssueComment', field: 'body', code: 'too_long' }] });
      const c: FakeIssueComment = { id: 5_000 + nextId++, user: as, userType: as.endsWith('[bot]') ? 'Bot' : 'User', association: 'NONE', body: String(body.body), createdAt: now() };
      i.comments.push(c);
      return [201, issueCommentJson(r, i, c)];
    },
    async 'issues/list-comments'({ op, path, query }) {
      const r = findRepo(op.params.owner!, op.params.repo!);
      const i = findIssue(r, op.params.issue_number!);
      const since = query.get('since');
      // GitHub's `since` is on the last update; the fake's comments are never edited.
      const found = since === null ? i.comments : i.comments.filter((c) => Date.parse(c.createdAt) >= Date.parse(since));
      const perPage = Math.min(100, Number(query.get('per_page') ?? 30));
      const page = Number(query.get('page') ?? 1);
      const items = found.slice((page - 1) * perPage, page * perPage).map((c) => issueCommentJson(r, i, c));
      return [200, items, linkHeader(path, query, page, perPage, found.length)];
    },
    async 'pulls/list'({ op, query }) {
      const r = findRepo(op.params.owner!, op.params.repo!);
      const state = query.get('state') ?? 'open';
      const head = query.get('head');
      const base = query.get('base');
      const perPage = Number(query.get('per_page') ?? 30);
      const found = r.pulls.filter(
        (p) =>
          (state === 'all' || p.state === state) &&
          (head === null || head.toLowerCase() === `${r.owner}:${p.head}`.toLowerCase()) &&
          (base === null || p.base === base),
      );
      return [200, await Promise.all(found.slice(0, perPage).map((p) => pullJson(r, p, true)))];
    },
    async 'pulls/create'({ op, body, as }) {
      const r = findRepo(op.params.owner!, op.params.repo!);
      const head = String(body.head);
      const base = String(body.base);
      if ((await sha(r, head)) === null) throw new HttpError(422, 'Validation Failed', { errors: [{ resource: 'PullRequest', field: 'head', code: 'invalid' }] });
      if ((await sha(r, base)) === null) throw new HttpError(422, 'Validation Failed', { errors: [{ resource: 'PullRequest', field: 'base', code: 'invalid' }] });
      if (r.pulls.some((p) => p.state === 'open' && p.head === head && p.base === base)) {
        throw new HttpError(422, 'Validation Failed', { errors: [{ resource: 'PullRequest', code: 'custom', message: `A pull request already exists for ${r.owner}:${head}.` }] });
      }
      const at = now();
      const p: FakePull = { number: r.pulls.length + 1, title: String(body.title), body: String(body.body ?? ''), state: 'open', merged: false, head, base, user: as, createdAt: at, updatedAt: at, reviews: [], comments: [] };
      r.pulls.push(p);
      return [201, await pullJson(r, p)];
    },
    async 'pulls/get'({ op }) {
      const r = findRepo(op.params.owner!, op.params.repo!);
      return [200, await pullJson(r, findPull(r, op.params.pull_number!))];
    },
    async 'pulls/update'({ op, body }) {
      const r = findRepo(op.params.owner!, op.params.repo!);
      const p = findPull(r, op.params.pull_number!);
      if (typeof body.title === 'string') p.title = body.title;
      if (typeof body.body === 'string') p.body = body.body;
      if (body.state === 'closed' || body.state === 'open') p.state = body.state;
      p.updatedAt = now();
      return [200, await pullJson(r, p)];
    },
    async 'pulls/list-reviews'({ op, query }) {
      const r = findRepo(op.params.owner!, op.params.repo!);
      const p = findPull(r, op.params.pull_number!);
      const perPage = Number(query.get('per_page') ?? 30);
      const page = Number(query.get('page') ?? 1);
      return [200, p.reviews.slice((page - 1) * perPage, page * perPage).map((v) => reviewJson(r, p, v))];
    },
    async 'pulls/create-review'({ op, body, as }) {
      const r = findRepo(op.params.owner!, op.params.repo!);
      const p = findPull(r, op.params.pull_number!);
      const event = body.event;
      if (event !== 'COMMENT' && event !== 'REQUEST_CHANGES' && event !== 'APPROVE') throw new HttpError(422, 'the fake only posts submitted reviews: give event');
      if ((event === 'COMMENT' || event === 'REQUEST_CHANGES') && !body.body) throw new HttpError(422, 'Unprocessable Entity', { errors: [`Body is required for ${event}`] });
      const head = (await sha(r, p.head)) ?? ZERO;
      const commitId = typeof body.commit_id === 'string' ? body.commit_id : head;
      if (!(await isOnBranch(r, commitId, p.head))) throw new HttpError(422, 'Unprocessable Entity', { errors: ['commit_id is not part of the pull request'] });
      const state = event === 'COMMENT' ? 'COMMENTED' : event === 'APPROVE' ? 'APPROVED' : 'CHANGES_REQUESTED';
      const v: FakeReview = { id: nextId++, user: as, body: String(body.body ?? ''), state, commitId, submittedAt: now() };
      p.reviews.push(v);
      return [200, reviewJson(r, p, v)];
    },
    async 'pulls/get-review'({ op }) {
      const r = findRepo(op.params.owner!, op.params.repo!);
      const p = findPull(r, op.params.pull_number!);
      const v = p.reviews.find((x) => x.id === Number(op.params.review_id));
      if (!v) throw new HttpError(404, 'Not Found');
      return [200, reviewJson(r, p, v)];
    },
    async 'pulls/update-review'({ op, body, as }) {
      const r = findRepo(op.params.owner!, op.params.repo!);
      const p = findPull(r, op.params.pull_number!);
      const v = p.reviews.find((x) => x.id === Number(op.params.review_id));
      if (!v) throw new HttpError(404, 'Not Found');
      if (v.user !== as) throw new HttpError(403, 'only the author can edit a review');
      v.body = String(body.body);
      return [200, reviewJson(r, p, v)];
    },
    async 'pulls/list-comments-for-review'({ op, query }) {
      const r = findRepo(op.params.owner!, op.params.repo!);
      const p = findPull(r, op.params.pull_number!);
      const id = Number(op.params.review_id);
      if (!p.reviews.some((x) => x.id === id)) throw new HttpError(404, 'Not Found');
      const perPage = Number(query.get('per_page') ?? 30);
      const page = Number(query.get('page') ?? 1);
      return [200, p.comments.filter((c) => c.reviewId === id).slice((page - 1) * perPage, page * perPage).map((c) => commentJson(r, p, c))];
    },
    async 'apps/get-repo-installation'({ op, as }) {
      if (as !== 'app') throw new HttpError(401, 'A JSON web token could not be decoded');
      const r = findRepo(op.params.owner!, op.params.repo!);
      let id = installations.get(key(r.owner, r.name));
      if (id === undefined) installations.set(key(r.owner, r.name), (id = 4_000 + installations.size));
      return [200, { ...api.example('installation'), id, app_id: opts.app!.id }];
    },
    async 'apps/create-installation-access-token'({ op, as }) {
      if (as !== 'app') throw new HttpError(401, 'A JSON web token could not be decoded');
      const id = Number(op.params.installation_id);
      if (![...installations.values()].includes(id)) throw new HttpError(404, 'Not Found');
      const token = `ghs_${randomBytes(18).toString('hex')}`;
      const expiresAt = Date.now() + 60 * 60_000;
      installationTokens.set(token, { installation: id, expiresAt });
      issuedTokens.push(token);
      return [201, { ...api.example('installation-token'), token, expires_at: new Date(expiresAt).toISOString().replace(/\.\d{3}Z$/, 'Z') }];
    },
  };

  // ---- HTTP -----------------------------------------------------------------------------------

  async function handleApi(req: IncomingMessage, res: ServerResponse, raw: Buffer): Promise<void> {
    const u = new URL(req.url ?? '/', 'http://fake');
    const method = req.method ?? 'GET';
    const rec: RecordedRequest = { method, path: u.pathname, operationId: null, query: Object.fromEntries(u.searchParams), body: undefined, status: 0, as: null };
    requests.push(rec);
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      rec.status = status;
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'x-github-request-id': randomBytes(4).toString('hex'), ...headers });
      res.end(body === undefined ? '' : JSON.stringify(body));
    };
    const op = api.match(method, u.pathname);
    if (typeof op === 'string') {
      violations.push(`${method} ${u.pathname}: ${op}`);
      return send(404, { message: `fake GitHub: ${op}` });
    }
    rec.operationId = op.operationId;
    let body: unknown;
    const hasBody = raw.length > 0;
    if (hasBody) {
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        violations.push(`${op.operationId}: body is not JSON`);
        return send(400, { message: 'Problems parsing JSON' });
      }
    }
    rec.body = body;
    const problems = api.checkRequest(op, { query: u.searchParams, body, hasBody });
    if (problems.length > 0) {
      violations.push(`${op.operationId} (${method} ${u.pathname}): ${problems.join('; ')}`);
      return send(400, { message: `fake GitHub: the request does not match the OpenAPI description: ${problems.join('; ')}` });
    }
    const as = whoIs(req.headers.authorization);
    rec.as = as;
    if (!as) return send(401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest' });
    const failing = failures.get(op.operationId);
    if (failing !== undefined) {
      if (--failing.times <= 0) failures.delete(op.operationId);
      return send(failing.status, { message: 'fake GitHub: failing on purpose' });
    }
    const impl = operations[op.operationId];
    if (!impl) {
      violations.push(`${op.operationId}: documented, but the fake does not implement it`);
      return send(501, { message: `fake GitHub does not implement ${op.operationId}` });
    }
    let status: number;
    let out: unknown;
    let headers: Record<string, string> = {};
    try {
      [status, out, headers = {}] = await impl({ op, path: u.pathname, query: u.searchParams, body: (body ?? {}) as Record<string, unknown>, as });
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      [status, out] = [err.status, err.body];
    }
    const responseProblems = status < 300 ? api.checkResponse(op, status, out) : [];
    if (responseProblems.length > 0) violations.push(`the fake's own ${op.operationId} response: ${responseProblems.slice(0, 5).join('; ')}`);
    rec.status = status;
    for (const hook of hooks.get(op.operationId) ?? []) {
      if ((await hook(rec)) === 'drop') {
        req.socket.destroy();
        return;
      }
    }
    send(status, out, headers);
  }

  async function handleGit(req: IncomingMessage, res: ServerResponse, raw: Buffer): Promise<void> {
    const u = new URL(req.url ?? '/', 'http://fake');
    const pathInfo = u.pathname.slice('/git'.length);
    const rec: RecordedGitRequest = { method: req.method ?? 'GET', path: pathInfo, service: u.searchParams.get('service') ?? (/(git-[a-z-]+)$/.exec(pathInfo)?.[1] ?? null), status: 0, authorized: false };
    gitRequests.push(rec);
    const basic = /^Basic\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    const password = basic ? Buffer.from(basic[1]!, 'base64').toString().split(':').slice(1).join(':') : '';
    rec.authorized = whoIs(`token ${password}`) !== null;
    if (!rec.authorized) {
      rec.status = 401;
      res.writeHead(401, { 'www-authenticate': 'Basic realm="GitHub"', 'content-type': 'text/plain' });
      res.end('Invalid username or token.');
      return;
    }
    if (!opts.gitRoot) {
      rec.status = 404;
      res.writeHead(404).end();
      return;
    }
    const child = spawn('git', ['http-backend'], {
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        GIT_PROJECT_ROOT: opts.gitRoot,
        GIT_HTTP_EXPORT_ALL: '1',
        GIT_CONFIG_NOSYSTEM: '1',
        HOME: opts.gitRoot,
        PATH_INFO: pathInfo,
        REQUEST_METHOD: req.method ?? 'GET',
        QUERY_STRING: u.search.slice(1),
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        CONTENT_LENGTH: String(raw.length),
        REMOTE_USER: 'x-access-token',
        REMOTE_ADDR: '127.0.0.1',
        ...(req.headers['content-encoding'] && { HTTP_CONTENT_ENCODING: req.headers['content-encoding'] }),
        ...(req.headers['git-protocol'] && { GIT_PROTOCOL: String(req.headers['git-protocol']) }),
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stdin.on('error', () => undefined);
    child.stdin.end(raw);
    await new Promise<void>((resolve) => child.on('close', () => resolve()));
    const all = Buffer.concat(out);
    let split = all.indexOf('\r\n\r\n');
    let sep = 4;
    if (split < 0) {
      split = all.indexOf('\n\n');
      sep = 2;
    }
    const head = all.subarray(0, Math.max(split, 0)).toString();
    const headers: Record<string, string> = {};
    let status = 200;
    for (const line of head.split(/\r?\n/)) {
      const i = line.indexOf(':');
      if (i < 0) continue;
      const name = line.slice(0, i).trim();
      const value = line.slice(i + 1).trim();
      if (name.toLowerCase() === 'status') status = Number(value.split(' ')[0]);
      else headers[name] = value;
    }
    rec.status = status;
    res.writeHead(status, headers);
    res.end(split < 0 ? all : all.subarray(split + sep));
  }

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const work = (req.url ?? '').startsWith('/git/') ? handleGit(req, res, raw) : handleApi(req, res, raw);
      work.catch((err: unknown) => {
        violations.push(`the fake failed: ${(err as Error).stack ?? String(err)}`);
        if (!res.headersSent) res.writeHead(500).end();
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const stop = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });

  return {
    url,
    gitUrl: `${url}/git`,
    requests,
    gitRequests,
    violations,
    issuedTokens,
    repo,
    pull: (owner, name, number) => findPull(findRepo(owner, name), number),
    after(operationId, hook) {
      hooks.set(operationId, [...(hooks.get(operationId) ?? []), hook]);
    },
    failNext(operationId, status, times = 1) {
      if (times <= 0) failures.delete(operationId);
      else failures.set(operationId, { status, times });
    },
    issue,
    commentOnIssue(owner, name, number, comment) {
      const r = findRepo(owner, name);
      const i = findIssue(r, number);
      const c: FakeIssueComment = {
        id: 5_000 + nextId++,
        user: comment.user,
        userType: comment.bot ? 'Bot' : 'User',
        association: comment.association ?? 'NONE',
        body: comment.body,
        createdAt: now(),
      };
      i.comments.push(c);
      return issueCommentJson(r, i, c);
    },
    issueCommentJson(owner, name, number, id) {
      const r = findRepo(owner, name);
      const i = findIssue(r, number);
      const c = i.comments.find((x) => x.id === id);
      if (!c) throw new Error(`no comment ${id} on ${owner}/${name}#${number}`);
      return issueCommentJson(r, i, c);
    },
    submitReview(owner, name, number, review) {
      const r = findRepo(owner, name);
      const p = findPull(r, number);
      const v: FakeReview = { id: nextId++, user: review.user, body: review.body ?? '', state: review.state, commitId: ZERO, submittedAt: now() };
      p.reviews.push(v);
      const comments = (review.comments ?? []).map((c) => {
        const fc: FakeReviewComment = { id: 2_000 + nextId++, reviewId: v.id, user: review.user, body: c.body, path: c.path, line: c.line, commitId: ZERO, createdAt: now() };
        p.comments.push(fc);
        return fc;
      });
      return { review: reviewJson(r, p, v), comments: comments.map((c) => commentJson(r, p, c)) };
    },
    merge(owner, name, number) {
      const p = findPull(findRepo(owner, name), number);
      Object.assign(p, { state: 'closed', merged: true, updatedAt: now() });
    },
    close(owner, name, number) {
      const p = findPull(findRepo(owner, name), number);
      Object.assign(p, { state: 'closed', merged: false, updatedAt: now() });
    },
    pullJson: (owner, name, number) => {
      const r = findRepo(owner, name);
      return pullJson(r, findPull(r, number));
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
