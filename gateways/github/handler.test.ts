import { describe, expect, it } from 'vitest';
import type { Envelope } from '../../bus/index.ts';
import { BugReport, IntakeRequest, Ticket, ticketIdForExternalId, type IntakeReply, type PullRequest, type PullRequestStore, type Question } from '../../shared/index.ts';
import { logSink } from '../../test/helpers/env.ts';
import { delivery, issueEvent, retarget, webhookExample } from '../../test/helpers/github.ts';
import { askComment } from './ask.ts';
import { answerOfComment, commentEventId, commentNotAnswer, createWebhookHandler, issueBugReport, issueRoute, issueTicketRequest, pullRequestCommentNotFeedback } from './handler.ts';
import { IssueCommentEvent, IssuesEvent } from './payloads.ts';

/*
 * Issues → intake, without a bus: the handler with its intake requests captured, fed signed deliveries
 * built from the @octokit/webhooks-examples payloads. github.int.test.ts and bugs.int.test.ts run the
 * same through a coordinator.
 * One file because it is one unit, the webhook handler: issues, issue comments and pull request
 * comments are routes of the same handler, tested on the same example payloads and captured intake.
 */

const SECRET = 'handler-unit-secret';
const ISSUE_URL = 'https://github.com/acme/widgets/issues/7';
const ID = 'tk-0123456789';

