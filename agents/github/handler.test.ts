import { describe, expect, it } from 'vitest';
import { BugReport, IntakeRequest, type IntakeReply, type PullRequestStore } from '../../shared/index.ts';
import { logSink } from '../../test/helpers/env.ts';
import { delivery, retarget, webhookExample } from '../../test/helpers/github.ts';
import { createWebhookHandler, issueBugReport, issueRoute, issueTicketRequest } from './handler.ts';
import { IssuesEvent } from './payloads.ts';

/*
 * Issues → intake, without a bus: the handler with its intake requests captured, fed signed deliveries
 * built from the @octokit/webhooks-examples payloads. github.int.test.ts and bugs.int.test.ts run the
 * same through a coordinator.
 */

const SECRET = 'handler-unit-secret';
const ISSUE_URL = 'https://github.com/acme/widgets/issues/7';
const ID = 'tk-0123456789';

/** The example `issues` event (action `labeled` or `opened`) on acme/widgets#7, with the given labels and body. */
function issuePayload(action: 'labeled' | 'opened' | 'edited', opts: { label?: string; labels?: string[]; body?: string | null; author?: string | null; sender?: string } = {}) {
  const p = retarget(webhookExample('issues', action), { owner: 'acme', name: 'widgets', number: 7, branch: '', headSha: '' });
  const issue = p.issue as Record<string, unknown>;
  p.issue = {
    ...issue,
    number: 7,
    html_url: ISSUE_URL,
    title: 'Slugs keep trailing dashes',
    body: opts.body === undefined ? 'Seen on /blog: "a-b-" instead of "a-b".' : opts.body,
    labels: (opts.labels ?? []).map((name) => ({ ...((issue.labels as object[])[0] ?? {}), name })),
    user: opts.author === null ? null : { ...(issue.user as object), login: opts.author ?? 'Codertocat' },
  };
  if (opts.label !== undefined) p.label = { ...(p.label as object), name: opts.label };
  if (opts.sender !== undefined) p.sender = { ...(p.sender as object), login: opts.sender };
  return p;
}

const parse = (p: unknown) => IssuesEvent.parse(p);

function handler(labels: { issueLabel?: string; bugLabel?: string }, replies: { intake?: IntakeReply; bugIntake?: IntakeReply } = {}) {
  const posted: { intake: unknown[]; bugIntake: unknown[] } = { intake: [], bugIntake: [] };
  const ok: IntakeReply = { ok: true, id: ID, duplicate: false };
  const handle = createWebhookHandler({
    secret: SECRET,
    prs: {} as PullRequestStore,
    hosts: ['github.com'],
    github: null,
    log: logSink().log,
    ...labels,
    publish: () => Promise.reject(new Error('issues publish nothing')),
    async intake(payload) {
      posted.intake.push(payload);
      return replies.intake ?? ok;
    },
    async bugIntake(payload) {
      posted.bugIntake.push(payload);
      return replies.bugIntake ?? ok;
    },
  });
  return {
    posted,
    async send(payload: unknown) {
      const d = await delivery(SECRET, 'issues', payload);
      return { id: d.id, ...(await handle({ headers: d.headers, body: Buffer.from(d.body) })) };
    },
  };
}

