import { sha, ZERO, type FakeState } from './state.ts';
import type { FakeIssue, FakeIssueComment, FakePull, FakeRepo, FakeReview, FakeReviewComment } from './types.ts';

/*
 * The REST representations of the local GitHub's objects, built on the OpenAPI description's own
 * examples so that they carry every field GitHub's do: pull requests, reviews, review comments, issue
 * comments, and the `Link` header of a paged list.
 */

const userJson = (s: FakeState, login: string) => ({ ...(s.api.example('pull-request').user as Record<string, unknown>), login, html_url: `https://github.com/${login}` });

export async function pullJson(s: FakeState, r: FakeRepo, p: FakePull, simple = false): Promise<Record<string, unknown>> {
  const t = simple ? (s.api.example('pull-request-simple-items') as unknown as Record<string, unknown>[])[0]! : s.api.example('pull-request');
  const apiBase = `${s.url}/repos/${r.owner}/${r.name}`;
  const html = `https://github.com/${r.owner}/${r.name}/pull/${p.number}`;
  const side = async (ref: string, tmpl: Record<string, unknown>) => ({
    ...tmpl,
    label: `${r.owner}:${ref}`,
    ref,
    sha: (await sha(r, ref)) ?? ZERO,
    user: userJson(s, r.owner),
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
    user: userJson(s, p.user),
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
  if (!simple) Object.assign(json, { merged: p.merged, mergeable: true, merged_by: p.merged ? userJson(s, 'octocat') : null, comments: 0, review_comments: p.comments.length });
  return json;
}

export function reviewJson(s: FakeState, r: FakeRepo, p: FakePull, v: FakeReview): Record<string, unknown> {
  const html = `https://github.com/${r.owner}/${r.name}/pull/${p.number}#pullrequestreview-${v.id}`;
  return {
    ...s.api.example('pull-request-review'),
    id: v.id,
    node_id: `PRR_${v.id}`,
    user: userJson(s, v.user),
    body: v.body,
    state: v.state,
    html_url: html,
    pull_request_url: `${s.url}/repos/${r.owner}/${r.name}/pulls/${p.number}`,
    _links: { html: { href: html }, pull_request: { href: `${s.url}/repos/${r.owner}/${r.name}/pulls/${p.number}` } },
    submitted_at: v.submittedAt,
    commit_id: v.commitId,
  };
}

export function commentJson(s: FakeState, r: FakeRepo, p: FakePull, c: FakeReviewComment): Record<string, unknown> {
  const t = (s.api.example('review-comment-items') as unknown as Record<string, unknown>[])[0]!;
  const html = `https://github.com/${r.owner}/${r.name}/pull/${p.number}#discussion_r${c.id}`;
  return {
    ...t,
    id: c.id,
    node_id: `PRRC_${c.id}`,
    pull_request_review_id: c.reviewId,
    user: userJson(s, c.user),
    body: c.body,
    path: c.path,
    line: c.line,
    original_line: c.line,
    commit_id: c.commitId,
    original_commit_id: c.commitId,
    html_url: html,
    pull_request_url: `${s.url}/repos/${r.owner}/${r.name}/pulls/${p.number}`,
    created_at: c.createdAt,
    updated_at: c.createdAt,
  };
}

export function issueCommentJson(s: FakeState, r: FakeRepo, i: FakeIssue, c: FakeIssueComment): Record<string, unknown> {
  const t = s.api.example('issue-comment');
  const apiBase = `${s.url}/repos/${r.owner}/${r.name}`;
  return {
    ...t,
    id: c.id,
    node_id: `IC_${c.id}`,
    url: `${apiBase}/issues/comments/${c.id}`,
    html_url: `https://github.com/${r.owner}/${r.name}/issues/${i.number}#issuecomment-${c.id}`,
    issue_url: `${apiBase}/issues/${i.number}`,
    body: c.body,
    user: { ...userJson(s, c.user), type: c.userType },
    author_association: c.association,
    created_at: c.createdAt,
    updated_at: c.createdAt,
  };
}

/** A `Link` header for page `page` of `total` items, `perPage` a page, as GitHub sends it (absent for one page). */
export function linkHeader(s: FakeState, path: string, query: URLSearchParams, page: number, perPage: number, total: number): Record<string, string> {
  const last = Math.max(1, Math.ceil(total / perPage));
  const at = (n: number) => {
    const q = new URLSearchParams(query);
    q.set('page', String(n));
    q.set('per_page', String(perPage));
    return `<${s.url}${path}?${q.toString()}>`;
  };
  const links: string[] = [];
  if (page < last) links.push(`${at(page + 1)}; rel="next"`, `${at(last)}; rel="last"`);
  if (page > 1) links.push(`${at(1)}; rel="first"`, `${at(page - 1)}; rel="prev"`);
  return links.length ? { link: links.join(', ') } : {};
}
