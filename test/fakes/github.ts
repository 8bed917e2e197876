import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { appOperations } from './github/apps.ts';
import { whoIs } from './github/auth.ts';
import { handleGit } from './github/git.ts';
import { issueOperations } from './github/issues.ts';
import { commentJson, issueCommentJson, pullJson, reviewJson } from './github/json.ts';
import { pullOperations } from './github/pulls.ts';
import { createState, findIssue, findPull, findRepo, HttpError, issue, now, repo, ZERO, type Operations } from './github/state.ts';
import type { FakeGitHub, FakeGitHubOptions, FakeIssueComment, FakeReview, FakeReviewComment, HookResult, RecordedRequest } from './github/types.ts';
import { githubOpenApi } from './openapi.ts';

export type * from './github/types.ts';

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
 *
 * This file is the server: it routes and checks each request and keeps what tests drive the fake with.
 * What it serves is in test/fakes/github/: state.ts (repositories, lookups), json.ts (the REST
 * representations), issues.ts, pulls.ts and apps.ts (the REST operations by area), auth.ts (credentials)
 * and git.ts (git over HTTP); types.ts holds what a test sees.
 */

export async function startFakeGitHub(opts: FakeGitHubOptions = {}): Promise<FakeGitHub> {
  const api = githubOpenApi();
  const s = createState(opts, api);
  const requests: RecordedRequest[] = [];
  const hooks = new Map<string, ((req: RecordedRequest) => HookResult | Promise<HookResult>)[]>();
  const failures = new Map<string, { status: number; times: number }>();
  const operations: Operations = { ...issueOperations(s), ...pullOperations(s), ...appOperations(s) };

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
      s.violations.push(`${method} ${u.pathname}: ${op}`);
      return send(404, { message: `fake GitHub: ${op}` });
    }
    rec.operationId = op.operationId;
    let body: unknown;
    const hasBody = raw.length > 0;
    if (hasBody) {
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        s.violations.push(`${op.operationId}: body is not JSON`);
        return send(400, { message: 'Problems parsing JSON' });
      }
    }
    rec.body = body;
    const problems = api.checkRequest(op, { query: u.searchParams, body, hasBody });
    if (problems.length > 0) {
      s.violations.push(`${op.operationId} (${method} ${u.pathname}): ${problems.join('; ')}`);
      return send(400, { message: `fake GitHub: the request does not match the OpenAPI description: ${problems.join('; ')}` });
    }
    const as = whoIs(s, req.headers.authorization);
    rec.as = as;
    if (!as) return send(401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest' });
    const failing = failures.get(op.operationId);
    if (failing !== undefined) {
      if (--failing.times <= 0) failures.delete(op.operationId);
      return send(failing.status, { message: 'fake GitHub: failing on purpose' });
    }
    const impl = operations[op.operationId];
    if (!impl) {
      s.violations.push(`${op.operationId}: documented, but the fake does not implement it`);
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
    if (responseProblems.length > 0) s.violations.push(`the fake's own ${op.operationId} response: ${responseProblems.slice(0, 5).join('; ')}`);
    rec.status = status;
    for (const hook of hooks.get(op.operationId) ?? []) {
      if ((await hook(rec)) === 'drop') {
        req.socket.destroy();
        return;
      }
    }
    send(status, out, headers);
  }

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const work = (req.url ?? '').startsWith('/git/') ? handleGit(s, req, res, raw) : handleApi(req, res, raw);
      work.catch((err: unknown) => {
        s.violations.push(`the fake failed: ${(err as Error).stack ?? String(err)}`);
        if (!res.headersSent) res.writeHead(500).end();
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  s.url = url;
  const stop = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });

  return {
    url,
    gitUrl: `${url}/git`,
    requests,
    gitRequests: s.gitRequests,
    violations: s.violations,
    issuedTokens: s.issuedTokens,
    repo: (owner, name, o) => repo(s, owner, name, o),
    pull: (owner, name, number) => findPull(findRepo(s, owner, name), number),
    after(operationId, hook) {
      hooks.set(operationId, [...(hooks.get(operationId) ?? []), hook]);
    },
    failNext(operationId, status, times = 1) {
      if (times <= 0) failures.delete(operationId);
      else failures.set(operationId, { status, times });
    },
    issue: (owner, name, number, o) => issue(s, owner, name, number, o),
    commentOnIssue(owner, name, number, comment) {
      const r = findRepo(s, owner, name);
      const i = findIssue(r, number);
      const c: FakeIssueComment = {
        id: 5_000 + s.nextId++,
        user: comment.user,
        userType: comment.bot ? 'Bot' : 'User',
        association: comment.association ?? 'NONE',
        body: comment.body,
        createdAt: now(),
      };
      i.comments.push(c);
      return issueCommentJson(s, r, i, c);
    },
    issueCommentJson(owner, name, number, id) {
      const r = findRepo(s, owner, name);
      const i = findIssue(r, number);
      const c = i.comments.find((x) => x.id === id);
      if (!c) throw new Error(`no comment ${id} on ${owner}/${name}#${number}`);
      return issueCommentJson(s, r, i, c);
    },
    submitReview(owner, name, number, review) {
      const r = findRepo(s, owner, name);
      const p = findPull(r, number);
      const v: FakeReview = { id: s.nextId++, user: review.user, body: review.body ?? '', state: review.state, commitId: ZERO, submittedAt: now() };
      p.reviews.push(v);
      const comments = (review.comments ?? []).map((c) => {
        const fc: FakeReviewComment = { id: 2_000 + s.nextId++, reviewId: v.id, user: review.user, body: c.body, path: c.path, line: c.line, commitId: ZERO, createdAt: now() };
        p.comments.push(fc);
        return fc;
      });
      return { review: reviewJson(s, r, p, v), comments: comments.map((c) => commentJson(s, r, p, c)) };
    },
    merge(owner, name, number) {
      const p = findPull(findRepo(s, owner, name), number);
      Object.assign(p, { state: 'closed', merged: true, updatedAt: now() });
    },
    close(owner, name, number) {
      const p = findPull(findRepo(s, owner, name), number);
      Object.assign(p, { state: 'closed', merged: false, updatedAt: now() });
    },
    pullJson: (owner, name, number) => {
      const r = findRepo(s, owner, name);
      return pullJson(s, r, findPull(r, number));
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