describe('issueRoute', () => {
  const labels = { issue: 'nightshift', bug: 'nightshift-bug' };
  it.each([
    ['labeled with the bug label', issuePayload('labeled', { label: 'nightshift-bug', labels: ['nightshift-bug'] }), 'bug'],
    ['labeled with the issue label', issuePayload('labeled', { label: 'nightshift', labels: ['nightshift'] }), 'ticket'],
    ['labeled with the issue label, carrying the bug label too', issuePayload('labeled', { label: 'nightshift', labels: ['nightshift-bug', 'nightshift'] }), 'bug'],
    ['labeled with the bug label, carrying the issue label too', issuePayload('labeled', { label: 'nightshift-bug', labels: ['nightshift', 'nightshift-bug'] }), 'bug'],
    ['labeled with another label, carrying the bug label', issuePayload('labeled', { label: 'bug', labels: ['nightshift-bug', 'bug'] }), null],
    ['opened with the bug label', issuePayload('opened', { labels: ['bug', 'nightshift-bug'] }), 'bug'],
    ['opened with both labels', issuePayload('opened', { labels: ['nightshift', 'nightshift-bug'] }), 'bug'],
    ['opened with the issue label', issuePayload('opened', { labels: ['nightshift'] }), 'ticket'],
    ['opened with neither', issuePayload('opened', { labels: ['bug'] }), null],
    ['edited, carrying the bug label', issuePayload('edited', { labels: ['nightshift-bug'] }), null],
  ])('%s', (_, payload, route) => {
    expect(issueRoute(parse(payload), labels)).toBe(route);
  });

  it('without a bug label, a bug-labelled issue is what it was before', () => {
    const p = parse(issuePayload('labeled', { label: 'nightshift', labels: ['nightshift-bug', 'nightshift'] }));
    expect(issueRoute(p, { issue: 'nightshift' })).toBe('ticket');
    expect(issueRoute(parse(issuePayload('labeled', { label: 'nightshift-bug', labels: ['nightshift-bug'] })), { issue: 'nightshift' })).toBeNull();
  });

  it('with only a bug label, the issue label means nothing', () => {
    expect(issueRoute(parse(issuePayload('labeled', { label: 'nightshift', labels: ['nightshift'] })), { bug: 'nightshift-bug' })).toBeNull();
    expect(issueRoute(parse(issuePayload('opened', { labels: ['nightshift-bug'] })), { bug: 'nightshift-bug' })).toBe('bug');
  });
});

describe('issueBugReport', () => {
  it('maps the issue to a report bug intake takes: title, body as description, repository, issue id, author, labels', () => {
    const report = issueBugReport(parse(issuePayload('labeled', { label: 'nightshift-bug', labels: ['nightshift-bug', 'bug', 'bug'] })));
    expect(report).toEqual({
      title: 'Slugs keep trailing dashes',
      description: 'Seen on /blog: "a-b-" instead of "a-b".',
      repo: { url: 'https://github.com/acme/widgets' },
      reporter: 'github:Codertocat',
      externalId: 'github:acme/widgets#7',
      labels: ['nightshift-bug', 'bug'],
    });
    expect(BugReport.parse(report)).toEqual(report);
  });

  it('shares its title, repository, external id and labels with the ticket of the same issue', () => {
    const p = parse(issuePayload('labeled', { label: 'nightshift-bug', labels: ['nightshift-bug'] }));
    const { title, repo, externalId, labels } = IntakeRequest.parse(issueTicketRequest(p));
    expect(issueBugReport(p)).toMatchObject({ title, repo, externalId, labels });
  });

  it.each([
    ['null', null],
    ['empty', ''],
    ['blank', ' \n\t '],
  ])('gives an issue with a %s body a description that says so and links the issue', (_, body) => {
    const report = issueBugReport(parse(issuePayload('labeled', { label: 'nightshift-bug', body })));
    expect(report.description).toBe(`The GitHub issue has no description: ${ISSUE_URL}`);
    expect(BugReport.safeParse(report).success).toBe(true);
  });

  it('cuts a body longer than a description may be, and says so', () => {
    const body = `${'x'.repeat(49_979)}😀${'y'.repeat(20_000)}`;
    const report = issueBugReport(parse(issuePayload('labeled', { label: 'nightshift-bug', body })));
    expect(report.description.length).toBeLessThanOrEqual(50_000);
    expect(report.description).toBe(`${'x'.repeat(49_979)} … (cut)`);
    expect(BugReport.safeParse(report).success).toBe(true);
  });

  it('names the issue author as reporter (who can say more), the sender when the author is gone', () => {
    expect(issueBugReport(parse(issuePayload('labeled', { label: 'nightshift-bug', author: 'alice', sender: 'maintainer' }))).reporter).toBe('github:alice');
    expect(issueBugReport(parse(issuePayload('labeled', { label: 'nightshift-bug', author: null, sender: 'maintainer' }))).reporter).toBe('github:maintainer');
    // The ticket's requester stays whoever asked nightshift (gave the label).
    expect(issueTicketRequest(parse(issuePayload('labeled', { label: 'nightshift', author: 'alice', sender: 'maintainer' }))).requester).toBe('github:maintainer');
  });

  it('gives an untitled issue a title', () => {
    const p = issuePayload('labeled', { label: 'nightshift-bug' });
    (p.issue as Record<string, unknown>).title = '   ';
    expect(issueBugReport(parse(p)).title).toBe('GitHub issue #7');
  });
});

