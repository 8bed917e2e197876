import { describe, expect, it } from 'vitest';
import { startFakeGitHub } from './github.ts';
import { githubOpenApi } from './openapi.ts';

/** The fake GitHub holds nightshift to GitHub's OpenAPI description: these are the checks failing loudly. */

const TOKEN = 'ghp_fakeTest';

async function call(url: string, method: string, path: string, body?: unknown, token: string | null = TOKEN) {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(token && { authorization: `token ${token}` }) },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json().catch(() => null)) as Record<string, unknown> | null };
}

describe('the OpenAPI description', () => {
  it('routes a path to its operation, literal segments first', () => {
    const api = githubOpenApi();
    expect(api.match('GET', '/repos/acme/widgets/pulls/comments')).toMatchObject({ operationId: 'pulls/list-review-comments-for-repo' });
    expect(api.match('GET', '/repos/acme/widgets/pulls/7')).toMatchObject({ operationId: 'pulls/get', params: { owner: 'acme', repo: 'widgets', pull_number: '7' } });
    expect(api.match('PUT', '/repos/acme/widgets/pulls/7/reviews/80')).toMatchObject({ operationId: 'pulls/update-review' });
    expect(api.match('DELETE', '/repos/acme/widgets/pulls')).toBe('DELETE is not an operation of /repos/{owner}/{repo}/pulls');
    expect(api.match('GET', '/nope/at/all/here')).toBe('no path of the description matches /nope/at/all/here');
  });
});

describe('the fake GitHub', () => {
  it('answers and records a request the description does not allow, and accepts one it does', async () => {
    await using fake = await startFakeGitHub({ token: TOKEN });
    fake.repo('acme', 'widgets');
    const cases: [string, string, unknown, RegExp][] = [
      ['GET', '/repos/acme/widgets/pullz', undefined, /no path of the description matches/],
      ['DELETE', '/repos/acme/widgets/pulls', undefined, /DELETE is not an operation/],
      ['GET', '/repos/acme/widgets/pulls/abc', undefined, /pull_number: "abc" is not an integer/],
      ['GET', '/repos/acme/widgets/pulls?state=opened', undefined, /query parameter state: "opened" is not one of/],
      ['GET', '/repos/acme/widgets/pulls?headd=acme:x', undefined, /query parameter headd is not in the description/],
      ['PUT', '/repos/acme/widgets/pulls/1/reviews/80', {}, /body\.body: required/],
      ['PUT', '/repos/acme/widgets/pulls/1/reviews/80', undefined, /a body is required/],
      ['POST', '/repos/acme/widgets/pulls/1/reviews', { body: 'x', event: 'COMMENTED' }, /body\.event: "COMMENTED" is not one of/],
      ['POST', '/repos/acme/widgets/pulls/1/reviews', { body: 'x', event: 'COMMENT', comit_id: 'abc' }, /body\.comit_id: not in the description/],
      ['POST', '/repos/acme/widgets/pulls', { head: 'x', base: 'main', title: 7 }, /body\.title: expected string/],
    ];
    for (const [method, path, body, problem] of cases) {
      const before = fake.violations.length;
      const res = await call(fake.url, method, path, body);
      expect(res.status, `${method} ${path}`).toBeGreaterThanOrEqual(400);
      expect(fake.violations.slice(before), `${method} ${path}`).toEqual([expect.stringMatching(problem)]);
    }
    fake.violations.length = 0;

    expect((await call(fake.url, 'GET', '/repos/acme/widgets/pulls', undefined, null)).status).toBe(401);
    expect((await call(fake.url, 'GET', '/repos/acme/widgets/pulls', undefined, 'ghp_other')).status).toBe(401);
    const listed = await call(fake.url, 'GET', '/repos/acme/widgets/pulls?state=open&head=acme:x&per_page=10');
    expect(listed).toEqual({ status: 200, body: [] });
    expect((await call(fake.url, 'GET', '/repos/acme/nope/pulls')).status).toBe(404);
    expect(fake.violations).toEqual([]);

    // Documented but not implemented: loud, not silent.
    expect((await call(fake.url, 'GET', '/repos/acme/widgets/issues')).status).toBe(501);
    expect(fake.violations).toEqual(['issues/list-for-repo: documented, but the fake does not implement it']);
  });

  it('answers with objects that fit the documented response schemas', async () => {
    await using fake = await startFakeGitHub({ token: TOKEN });
    fake.repo('acme', 'widgets');
    const created = await call(fake.url, 'POST', '/repos/acme/widgets/pulls', { head: 'nightshift/tk-0123456789', base: 'main', title: 'T', body: 'B' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ number: 1, state: 'open', title: 'T', body: 'B', head: { ref: 'nightshift/tk-0123456789' }, base: { ref: 'main' } });
    const again = await call(fake.url, 'POST', '/repos/acme/widgets/pulls', { head: 'nightshift/tk-0123456789', base: 'main', title: 'T' });
    expect(again.status).toBe(422);
    const review = await call(fake.url, 'POST', '/repos/acme/widgets/pulls/1/reviews', { body: 'Summary', event: 'COMMENT' });
    expect(review).toMatchObject({ status: 200, body: { state: 'COMMENTED', body: 'Summary' } });
    const human = fake.submitReview('acme', 'widgets', 1, { user: 'octocat', state: 'CHANGES_REQUESTED', body: 'No.', comments: [{ path: 'a.js', line: 3, body: 'This.' }] });
    const comments = await call(fake.url, 'GET', `/repos/acme/widgets/pulls/1/reviews/${String(human.review.id)}/comments`);
    expect(comments).toMatchObject({ status: 200, body: [{ body: 'This.', path: 'a.js', line: 3, pull_request_review_id: human.review.id }] });
    expect((await call(fake.url, 'PUT', `/repos/acme/widgets/pulls/1/reviews/${String(human.review.id)}`, { body: 'mine now' })).status).toBe(403);
    expect(fake.violations).toEqual([]);
  });
});
