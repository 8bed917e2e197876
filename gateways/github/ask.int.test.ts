import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { answerTicket, TicketStore } from '../../bus/index.ts';
import { loadConfig, type Config, type Ticket } from '../../shared/index.ts';
import { startFakeGitHub, type FakeGitHub, type FakeIssueComment } from '../../test/fakes/github.ts';
import { spawnCli, type CliProcess } from '../../test/helpers/cli.ts';
import { setup, type TestEnv } from '../../test/helpers/env.ts';
import { delivery, issueEvent, post, receiverSettings, retarget, webhookExample } from '../../test/helpers/github.ts';
import { coordinatorSettled, eventCount, readTicket } from '../../test/helpers/tickets.ts';
import { waitFor } from '../../test/helpers/wait.ts';
import { createCoordinator } from '../../agents/coordinator/coordinator.ts';
import { askMarker } from './ask.ts';
import { commentEventId } from './handler.ts';
import { startGitHubGateway, type GitHubGateway } from './main.ts';

/*
 * A bug report's questions asked on its GitHub issue and answered there: a real coordinator, a triager
 * process whose handler module asks the reporter (as the real triager does with a thin report), the
 * fake GitHub (every request checked against GitHub's OpenAPI description), and the GitHub gateway
 * over HTTP with signed deliveries built from @octokit/webhooks-examples.
 */

const SECRET = 'webhook-secret-for-ask-tests';
const TOKEN = 'ghp_askTestToken';
const BOT = 'nightshift-bot';
const OWNER = 'acme';
const NAME = 'widgets';
const REPO_URL = `https://github.com/${OWNER}/${NAME}`;
const BUG_LABEL = 'nightshift-bug';
const TRIAGER = fileURLToPath(new URL('../../test/fixtures/handlers/asking-triager.ts', import.meta.url));
const Q1 = 'Which version of widgets do you run?';
const Q2 = 'Does it also happen on a fresh install?';

interface World extends AsyncDisposable {
  env: TestEnv;
  config: Config;
  fake: FakeGitHub;
  tickets: TicketStore;
  triager: CliProcess;
  /** Starts a gateway replica named `replica` (stopped with the world, or by closing it). */
  gateway(replica: string): Promise<GitHubGateway>;
  /** Stops the running coordinator (one runs from the start): events wait on the bus. */
  stopCoordinator(): Promise<void>;
  /** Starts a coordinator again. */
  startCoordinator(): Promise<void>;
  ticket(id: string): Promise<Ticket>;
  /** Waits for the ticket to park, with `n` answers taken so far. */
  parked(id: string, answers: number): Promise<Ticket & { parked: NonNullable<Ticket['parked']> }>;
  /** nightshift's comments on an issue. */
  botComments(number: number): FakeIssueComment[];
  /** Events on the stream so far. */
  events(): Promise<number>;
  /** Waits until the coordinators have applied every event on the stream. */
  settled(): Promise<void>;
  /** Log lines of a message since `from` (an index into the log), optionally matching `fields`. */
  logs(msg: string, fields?: Record<string, unknown>, from?: number): Record<string, unknown>[];
}

async function world(): Promise<World> {
  const env = await setup();
  const fake = await startFakeGitHub({ token: TOKEN, user: BOT });
  fake.repo(OWNER, NAME);
  const config = loadConfig(
    {},
    {
      ...env.childEnv,
      ...receiverSettings(SECRET, { fake, token: TOKEN }),
      NIGHTSHIFT_GITHUB_BUG_LABEL: BUG_LABEL,
    },
  );
  const log = env.sink.log;
  const stack = new AsyncDisposableStack();
  const tickets = new TicketStore(await env.bus.tickets());
  let coordinator: ReturnType<typeof createCoordinator> | null = null;
  const startCoordinator = async () => {
    coordinator = createCoordinator({ bus: env.bus, config, log });
    await coordinator.start();
  };
  const stopCoordinator = async () => {
    await coordinator?.stop();
    coordinator = null;
  };
  stack.defer(stopCoordinator);
  await startCoordinator();
  const triager = spawnCli(['agent', 'triager', '--handler', TRIAGER], env.childEnv);
  stack.defer(() => triager[Symbol.asyncDispose]());
  await triager.waitForLog('the triager started', (l) => l.msg === 'agent started', 30_000);
  const ticket = (id: string) => readTicket(tickets, id);
  return {
    env,
    config,
    fake,
    tickets,
    triager,
    async gateway(replica) {
      const g = await startGitHubGateway({ bus: env.bus, config, log, options: { ask: { replica } } });
      stack.defer(() => g.close());
      return g;
    },
    startCoordinator,
    stopCoordinator,
    ticket,
    parked: (id, answers) =>
      waitFor(`ticket ${id} parked with ${answers} answers`, async () => {
        const t = await ticket(id);
        return t.state === 'awaiting_human' && t.parked && t.answers.length === answers ? (t as Ticket & { parked: NonNullable<Ticket['parked']> }) : undefined;
      }, { timeoutMs: 30_000 }),
    botComments: (number) => fake.issue(OWNER, NAME, number).comments.filter((c) => c.user === BOT),
    events: () => eventCount(env.bus),
    settled: () => coordinatorSettled(env.bus),
    logs: (msg, fields = {}, from = 0) =>
      env.sink.lines.slice(from).filter((l) => l.msg === msg && Object.entries(fields).every(([k, v]) => l[k] === v)),
    async [Symbol.asyncDispose]() {
      await stack.disposeAsync();
      await fake.stop();
      await env[Symbol.asyncDispose]();
    },
  };
}

