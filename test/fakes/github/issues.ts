import { issueCommentJson, linkHeader } from './json.ts';
import { findIssue, findRepo, HttpError, now, type FakeState, type Operations } from './state.ts';
import type { FakeIssueComment } from './types.ts';

/** The issue endpoints nightshift uses: commenting on an issue and reading its comments (paged, `since`). */
export function issueOperations(s: FakeState): Operations {
  return {
    async 'issues/create-comment'({ op, body, as }) {
      const r = findRepo(s, op.params.owner!, op.params.repo!);
      const i = findIssue(r, op.params.issue_number!);
      if (String(body.body ?? '').length > 65_536) throw new HttpError(422, 'Validation Failed', { errors: [{ resource: 'IssueComment', field: 'body', code: 'too_long' }] });
      const c: FakeIssueComment = { id: 5_000 + s.nextId++, user: as, userType: as.endsWith('[bot]') ? 'Bot' : 'User', association: 'NONE', body: String(body.body), createdAt: now() };
      i.comments.push(c);
      return [201, issueCommentJson(s, r, i, c)];
    },
    async 'issues/list-comments'({ op, path, query }) {
      const r = findRepo(s, op.params.owner!, op.params.repo!);
      const i = findIssue(r, op.params.issue_number!);
      const since = query.get('since');
      // GitHub's `since` is on the last update; the fake's comments are never edited.
      const found = since === null ? i.comments : i.comments.filter((c) => Date.parse(c.createdAt) >= Date.parse(since));
      const perPage = Math.min(100, Number(query.get('per_page') ?? 30));
      const page = Number(query.get('page') ?? 1);
      const items = found.slice((page - 1) * perPage, page * perPage).map((c) => issueCommentJson(s, r, i, c));
      return [200, items, linkHeader(s, path, query, page, perPage, found.length)];
    },
  };
}
