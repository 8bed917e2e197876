import { commentJson, pullJson, reviewJson } from './json.ts';
import { findPull, findRepo, HttpError, isOnBranch, now, sha, ZERO, type FakeState, type Operations } from './state.ts';
import type { FakePull, FakeReview } from './types.ts';

/**
 * The pull request endpoints nightshift uses: listing, opening, reading and updating pull requests, and
 * their reviews and review comments. Heads and bases are checked against the bare repository behind.
 */
export function pullOperations(s: FakeState): Operations {
  return {
    async 'pulls/list'({ op, query }) {
      const r = findRepo(s, op.params.owner!, op.params.repo!);
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
      return [200, await Promise.all(found.slice(0, perPage).map((p) => pullJson(s, r, p, true)))];
    },
    async 'pulls/create'({ op, body, as }) {
      const r = findRepo(s, op.params.owner!, op.params.repo!);
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
      return [201, await pullJson(s, r, p)];
    },
    async 'pulls/get'({ op }) {
      const r = findRepo(s, op.params.owner!, op.params.repo!);
      return [200, await pullJson(s, r, findPull(r, op.params.pull_number!))];
    },
    async 'pulls/update'({ op, body }) {
      const r = findRepo(s, op.params.owner!, op.params.repo!);
      const p = findPull(r, op.params.pull_number!);
      if (typeof body.title === 'string') p.title = body.title;
      if (typeof body.body === 'string') p.body = body.body;
      if (body.state === 'closed' || body.state === 'open') p.state = body.state;
      p.updatedAt = now();
      return [200, await pullJson(s, r, p)];
    },
    async 'pulls/list-reviews'({ op, query }) {
      const r = findRepo(s, op.params.owner!, op.params.repo!);
      const p = findPull(r, op.params.pull_number!);
      const perPage = Number(query.get('per_page') ?? 30);
      const page = Number(query.get('page') ?? 1);
      return [200, p.reviews.slice((page - 1) * perPage, page * perPage).map((v) => reviewJson(s, r, p, v))];
    },
    async 'pulls/create-review'({ op, body, as }) {
      const r = findRepo(s, op.params.owner!, op.params.repo!);
      const p = findPull(r, op.params.pull_number!);
      const event = body.event;
      if (event !== 'COMMENT' && event !== 'REQUEST_CHANGES' && event !== 'APPROVE') throw new HttpError(422, 'the fake only posts submitted reviews: give event');
      if ((event === 'COMMENT' || event === 'REQUEST_CHANGES') && !body.body) throw new HttpError(422, 'Unprocessable Entity', { errors: [`Body is required for ${event}`] });
      const head = (await sha(r, p.head)) ?? ZERO;
      const commitId = typeof body.commit_id === 'string' ? body.commit_id : head;
      if (!(await isOnBranch(r, commitId, p.head))) throw new HttpError(422, 'Unprocessable Entity', { errors: ['commit_id is not part of the pull request'] });
      const state = event === 'COMMENT' ? 'COMMENTED' : event === 'APPROVE' ? 'APPROVED' : 'CHANGES_REQUESTED';
      const v: FakeReview = { id: s.nextId++, user: as, body: String(body.body ?? ''), state, commitId, submittedAt: now() };
      p.reviews.push(v);
      return [200, reviewJson(s, r, p, v)];
    },
    async 'pulls/get-review'({ op }) {
      const r = findRepo(s, op.params.owner!, op.params.repo!);
      const p = findPull(r, op.params.pull_number!);
      const v = p.reviews.find((x) => x.id === Number(op.params.review_id));
      if (!v) throw new HttpError(404, 'Not Found');
      return [200, reviewJson(s, r, p, v)];
    },
    async 'pulls/update-review'({ op, body, as }) {
      const r = findRepo(s, op.params.owner!, op.params.repo!);
      const p = findPull(r, op.params.pull_number!);
      const v = p.reviews.find((x) => x.id === Number(op.params.review_id));
      if (!v) throw new HttpError(404, 'Not Found');
      if (v.user !== as) throw new HttpError(403, 'only the author can edit a review');
      v.body = String(body.body);
      return [200, reviewJson(s, r, p, v)];
    },
    async 'pulls/list-comments-for-review'({ op, query }) {
      const r = findRepo(s, op.params.owner!, op.params.repo!);
      const p = findPull(r, op.params.pull_number!);
      const id = Number(op.params.review_id);
      if (!p.reviews.some((x) => x.id === id)) throw new HttpError(404, 'Not Found');
      const perPage = Number(query.get('per_page') ?? 30);
      const page = Number(query.get('page') ?? 1);
      return [200, p.comments.filter((c) => c.reviewId === id).slice((page - 1) * perPage, page * perPage).map((c) => commentJson(s, r, p, c))];
    },
  };
}