/** The example `issues.labeled` with the bug label, on acme/widgets#<number> opened by `author`. */
function bugIssue(number: number, author: string) {
  return issueEvent('labeled', { owner: OWNER, name: NAME, number, title: 'Slugs keep trailing dashes', body: 'Seen on /blog.', labels: [BUG_LABEL], label: BUG_LABEL, author });
}

/** The example `issue_comment.created` carrying `comment` (as the REST API shows it) on acme/widgets#<number>. */
function commentEvent(number: number, comment: Record<string, unknown>) {
  const p = retarget(webhookExample('issue_comment', 'created'), { owner: OWNER, name: NAME, number, branch: '', headSha: '' });
  p.issue = { ...(p.issue as object), number, html_url: `${REPO_URL}/issues/${number}` };
  p.comment = { ...(p.comment as object), ...comment };
  p.sender = comment.user;
  return p;
}

/** Reports acme/widgets#<number> as a bug through the `issues` webhook; returns the ticket id. */
async function report(url: string, number: number, author: string): Promise<string> {
  const answer = await post(url, await delivery(SECRET, 'issues', bugIssue(number, author)));
  expect(answer).toMatchObject({ status: 202, body: { action: 'bug_report', duplicate: false } });
  return String(answer.body.ticketId);
}

describe('questions on GitHub issues', () => {
  it('asks the reporter once per parking on the issue (several replicas, restarts), and takes the answer from there', async () => {
    await using w = await world();
    w.fake.issue(OWNER, NAME, 7, { user: 'octocat' });
    // Two gateway replicas follow the tickets from the start.
    const [gw1, gw2] = await Promise.all([w.gateway('gw-1'), w.gateway('gw-2')]);
    const id = await report(gw1.url, 7, 'octocat');

    const first = await w.parked(id, 0);
    expect(first.parked.questions).toEqual([{ id: 'triage-1', text: Q1, blocking: true, to: 'github:octocat' }]);
    const [question] = await waitFor('the question on the issue', () => w.botComments(7).length > 0 && w.botComments(7));
    expect(question!.body).toContain(`@octocat: ${Q1}`);
    expect(question!.body).toMatch(/^@octocat: nightshift needs an answer/);
    expect(question!.body).toContain('**To answer, reply on this issue.**');
    expect(question!.body).toContain(askMarker(id, first.parked.askedAt));
    await waitFor('the comment recorded', () => w.logs('question posted on the issue', { ticketId: id }).length === 1);

    // Both replicas stop; a new one follows the same tickets: the parking is already asked.
    await Promise.all([gw1.close(), gw2.close()]);
    const gw3 = await w.gateway('gw-3');
    await waitFor('the new replica to see the question posted', () => w.logs('issue question already posted', { ticketId: id, replica: 'gw-3' }).length > 0);
    expect(w.botComments(7)).toHaveLength(1);
    expect(w.fake.requests.filter((r) => r.operationId === 'issues/create-comment')).toHaveLength(1);

    // What is not an answer: a stranger, a bot, nightshift's own comment, an issue that is no ticket's.
    await w.settled();
    const before = await w.ticket(id);
    const eventsBefore = await w.events();
    w.fake.issue(OWNER, NAME, 8, { user: 'octocat' });
    const ignored = [
      await post(gw3.url, await delivery(SECRET, 'issue_comment', commentEvent(7, w.fake.commentOnIssue(OWNER, NAME, 7, { user: 'mallory', body: 'Same here, version 2.', association: 'NONE' })))),
      await post(gw3.url, await delivery(SECRET, 'issue_comment', commentEvent(7, w.fake.commentOnIssue(OWNER, NAME, 7, { user: 'dependabot[bot]', body: 'Bump.', bot: true })))),
      await post(gw3.url, await delivery(SECRET, 'issue_comment', commentEvent(7, w.fake.issueCommentJson(OWNER, NAME, 7, question!.id)))),
      await post(gw3.url, await delivery(SECRET, 'issue_comment', commentEvent(8, w.fake.commentOnIssue(OWNER, NAME, 8, { user: 'octocat', body: 'Version 2.3.1.' })))),
    ];
    expect(ignored.map((a) => [a.status, a.body.ignored])).toEqual([
      [200, 'github:mallory was not asked and has no write access (none)'],
      [200, 'a comment by a bot'],
      [200, "nightshift's own comment"],
      [200, `${OWNER}/${NAME}#8 is not a ticket's issue`],
    ]);
    await w.settled();
    expect(await w.events()).toBe(eventsBefore);
    expect(await w.ticket(id)).toEqual(before);

    // The reporter answers. With the coordinator stopped, the answer waits on the bus: the same delivery
    // twice, and the same comment under another delivery id, are one event.
    await w.stopCoordinator();
    const answer = w.fake.commentOnIssue(OWNER, NAME, 7, { user: 'octocat', body: 'Version 2.3.1, on Firefox.', association: 'NONE' });
    const d = await delivery(SECRET, 'issue_comment', commentEvent(7, answer));
    const accepted = [await post(gw3.url, d), await post(gw3.url, d), await post(gw3.url, await delivery(SECRET, 'issue_comment', commentEvent(7, answer)))];
    expect(accepted.map((a) => a.status)).toEqual([202, 202, 202]);
    expect(accepted[0]!.body).toEqual({ ok: true, delivery: d.id, action: 'human.answered', ticketId: id });
    expect(await w.events()).toBe(eventsBefore + 1);
    await w.startCoordinator();

    // The ticket goes back to triage with the answer; the triager asks one more thing: a new parking, a new comment.
    const second = await w.parked(id, 1);
    expect(second.answers).toEqual([{ text: 'Version 2.3.1, on Firefox.', by: 'github:octocat', at: expect.any(String) }]);
    expect(second.timeline).toContainEqual(expect.objectContaining({ event: 'answered', by: 'github:octocat', cause: commentEventId(Number(answer.id)) }));
    expect(second.timeline).toContainEqual(expect.objectContaining({ event: 'transition', from: 'awaiting_human', to: 'triaging', by: 'github:octocat' }));
    expect(second.timeline.filter((e) => e.event === 'answered')).toHaveLength(1);
    expect(second.parked.askedAt).not.toBe(first.parked.askedAt);
    const asked = await waitFor('the second question on the issue', () => w.botComments(7).length === 2 && w.botComments(7));
    expect(asked[0]!.body).toBe(question!.body);
    expect(asked[1]!.body).toContain(`@octocat: ${Q2}`);
    expect(asked[1]!.body).toContain(askMarker(id, second.parked.askedAt));

    // Someone with write access answers the second question; the triager closes the report.
    const member = w.fake.commentOnIssue(OWNER, NAME, 7, { user: 'maintainer', body: 'Yes, on a fresh install too.', association: 'MEMBER' });
    expect(await post(gw3.url, await delivery(SECRET, 'issue_comment', commentEvent(7, member)))).toMatchObject({ status: 202, body: { action: 'human.answered', ticketId: id } });
    const closed = await waitFor('the report closed', async () => {
      const t = await w.ticket(id);
      return t.state === 'cancelled' ? t : undefined;
    }, { timeoutMs: 30_000 });
    expect(closed.answers.map((a) => [a.by, a.text])).toEqual([
      ['github:octocat', 'Version 2.3.1, on Firefox.'],
      ['github:maintainer', 'Yes, on a fresh install too.'],
    ]);
    // A comment after the ticket stopped waiting answers nothing.
    const late = await post(gw3.url, await delivery(SECRET, 'issue_comment', commentEvent(7, w.fake.commentOnIssue(OWNER, NAME, 7, { user: 'octocat', body: 'Anything else?' }))));
    expect(late).toMatchObject({ status: 200, body: { ignored: `ticket ${id} is cancelled, not awaiting an answer` } });
    expect(w.botComments(7)).toHaveLength(2);
    expect(w.fake.violations).toEqual([]);
  });

  it("raises the ticket's token budget from a collaborator's `/nightshift budget` comment, never from one without write access", async () => {
    await using w = await world();
    w.fake.issue(OWNER, NAME, 11, { user: 'octocat' });
    const gw = await w.gateway('gw-1');
    const id = await report(gw.url, 11, 'octocat');
    await w.parked(id, 0);
    await w.settled();
    const eventsBefore = await w.events();

    const refused = [
      await post(gw.url, await delivery(SECRET, 'issue_comment', commentEvent(11, w.fake.commentOnIssue(OWNER, NAME, 11, { user: 'octocat', body: '/nightshift budget 600000', association: 'NONE' })))),
      await post(gw.url, await delivery(SECRET, 'issue_comment', commentEvent(11, w.fake.commentOnIssue(OWNER, NAME, 11, { user: 'maintainer', body: '/nightshift budget lots', association: 'MEMBER' })))),
    ];
    expect(refused.map((a) => [a.status, a.body.ignored])).toEqual([
      [200, 'github:octocat may answer but not raise the token budget: that takes write access (none)'],
      [200, '/nightshift budget: budget "lots" is not a whole number of tokens'],
    ]);
    await w.settled();
    expect(await w.events()).toBe(eventsBefore);

    const member = w.fake.commentOnIssue(OWNER, NAME, 11, { user: 'maintainer', body: '/nightshift budget 600000\nVersion 2.3.1.', association: 'MEMBER' });
    expect(await post(gw.url, await delivery(SECRET, 'issue_comment', commentEvent(11, member)))).toMatchObject({ status: 202, body: { action: 'human.answered', ticketId: id } });
    const resumed = await w.parked(id, 1);
    expect(resumed.budget).toBe(600_000);
    expect(resumed.answers).toEqual([{ text: 'Version 2.3.1.', by: 'github:maintainer', at: expect.any(String) }]);
    expect(resumed.timeline).toContainEqual(expect.objectContaining({ event: 'answered', by: 'github:maintainer', reason: 'token budget set to 600000 (was the default)' }));
    expect(w.fake.violations).toEqual([]);
  });

  it('retries a post GitHub refuses, adopts a comment whose answer was lost, and posts nothing once the ticket stops waiting', async () => {
    await using w = await world();
    const issue = w.fake.issue(OWNER, NAME, 9, { user: 'octocat' });
    // A busy issue: the search for an earlier attempt's comment has to page.
    for (let i = 0; i < 120; i++) w.fake.commentOnIssue(OWNER, NAME, 9, { user: 'someone', body: `+1 (${i})` });
    // GitHub fails twice, then takes the comment but the answer never arrives.
    w.fake.failNext('issues/create-comment', 502, 2);
    let dropped = false;
    w.fake.after('issues/create-comment', () => {
      if (dropped) return;
      dropped = true;
      return 'drop';
    });
    const gw = await w.gateway('gw-1');
    const id = await report(gw.url, 9, 'octocat');
    const first = await w.parked(id, 0);

    await waitFor('the comment adopted', () => w.logs('adopted the question comment an earlier attempt posted', { ticketId: id }).length === 1);
    await waitFor('the comment recorded', () => w.logs('question posted on the issue', { ticketId: id }).length === 1);
    expect(w.botComments(9)).toHaveLength(1);
    expect(w.botComments(9)[0]!.body).toContain(askMarker(id, first.parked.askedAt));
    const failed = w.logs('posting the question on the issue failed; will retry', { ticketId: id });
    expect(failed.map((l) => [l.level, l.failures])).toEqual([['error', 1], ['error', 2], ['error', 3]]);
    expect(w.fake.requests.filter((r) => r.operationId === 'issues/create-comment').map((r) => r.status)).toEqual([502, 502, 201]);
    expect(w.fake.requests.some((r) => r.operationId === 'issues/list-comments' && r.query.page === '2')).toBe(true);
    expect(issue.comments).toHaveLength(121);

    // The second parking cannot be posted (GitHub keeps failing): retried, logged, never given up…
    w.fake.failNext('issues/create-comment', 503, 1_000);
    const answer = w.fake.commentOnIssue(OWNER, NAME, 9, { user: 'octocat', body: 'Version 2.3.1.' });
    expect((await post(gw.url, await delivery(SECRET, 'issue_comment', commentEvent(9, answer)))).status).toBe(202);
    const second = await w.parked(id, 1);
    await waitFor('the second post to fail twice', () => w.logs('posting the question on the issue failed; will retry', { ticketId: id, askedAt: second.parked.askedAt }).length >= 2);
    await waitFor('a retry due', () => gw.asker!.due().has(id));

    // …until the ticket is answered elsewhere: then nothing more is posted for that parking.
    const mark = w.env.sink.lines.length;
    await answerTicket(w.env.bus, id, 'Yes.', { by: 'cli:tester', timeoutMs: 10_000 });
    await waitFor('the gateway to see the ticket move on', () =>
      w.logs('issue question step', { ticketId: id, replica: 'gw-1' }, mark).some((l) => l.ticketState !== 'awaiting_human'),
    );
    expect(gw.asker!.due().has(id)).toBe(false);
    w.fake.failNext('issues/create-comment', 503, 0);
    const attempts = w.fake.requests.filter((r) => r.operationId === 'issues/create-comment').length;
    await waitFor('the report closed', async () => ((await w.ticket(id)).state === 'cancelled' ? true : undefined), { timeoutMs: 30_000 });
    expect(w.fake.requests.filter((r) => r.operationId === 'issues/create-comment')).toHaveLength(attempts);
    expect(w.botComments(9)).toHaveLength(1);
    expect(w.fake.violations).toEqual([]);
  });
});