/** The example `issues` event (action `labeled` or `opened`) on acme/widgets#7, with the given labels and body. */
function issuePayload(action: 'labeled' | 'opened' | 'edited', opts: { label?: string; labels?: string[]; body?: string | null; author?: string | null; sender?: string } = {}) {
  const p = issueEvent(action, {
    owner: 'acme',
    name: 'widgets',
    number: 7,
    title: 'Slugs keep trailing dashes',
    body: opts.body === undefined ? 'Seen on /blog: "a-b-" instead of "a-b".' : opts.body,
    labels: opts.labels ?? [],
    label: opts.label,
    author: opts.author === undefined ? 'Codertocat' : opts.author,
  });
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
    tickets: { get: () => Promise.reject(new Error('issues read no ticket')) },
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
    const body = `${'x'.repeat(49_991)}😀${'y'.repeat(20_000)}`;
    const report = issueBugReport(parse(issuePayload('labeled', { label: 'nightshift-bug', body })));
    expect(report.description.length).toBeLessThanOrEqual(50_000);
    expect(report.description).toBe(`${'x'.repeat(49_991)} … (cut)`);
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

// ---- answers from issue comments ------------------------------------------------------------------

const ISSUE_ID = 'github:acme/widgets#7';
const TICKET_ID = ticketIdForExternalId(ISSUE_ID);
const ASKED_AT = new Date(Date.now() - 60_000).toISOString();

/** A bug ticket of acme/widgets#7 in `state`, parked (when awaiting_human) with a question to octocat. */
function issueTicket(state: Ticket['state'] = 'awaiting_human', questions: Question[] = [{ id: 'triage-1', text: 'Which version?', blocking: true, to: 'github:octocat' }]): Ticket {
  const at = new Date().toISOString();
  return Ticket.parse({
    id: TICKET_ID,
    v: 1,
    title: 'Slugs keep trailing dashes',
    body: 'Seen on /blog.',
    type: 'bug',
    repo: { url: 'https://github.com/acme/widgets' },
    externalId: ISSUE_ID,
    requester: 'github:octocat',
    labels: [],
    state,
    work: null,
    parked: state === 'awaiting_human' ? { from: 'triaging', questions, askedAt: ASKED_AT, deadline: new Date(Date.now() + 3_600_000).toISOString() } : null,
    answers: [],
    artifacts: {},
    failure: null,
    outbox: [],
    applied: [],
    timeline: [],
    createdAt: at,
    updatedAt: at,
  });
}

/** The example `issue_comment.created` on acme/widgets#7, by `user` (author association `association`). */
function commentPayload(opts: { user?: string | null; association?: string; body?: string | null; type?: string; id?: number; createdAt?: string; action?: string; number?: number; pullRequest?: boolean } = {}) {
  const p = retarget(webhookExample('issue_comment', opts.action ?? 'created'), { owner: 'acme', name: 'widgets', number: 7, branch: '', headSha: '' });
  const issue = p.issue as Record<string, unknown>;
  p.issue = { ...issue, number: opts.number ?? 7, html_url: `https://github.com/acme/widgets/issues/${opts.number ?? 7}`, ...(opts.pullRequest && { pull_request: { url: 'https://api.github.com/repos/acme/widgets/pulls/7' } }) };
  const comment = p.comment as Record<string, unknown>;
  const user = opts.user === null ? null : { ...(comment.user as object), login: opts.user ?? 'octocat', type: opts.type ?? 'User' };
  p.comment = {
    ...comment,
    id: opts.id ?? 1_234,
    body: opts.body === undefined ? 'Version 2.3.1, on Firefox.' : opts.body,
    user,
    author_association: opts.association ?? 'NONE',
    created_at: opts.createdAt ?? new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
  };
  if (user) p.sender = user;
  return p;
}

const parseComment = (p: unknown) => IssueCommentEvent.parse(p);

describe('issue comments as answers', () => {
  it('take the comment of the person asked as the answer, by github:<login>', () => {
    expect(commentNotAnswer(parseComment(commentPayload()))).toBeNull();
    expect(answerOfComment(parseComment(commentPayload({ body: '  Version 2.3.1, on Firefox.\n' })), issueTicket())).toEqual({
      ticketId: TICKET_ID,
      text: 'Version 2.3.1, on Firefox.',
      by: 'github:octocat',
    });
    // Logins are case-insensitive on GitHub.
    expect(answerOfComment(parseComment(commentPayload({ user: 'OctoCat' })), issueTicket())).toMatchObject({ by: 'github:OctoCat' });
  });

  it.each(['OWNER', 'MEMBER', 'COLLABORATOR'])('take the comment of someone with write access (%s), though not asked', (association) => {
    expect(answerOfComment(parseComment(commentPayload({ user: 'maintainer', association })), issueTicket())).toMatchObject({ by: 'github:maintainer' });
  });

  it.each(['NONE', 'CONTRIBUTOR', 'FIRST_TIME_CONTRIBUTOR', 'FIRST_TIMER', 'MANNEQUIN'])('refuse a stranger (%s)', (association) => {
    expect(answerOfComment(parseComment(commentPayload({ user: 'mallory', association })), issueTicket())).toBe(
      `github:mallory was not asked and has no write access (${association.toLowerCase()})`,
    );
  });

  it('read `/nightshift budget <tokens>` on the first line of a collaborator\'s comment as the ticket budget', () => {
    const answer = (body: string, association = 'COLLABORATOR', user = 'maintainer') => answerOfComment(parseComment(commentPayload({ user, association, body })), issueTicket());
    expect(answer('/nightshift budget 600000')).toEqual({ ticketId: TICKET_ID, text: 'Raised the token budget to 600000 tokens: go on.', by: 'github:maintainer', budget: 600_000 });
    expect(answer('/NightShift  budget 1,500,000 and skip the docs\nthanks')).toEqual({ ticketId: TICKET_ID, text: 'and skip the docs\nthanks', by: 'github:maintainer', budget: 1_500_000 });
    // Anywhere but the first line, or another word, it is just text.
    expect(answer('Thanks!\n/nightshift budget 600000')).toMatchObject({ text: 'Thanks!\n/nightshift budget 600000' });
    expect(answer('/nightshift budgets are fine')).not.toHaveProperty('budget');
  });

  it('refuse an unusable budget, and a budget from someone without write access (who may still answer)', () => {
    const answer = (body: string, association = 'OWNER', user = 'maintainer') => answerOfComment(parseComment(commentPayload({ user, association, body })), issueTicket());
    expect(answer('/nightshift budget')).toBe('/nightshift budget: the budget is missing: give a whole number of tokens after it');
    expect(answer('/nightshift budget plenty')).toBe('/nightshift budget: budget "plenty" is not a whole number of tokens');
    expect(answer('/nightshift budget 0')).toBe('/nightshift budget: budget 0 is out of range: give 1 to 1000000000 tokens');
    const spent = { ...issueTicket(), usage: { triager: { inputTokens: 900, outputTokens: 100, totalTokens: 1_000, calls: 2 } } };
    expect(answerOfComment(parseComment(commentPayload({ user: 'maintainer', association: 'OWNER', body: '/nightshift budget 1000' })), spent)).toBe(
      '/nightshift budget: budget 1000 is not above the 1000 tokens the ticket has used already',
    );
    // The reporter was asked: an answer, yes; a bigger bill, no.
    expect(answer('/nightshift budget 600000', 'NONE', 'octocat')).toBe('github:octocat may answer but not raise the token budget: that takes write access (none)');
    expect(answer('Version 2.3.1', 'NONE', 'octocat')).toMatchObject({ text: 'Version 2.3.1', by: 'github:octocat' });
  });

  it('refuse a comment whose author is gone', () => {
    expect(answerOfComment(parseComment(commentPayload({ user: null })), issueTicket())).toMatch(/^github:ghost was not asked/);
  });

  it('are ignored on bots, on nightshift\'s own comments, empty, edited or deleted, and on pull requests', () => {
    const own = askComment({ ticketId: TICKET_ID, from: 'triaging', questions: issueTicket().parked!.questions, askedAt: ASKED_AT, deadline: ASKED_AT });
    expect(
      [
        commentPayload({ user: 'nightshift[bot]', type: 'Bot' }),
        commentPayload({ user: 'octocat', type: 'Bot' }),
        // Posted with a token: a User, but nightshift's marker is in it.
        commentPayload({ user: 'nightshift-bot', association: 'MEMBER', body: own }),
        commentPayload({ body: '' }),
        commentPayload({ body: ' \n\t' }),
        commentPayload({ body: null }),
        commentPayload({ action: 'edited' }),
        commentPayload({ action: 'deleted' }),
      ].map((p) => commentNotAnswer(parseComment(p))),
    ).toEqual([
      'a comment by a bot',
      'a comment by a bot',
      "nightshift's own comment",
      'an empty comment',
      'an empty comment',
      'an empty comment',
      'issue_comment edited is not used',
      'issue_comment deleted is not used',
    ]);
  });

  it("are ignored on issues that are no ticket's, and on tickets awaiting nobody", () => {
    const p = parseComment(commentPayload());
    expect(answerOfComment(p, null)).toBe("acme/widgets#7 is not a ticket's issue");
    expect(answerOfComment(p, { ...issueTicket(), externalId: 'github:acme/widgets#8' })).toBe("acme/widgets#7 is not a ticket's issue");
    for (const state of ['triaging', 'refining', 'pr_open', 'cancelled'] as const) {
      expect(answerOfComment(p, issueTicket(state))).toBe(`ticket ${TICKET_ID} is ${state}, not awaiting an answer`);
    }
  });

  it('do not answer questions asked after them (a redelivered old comment)', () => {
    const old = parseComment(commentPayload({ createdAt: new Date(Date.parse(ASKED_AT) - 600_000).toISOString() }));
    expect(answerOfComment(old, issueTicket())).toBe(`the comment predates the questions of ticket ${TICKET_ID}`);
    // Clock skew between GitHub and nightshift is allowed for.
    const skewed = parseComment(commentPayload({ createdAt: new Date(Date.parse(ASKED_AT) - 60_000).toISOString() }));
    expect(answerOfComment(skewed, issueTicket())).toMatchObject({ by: 'github:octocat' });
  });

  it('cut an answer longer than a ticket takes, and say so', () => {
    const answer = answerOfComment(parseComment(commentPayload({ body: 'y'.repeat(30_000) })), issueTicket());
    expect(typeof answer === 'object' && answer.text.length).toBeLessThanOrEqual(20_000);
    expect(typeof answer === 'object' && answer.text.endsWith(' … (cut)')).toBe(true);
  });
});

describe('the webhook handler on issue comments', () => {
  function commentHandler(ticket: Ticket | null) {
    const published: { ticketId: string; ev: Envelope }[] = [];
    const reads: string[] = [];
    const handle = createWebhookHandler({
      secret: SECRET,
      prs: {} as PullRequestStore,
      tickets: {
        async get(id) {
          reads.push(id);
          return ticket && id === ticket.id ? { ticket } : null;
        },
      },
      hosts: ['github.com'],
      github: null,
      log: logSink().log,
      async publish(ticketId, ev) {
        published.push({ ticketId, ev });
      },
      intake: () => Promise.reject(new Error('comments post no ticket')),
      bugIntake: () => Promise.reject(new Error('comments post no report')),
    });
    return {
      published,
      reads,
      async send(payload: unknown, id?: string) {
        const d = await delivery(SECRET, 'issue_comment', payload, id);
        return { id: d.id, ...(await handle({ headers: d.headers, body: Buffer.from(d.body) })) };
      },
    };
  }

  it("publishes the reporter's answer as human.answered under the comment's id, whichever delivery brings it", async () => {
    const h = commentHandler(issueTicket());
    const first = await h.send(commentPayload({ id: 99 }));
    expect(first).toEqual({ id: first.id, status: 202, body: { ok: true, delivery: first.id, action: 'human.answered', ticketId: TICKET_ID } });
    const again = await h.send(commentPayload({ id: 99 }));
    expect(again.status).toBe(202);
    expect(h.published).toHaveLength(2);
    expect(h.published.map((x) => x.ev.id)).toEqual([commentEventId(99), commentEventId(99)]);
    expect(h.published[0]).toMatchObject({ ticketId: TICKET_ID, ev: { type: 'human.answered', source: 'github', correlationId: TICKET_ID, data: { ticketId: TICKET_ID, text: 'Version 2.3.1, on Firefox.', by: 'github:octocat' } } });
  });

  it('publishes a collaborator\'s `/nightshift budget` comment as an answer carrying the budget', async () => {
    const h = commentHandler(issueTicket());
    const sent = await h.send(commentPayload({ id: 101, user: 'maintainer', association: 'MEMBER', body: '/nightshift budget 600000\nKeep going.' }));
    expect(sent).toMatchObject({ status: 202, body: { action: 'human.answered', ticketId: TICKET_ID } });
    expect(h.published).toHaveLength(1);
    expect(h.published[0]!.ev.data).toEqual({ ticketId: TICKET_ID, text: 'Keep going.', by: 'github:maintainer', budget: 600_000 });
  });

  it('answers 200 with the reason for what it ignores, and publishes nothing', async () => {
    const h = commentHandler(issueTicket());
    const answers = [
      await h.send(commentPayload({ user: 'mallory' })),
      await h.send(commentPayload({ user: 'nightshift[bot]', type: 'Bot', association: 'NONE' })),
      await h.send(commentPayload({ number: 8 })),
      await h.send(commentPayload({ body: '' })),
    ];
    expect(answers.map((a) => [a.status, a.body.ignored])).toEqual([
      [200, 'github:mallory was not asked and has no write access (none)'],
      [200, 'a comment by a bot'],
      [200, "acme/widgets#8 is not a ticket's issue"],
      [200, 'an empty comment'],
    ]);
    expect(h.published).toEqual([]);
    // Bots and empty comments are turned away before any ticket is read.
    expect(h.reads).toEqual([TICKET_ID, ticketIdForExternalId('github:acme/widgets#8')]);
  });

  it('refuses a signed payload that is not an issue comment with 400', async () => {
    const h = commentHandler(issueTicket());
    const bad = await h.send({ action: 'created', issue: { number: 7 }, comment: { id: 'x' } });
    expect(bad).toMatchObject({ status: 400, body: { ok: false, error: { code: 'invalid_payload' } } });
    expect(h.published).toEqual([]);
  });
});

describe('pull request comments that mention nightshift', () => {
  const pr = (over: Parameters<typeof commentPayload>[0] = {}) => parseComment(commentPayload({ pullRequest: true, association: 'COLLABORATOR', body: '@nightshift please also trim leading dashes', ...over }));

  it('are feedback when a collaborator mentions the handle as a word of its own, in any case', () => {
    expect(pullRequestCommentNotFeedback(pr(), '@nightshift')).toBeNull();
    expect(pullRequestCommentNotFeedback(pr({ body: 'Looks close. @NightShift: rename the option.' }), '@nightshift')).toBeNull();
    expect(pullRequestCommentNotFeedback(pr({ association: 'OWNER' }), '@nightshift')).toBeNull();
  });

  it('are not feedback without the mention, from someone without write access, from a bot, or when turned off', () => {
    expect(pullRequestCommentNotFeedback(pr({ body: 'LGTM, thanks!' }), '@nightshift')).toMatch(/does not mention @nightshift/);
    expect(pullRequestCommentNotFeedback(pr({ body: 'ping @nightshifty and mail me@nightshift' }), '@nightshift')).toMatch(/does not mention/);
    expect(pullRequestCommentNotFeedback(pr({ association: 'NONE', user: 'mallory' }), '@nightshift')).toBe(
      'github:mallory has no write access (none); only collaborators send work back by comment',
    );
    expect(pullRequestCommentNotFeedback(pr({ type: 'Bot', user: 'ci[bot]' }), '@nightshift')).toBe('a comment by a bot');
    expect(pullRequestCommentNotFeedback(pr(), undefined)).toMatch(/NIGHTSHIFT_GITHUB_MENTION is off/);
    expect(pullRequestCommentNotFeedback(pr({ action: 'edited' }), '@nightshift')).toBe('issue_comment edited is not used');
  });

  it('send the ticket of the recorded pull request back with the comment, under the comment id', async () => {
    const at = new Date().toISOString();
    const record: PullRequest = {
      ticketId: TICKET_ID,
      forge: 'github',
      number: 7,
      url: 'https://github.com/acme/widgets/pull/7',
      repo: 'https://github.com/acme/widgets',
      branch: `nightshift/${TICKET_ID}`,
      base: 'main',
      baseSha: 'a'.repeat(40),
      headSha: 'b'.repeat(40),
      title: 't',
      body: 'b',
      state: 'open',
      createdAt: at,
      updatedAt: at,
    };
    const published: Envelope[] = [];
    const handle = createWebhookHandler({
      secret: SECRET,
      prs: { list: async () => [record], get: async (id: string) => (id === TICKET_ID ? record : null) } as unknown as PullRequestStore,
      tickets: { get: async () => null },
      hosts: ['github.com'],
      github: null,
      mention: '@nightshift',
      log: logSink().log,
      async publish(_ticketId, ev) {
        published.push(ev);
      },
      intake: () => Promise.reject(new Error('no intake')),
      bugIntake: () => Promise.reject(new Error('no intake')),
    });
    const send = async (payload: unknown) => {
      const d = await delivery(SECRET, 'issue_comment', payload);
      return handle({ headers: d.headers, body: Buffer.from(d.body) });
    };
    expect(await send(commentPayload({ pullRequest: true, association: 'MEMBER', id: 555, body: '@nightshift please also trim leading dashes' }))).toMatchObject({
      status: 202,
      body: { action: 'pr.changes_requested', ticketId: TICKET_ID },
    });
    expect(published).toHaveLength(1);
    expect(published[0]!.data).toMatchObject({
      ticketId: TICKET_ID,
      number: 7,
      by: 'github:octocat',
      comments: [{ by: 'github:octocat', text: '@nightshift please also trim leading dashes' }],
      feedbackIds: ['issue-comment:555'],
    });
    expect(await send(commentPayload({ pullRequest: true, association: 'MEMBER', number: 9, body: '@nightshift go' }))).toMatchObject({
      status: 200,
      body: { ignored: 'no pull request acme/widgets#9 is recorded for a ticket' },
    });
    expect(published).toHaveLength(1);
  });
});