describe('the webhook handler on issues', () => {
  it('posts a bug-labelled issue to bug intake only, and answers 202 bug_report with the ticket', async () => {
    const h = handler({ issueLabel: 'nightshift', bugLabel: 'nightshift-bug' }, { bugIntake: { ok: true, id: ID, duplicate: true } });
    const answer = await h.send(issuePayload('labeled', { label: 'nightshift-bug', labels: ['nightshift', 'nightshift-bug'] }));
    expect(answer).toEqual({ id: answer.id, status: 202, body: { ok: true, delivery: answer.id, action: 'bug_report', ticketId: ID, duplicate: true } });
    expect(h.posted.intake).toEqual([]);
    expect(h.posted.bugIntake).toHaveLength(1);
    expect(BugReport.parse(h.posted.bugIntake[0])).toMatchObject({ externalId: 'github:acme/widgets#7', reporter: 'github:Codertocat' });
  });

  it('posts an issue with the issue label alone to ticket intake, as before', async () => {
    const h = handler({ issueLabel: 'nightshift', bugLabel: 'nightshift-bug' });
    const answer = await h.send(issuePayload('labeled', { label: 'nightshift', labels: ['nightshift'] }));
    expect(answer.body).toEqual({ ok: true, delivery: answer.id, action: 'ticket', ticketId: ID, duplicate: false });
    expect(h.posted.bugIntake).toEqual([]);
    expect(IntakeRequest.parse(h.posted.intake[0])).toMatchObject({ type: 'feature', body: expect.stringContaining(`(GitHub issue ${ISSUE_URL})`) });
  });

  it('answers 422 with the error when bug intake refuses the report', async () => {
    const error = { code: 'invalid_repository', message: 'repo.url scheme "ftp" is not supported', issues: [{ path: 'repo.url', message: 'no' }] };
    const h = handler({ bugLabel: 'nightshift-bug' }, { bugIntake: { ok: false, error } });
    const answer = await h.send(issuePayload('opened', { labels: ['nightshift-bug'] }));
    expect(answer).toMatchObject({ status: 422, body: { ok: false, delivery: answer.id, error } });
  });

  it('ignores issues without either label, and all issues when no label is set', async () => {
    const both = handler({ issueLabel: 'nightshift', bugLabel: 'nightshift-bug' });
    expect((await both.send(issuePayload('labeled', { label: 'bug', labels: ['bug'] }))).body).toMatchObject({ ignored: 'issues labeled without the label "nightshift" or "nightshift-bug"' });
    const bugOnly = handler({ bugLabel: 'nightshift-bug' });
    expect((await bugOnly.send(issuePayload('labeled', { label: 'nightshift', labels: ['nightshift'] }))).body).toMatchObject({ ignored: 'issues labeled without the label "nightshift-bug"' });
    const none = handler({});
    expect((await none.send(issuePayload('labeled', { label: 'nightshift-bug', labels: ['nightshift-bug'] }))).body).toMatchObject({
      ignored: 'issues do not become tickets (neither NIGHTSHIFT_GITHUB_ISSUE_LABEL nor NIGHTSHIFT_GITHUB_BUG_LABEL is set)',
    });
    for (const h of [both, bugOnly, none]) expect(h.posted).toEqual({ intake: [], bugIntake: [] });
  });
});
