import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Webhooks } from '@octokit/webhooks';
import { describe, expect, it } from 'vitest';
import { createPullRequestStore, PR_FEEDBACK, TicketStore } from '../../bus/index.ts';
import { forgesFromConfig } from '../../shared/forge/index.ts';
import { commitAll, git, IntakeReply, loadConfig, openWorkspace, pushBranch, workspaceGit, type Config, type ForgeRouter, type PullRequestStore, type Ticket } from '../../shared/index.ts';
import type { FakeGitHub } from '../../test/fakes/github.ts';
import { runCli } from '../../test/helpers/cli.ts';
import { setup, type TestEnv } from '../../test/helpers/env.ts';
import { delivery, demoGitHub, post, receiverSettings, retarget, webhookExample } from '../../test/helpers/github.ts';
import { coordinatorSettled, eventCount } from '../../test/helpers/tickets.ts';
import { waitFor } from '../../test/helpers/wait.ts';
import { createCoordinator } from '../../agents/coordinator/coordinator.ts';
import { pendingFeedback } from '../../agents/kit/artifacts.ts';
import { createAgentRuntime, type AgentHandler } from '../../agents/runtime/runtime.ts';
import { startGitHubGateway } from './main.ts';
import type { WebhookServer } from './server.ts';

/*
 * The webhook receiver between GitHub and the coordinator, with real deliveries: payloads from
 * `@octokit/webhooks-examples` pointed at the ticket's pull request, signed with the webhook secret,
 * POSTed over HTTP. Agents are injected handlers here (the model and the sandbox are not the point):
 * the reviewer pushes and opens the pull request through the GitHub forge, the coder pushes a commit
 * answering the feedback. test/e2e/github.int.test.ts runs the built-in agents.
 */

const SECRET = 'webhook-secret-for-tests';
const TOKEN = 'ghp_receiverTestToken';
const OWNER = 'acme';
const NAME = 'widgets';
const REPO_URL = `https://github.com/${OWNER}/${NAME}`;

interface World extends AsyncDisposable {
  env: TestEnv;
  config: Config;
  fake: FakeGitHub;
  bare: string;
  prs: PullRequestStore;
  tickets: TicketStore;
  receiver: WebhookServer;
  forges: ForgeRouter;
  /** Deliveries of the coder (one per dispatch) and reviewer. */
  calls: { coder: number; reviewer: number };
  /** Posts a ticket for the GitHub repository and waits for its pull request. */
  ticketWithPr(externalId: string): Promise<{ id: string; number: number; branch: string; headSha: string }>;
  ticket(id: string): Promise<{ ticket: Ticket; revision: number }>;
  /** Events on the stream so far. */
  events(): Promise<number>;
  /** Waits until the coordinator has applied every event on the stream. */
  settled(): Promise<void>;
}

async function world(settings: Record<string, string> = {}): Promise<World> {
  // Every component on its own kind's credentials, as `nightshift up` runs them.
  const env = await setup({}, { secure: true });
  const github = await demoGitHub({ token: TOKEN }, OWNER, NAME);
  const { fake, bare } = github;
  const config = loadConfig(
    {},
    {
      ...env.childEnv,
      ...receiverSettings(SECRET, { fake, token: TOKEN }),
      NIGHTSHIFT_WORKSPACES_DIR: mkdtempSync(join(tmpdir(), 'ns-ghr-ws-')),
      ...settings,
    },
  );
  const log = env.sink.log;
  const prs = await createPullRequestStore(env.bus);
  const tickets = new TicketStore(await env.bus.tickets());
  const reviewerBus = await env.connectAs('reviewer');
  const forges = forgesFromConfig({ config, store: await createPullRequestStore(reviewerBus), log });
  const stack = new AsyncDisposableStack();
  const coordinator = createCoordinator({ bus: await env.connectAs('coordinator'), config, log });
  await coordinator.start();
  stack.defer(() => coordinator.stop());
  const calls = { coder: 0, reviewer: 0 };

  const advance: AgentHandler = async () => ({ kind: 'advance', output: { ok: true } });
  // The coder answers the pending feedback with a commit on the ticket branch.
  const coder: AgentHandler = async (work) => {
    calls.coder++;
    const repo = work.ticket.repo;
    await using ws = await openWorkspace({ repo, ticketId: work.ticket.id, root: config.NIGHTSHIFT_WORKSPACES_DIR, remote: forges.forgeFor(repo).remote(repo) });
    writeFileSync(join(ws.dir, `change-${calls.coder}.md`), `${pendingFeedback(work) ?? 'first change'}\n`);
    const commit = await commitAll(ws, { role: 'coder', message: `Change ${calls.coder}` });
    await pushBranch(ws);
    return { kind: 'advance', output: { commit } };
  };
  // The reviewer opens (or updates) the pull request through the GitHub forge.
  const reviewer: AgentHandler = async (work) => {
    calls.reviewer++;
    const repo = work.ticket.repo;
    await using ws = await openWorkspace({ repo, ticketId: work.ticket.id, root: config.NIGHTSHIFT_WORKSPACES_DIR, remote: forges.forgeFor(repo).remote(repo) });
    const head = (await workspaceGit(ws, ['rev-parse', 'HEAD'])).trim();
    const pr = await forges.forgeFor(repo).openPullRequest({
      ticketId: work.ticket.id,
      repo: repo.url!,
      branch: ws.branch,
      base: ws.baseBranch,
      baseSha: ws.baseSha,
      headSha: head,
      title: work.ticket.title,
      body: `## Summary\n\nReview ${calls.reviewer}.`,
    });
    return { kind: 'advance', output: { verdict: 'approve', pullRequest: { number: pr.number, url: pr.url, forge: pr.forge } } };
  };
  const runtimes = await Promise.all(
    (['refiner', 'test-author', 'coder', 'reviewer'] as const).map(async (role) =>
      createAgentRuntime({ bus: role === 'reviewer' ? reviewerBus : await env.connectAs(role), role, handler: { refiner: advance, 'test-author': advance, coder, reviewer }[role], config, log }),
    ),
  );
  for (const r of runtimes) await r.start();
  // Stopped together: each waits out its pending pull.
  stack.defer(async () => void (await Promise.all(runtimes.map((r) => r.stop()))));
  const receiver = await startGitHubGateway({ bus: await env.connectAs('github'), config, log });
  stack.defer(() => receiver.close());

  const ticket = async (id: string) => {
    const t = await tickets.get(id);
    if (!t) throw new Error(`no ticket ${id}`);
    return t;
  };
  return {
    env,
    config,
    fake,
    bare,
    prs,
    tickets,
    receiver,
    forges,
    calls,
    ticket,
    async ticketWithPr(externalId) {
      const reply = IntakeReply.parse(
        (await env.bus.nc.request(env.bus.subjects.ticketIntake, JSON.stringify({ title: 'slugify: add a maxLength option', body: 'Cut long slugs.', repo: { url: REPO_URL }, externalId }), { timeout: 10_000 })).json(),
      );
      if (!reply.ok) throw new Error(reply.error.message);
      await waitFor('the pull request', async () => (await ticket(reply.id)).ticket.state === 'pr_open', { timeoutMs: 30_000 });
      const pr = (await prs.get(reply.id))!;
      return { id: reply.id, number: pr.number, branch: pr.branch, headSha: pr.headSha };
    },
    events: () => eventCount(env.bus),
    settled: () => coordinatorSettled(env.bus),
    async [Symbol.asyncDispose]() {
      await stack.disposeAsync();
      await github[Symbol.asyncDispose]();
      await env[Symbol.asyncDispose]();
    },
  };
}

const target = (t: { number: number; branch: string; headSha: string }) => ({ owner: OWNER, name: NAME, number: t.number, branch: t.branch, headSha: t.headSha });

/** The example `pull_request_review.submitted`, as a person's review of the ticket's pull request. */
function reviewPayload(t: { number: number; branch: string; headSha: string }, review: Record<string, unknown>, state: string) {
  const p = retarget(webhookExample('pull_request_review', 'submitted'), target(t));
  p.review = { ...(p.review as object), id: review.id, body: review.body, state, html_url: review.html_url, user: review.user };
  p.sender = review.user;
  return p;
}

/** The example `pull_request_review_comment.created`, as one line comment of a review. */
function commentPayload(t: { number: number; branch: string; headSha: string }, comment: Record<string, unknown>) {
  const p = retarget(webhookExample('pull_request_review_comment', 'created', (e) => (e.comment as { line?: unknown }).line != null), target(t));
  p.comment = { ...(p.comment as object), id: comment.id, body: comment.body, path: comment.path, line: comment.line, pull_request_review_id: comment.pull_request_review_id, user: comment.user };
  p.sender = comment.user;
  return p;
}

/** The example `pull_request.closed`, merged or not. */
function closedPayload(t: { number: number; branch: string; headSha: string }, merged: boolean) {
  const p = retarget(webhookExample('pull_request', 'closed'), target(t));
  const pr = p.pull_request as Record<string, unknown>;
  p.pull_request = { ...pr, merged, merged_at: merged ? '2030-01-01T00:00:00Z' : null, merge_commit_sha: merged ? 'c'.repeat(40) : null };
  return p;
}

describe('the GitHub webhook receiver', () => {
  it('refuses a forged, a missing and a foreign signature with 401, and nothing changes', async () => {
    await using w = await world();
    const t = await w.ticketWithPr('GH-FORGED');
    await w.settled();
    const before = await w.ticket(t.id);
    const eventsBefore = await w.events();
    const payload = closedPayload(t, true);

    const forged = await delivery('not-the-secret', 'pull_request', payload);
    expect(await post(w.receiver.url, forged)).toEqual({ status: 401, body: { ok: false, error: { code: 'signature_invalid', message: expect.any(String) } } });
    const unsigned = await delivery(SECRET, 'pull_request', payload);
    delete unsigned.headers['x-hub-signature-256'];
    expect((await post(w.receiver.url, unsigned)).body).toMatchObject({ ok: false, error: { code: 'signature_missing' } });
    // A genuine signature over other bytes (the payload tampered with after signing).
    const genuine = await delivery(SECRET, 'pull_request', payload);
    const tampered = { ...genuine, body: genuine.body.replace('"merged":true', '"merged":false') };
    expect(tampered.body).not.toBe(genuine.body);
    expect((await post(w.receiver.url, tampered)).status).toBe(401);
    const sha1Only = await delivery(SECRET, 'pull_request', payload);
    sha1Only.headers['x-hub-signature-256'] = sha1Only.headers['x-hub-signature-256']!.replace('sha256=', 'sha1=');
    expect((await post(w.receiver.url, sha1Only)).status).toBe(401);

    await w.settled();
    expect(await w.events()).toBe(eventsBefore);
    expect(await w.ticket(t.id)).toEqual(before);
    expect((await w.prs.get(t.id))?.state).toBe('open');
    expect(w.env.sink.lines.filter((l) => l.msg === 'webhook refused: bad signature')).toHaveLength(3);
  });

  it('sends the ticket back to coding on a review, lands the fix on the same pull request, and acts on each review once', async () => {
    await using w = await world();
    const t = await w.ticketWithPr('GH-REVIEW');
    expect(w.fake.repo(OWNER, NAME).pulls).toHaveLength(1);
    const summaryId = (await w.prs.get(t.id))!.summaryReviewId!;

    // A person requests changes with a body and two line comments.
    const { review, comments } = w.fake.submitReview(OWNER, NAME, t.number, {
      user: 'octocat',
      state: 'CHANGES_REQUESTED',
      body: 'Close, but an empty title must give an empty slug.',
      comments: [
        { path: 'src/slugify.js', line: 3, body: 'Handle the empty string here.' },
        { path: 'test/slugify.test.js', line: 1, body: 'Keep this test as it is.' },
      ],
    });
    const first = await delivery(SECRET, 'pull_request_review', reviewPayload(t, review, 'changes_requested'));
    expect(await post(w.receiver.url, first)).toEqual({ status: 202, body: { ok: true, delivery: first.id, action: 'pr.changes_requested', ticketId: t.id } });

    const coding = await waitFor('the ticket back in coding', async () => {
      const cur = (await w.ticket(t.id)).ticket;
      return cur.timeline.some((e) => e.event === 'transition' && e.from === 'pr_open' && e.to === 'coding') ? cur : undefined;
    });
    const sentBack = coding.timeline.find((e) => e.event === 'transition' && e.from === 'pr_open')!;
    expect(sentBack).toMatchObject({ by: 'github:octocat', cause: first.id });
    expect(sentBack.reason).toContain('empty title must give an empty slug');
    expect(sentBack.reason).toContain('(src/slugify.js:3): Handle the empty string here.');
    expect(coding.artifacts[PR_FEEDBACK]).toMatchObject({
      number: t.number,
      rounds: 1,
      handled: [`review:${String(review.id)}`, `comment:${String(comments[0]!.id)}`, `comment:${String(comments[1]!.id)}`],
    });

    // The coder's new commit goes to the same branch; the reviewer updates the same pull request and review.
    const back = await waitFor('the pull request updated', async () => {
      const cur = (await w.ticket(t.id)).ticket;
      return cur.state === 'pr_open' && cur.timeline.filter((e) => e.to === 'pr_open').length === 2 ? cur : undefined;
    }, { timeoutMs: 30_000 });
    expect(back.artifacts[PR_FEEDBACK]).toMatchObject({ pending: [], rounds: 1 });
    const pulls = w.fake.repo(OWNER, NAME).pulls;
    expect(pulls).toHaveLength(1);
    const pull = pulls[0]!;
    expect(pull.reviews.map((r) => r.user)).toEqual(['nightshift-bot', 'octocat']);
    expect(pull.reviews[0]).toMatchObject({ id: summaryId, body: expect.stringContaining('Review 2.') });
    const head = (await git(w.bare, ['rev-parse', t.branch])).trim();
    expect(pull.reviews[0]!.body).toContain(head.slice(0, 12));
    const log = (await git(w.bare, ['log', '--format=%s', `main..${t.branch}`])).trim().split('\n');
    expect(log).toEqual(['Change 2', 'Change 1']);
    expect(await git(w.bare, ['show', `${t.branch}:change-2.md`])).toContain('github:octocat on src/slugify.js line 3: Handle the empty string here.');
    expect((await w.prs.get(t.id))).toMatchObject({ number: t.number, headSha: head, summaryReviewId: summaryId });

    // The same delivery again, the review's comment events (other deliveries, same review), and the
    // review redelivered under a new id: nothing moves.
    await w.settled();
    const before = await w.ticket(t.id);
    const eventsBefore = await w.events();
    expect((await post(w.receiver.url, first)).status).toBe(202);
    await w.settled();
    expect(await w.events()).toBe(eventsBefore);
    expect(await w.ticket(t.id)).toEqual(before);
    for (const c of comments) expect((await post(w.receiver.url, await delivery(SECRET, 'pull_request_review_comment', commentPayload(t, c)))).status).toBe(202);
    expect((await post(w.receiver.url, await delivery(SECRET, 'pull_request_review', reviewPayload(t, review, 'changes_requested')))).status).toBe(202);
    await w.settled();
    const after = (await w.ticket(t.id)).ticket;
    expect(after.state).toBe('pr_open');
    expect(after.artifacts).toEqual(before.ticket.artifacts);
    expect(after.outbox).toEqual([]);
    expect(after.timeline.slice(before.ticket.timeline.length).map((e) => e.event)).toEqual(['ignored', 'ignored', 'ignored']);
    expect(w.calls).toEqual({ coder: 2, reviewer: 2 });
    expect(w.fake.violations).toEqual([]);
  });

  it("never acts on nightshift's own summary review, on approvals, or on pull requests that are not a ticket's", async () => {
    await using w = await world();
    const t = await w.ticketWithPr('GH-OWN');
    await w.settled();
    const before = await w.ticket(t.id);
    const eventsBefore = await w.events();
    const pull = w.fake.pull(OWNER, NAME, t.number);
    const own = (await (await fetch(`${w.fake.url}/repos/${OWNER}/${NAME}/pulls/${t.number}/reviews`, { headers: { authorization: `token ${TOKEN}` } })).json()) as Record<string, unknown>[];
    expect(own).toHaveLength(1);
    const answers = [
      await post(w.receiver.url, await delivery(SECRET, 'pull_request_review', reviewPayload(t, own[0]!, 'commented'))),
      await post(w.receiver.url, await delivery(SECRET, 'pull_request_review', reviewPayload(t, { ...own[0]!, body: 'no marker', id: pull.reviews[0]!.id }, 'commented'))),
      await post(w.receiver.url, await delivery(SECRET, 'pull_request_review', reviewPayload(t, w.fake.submitReview(OWNER, NAME, t.number, { user: 'octocat', state: 'APPROVED', body: 'Ship it' }).review, 'approved'))),
      // The examples as they are: Codertocat/Hello-World#2 from branch "changes".
      await post(w.receiver.url, await delivery(SECRET, 'pull_request', webhookExample('pull_request', 'closed'))),
      await post(w.receiver.url, await delivery(SECRET, 'pull_request_review_comment', webhookExample('pull_request_review_comment', 'created'))),
      // A nightshift branch name on another repository.
      await post(w.receiver.url, await delivery(SECRET, 'pull_request', retarget(webhookExample('pull_request', 'closed'), { ...target(t), owner: 'mallory' }))),
      await post(w.receiver.url, await delivery(SECRET, 'ping', webhookExample('ping', null))),
      await post(w.receiver.url, await delivery(SECRET, 'star', { action: 'created' })),
    ];
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200, 200, 200, 200]);
    expect(answers.map((a) => a.body.ignored ?? a.body.pong)).toEqual([
      "nightshift's own summary review",
      "nightshift's own summary review",
      'a review that is approved asks for nothing',
      'Codertocat/Hello-World#2 is not from a nightshift branch',
      'Codertocat/Hello-World#2 is not from a nightshift branch',
      `no pull request mallory/${NAME}#${t.number} is recorded for ticket ${t.id}`,
      true,
      'star events are not used',
    ]);
    // Signed but not what GitHub sends for the event: refused, nothing published.
    const bad = await post(w.receiver.url, await delivery(SECRET, 'pull_request', { action: 'closed', pull_request: { number: 'one' } }));
    expect(bad).toMatchObject({ status: 400, body: { ok: false, error: { code: 'invalid_payload' } } });
    const notJson = await delivery(SECRET, 'pull_request', {});
    notJson.body = '{"action": "closed",';
    notJson.headers['x-hub-signature-256'] = await new Webhooks({ secret: SECRET }).sign(notJson.body);
    expect(await post(w.receiver.url, notJson)).toMatchObject({ status: 400, body: { error: { code: 'invalid_json' } } });
    await w.settled();
    expect(await w.events()).toBe(eventsBefore);
    expect(await w.ticket(t.id)).toEqual(before);
    expect(w.fake.violations).toEqual([]);
  });

  it('finishes the ticket when its pull request is merged (done) or closed (cancelled); a redelivery changes nothing', async () => {
    await using w = await world();
    const merged = await w.ticketWithPr('GH-MERGE');
    const closed = await w.ticketWithPr('GH-CLOSE');
    w.fake.merge(OWNER, NAME, merged.number);
    w.fake.close(OWNER, NAME, closed.number);

    const m = await delivery(SECRET, 'pull_request', closedPayload(merged, true));
    expect(await post(w.receiver.url, m)).toMatchObject({ status: 202, body: { action: 'pr.merged', ticketId: merged.id } });
    const c = await delivery(SECRET, 'pull_request', closedPayload(closed, false));
    expect(await post(w.receiver.url, c)).toMatchObject({ status: 202, body: { action: 'pr.closed', ticketId: closed.id } });

    const done = await waitFor('done', async () => ((await w.ticket(merged.id)).ticket.state === 'done' ? (await w.ticket(merged.id)).ticket : undefined));
    expect(done.timeline.at(-1)).toMatchObject({ event: 'transition', from: 'pr_open', to: 'done', by: 'github:Codertocat', reason: `pull request #${merged.number} merged`, cause: m.id });
    const cancelled = await waitFor('cancelled', async () => ((await w.ticket(closed.id)).ticket.state === 'cancelled' ? (await w.ticket(closed.id)).ticket : undefined));
    expect(cancelled.timeline.at(-1)).toMatchObject({ from: 'pr_open', to: 'cancelled', reason: `pull request #${closed.number} closed without merging`, cause: c.id });
    expect(await w.prs.get(merged.id)).toMatchObject({ state: 'merged' });
    expect(await w.prs.get(closed.id)).toMatchObject({ state: 'closed' });

    await w.settled();
    const before = [await w.ticket(merged.id), await w.ticket(closed.id)];
    const eventsBefore = await w.events();
    expect((await post(w.receiver.url, m)).status).toBe(202);
    expect((await post(w.receiver.url, c)).status).toBe(202);
    await w.settled();
    expect(await w.events()).toBe(eventsBefore);
    expect([await w.ticket(merged.id), await w.ticket(closed.id)]).toEqual(before);
    expect(w.fake.violations).toEqual([]);
  });

  it('turns an issue labelled for nightshift into a ticket through intake, once per issue', async () => {
    await using w = await world({ NIGHTSHIFT_GITHUB_ISSUE_LABEL: 'nightshift' });
    const issue = retarget(webhookExample('issues', 'labeled'), { owner: OWNER, name: NAME, number: 1, branch: '', headSha: '' });
    const labelled: Record<string, unknown> & { issue: Record<string, unknown> } = { ...issue, label: { ...(issue.label as object), name: 'nightshift' }, issue: { ...(issue.issue as object), title: 'Slugs keep trailing dashes', body: 'Seen on /blog.', labels: [{ name: 'nightshift' }, { name: 'bug' }] } };
    const first = await post(w.receiver.url, await delivery(SECRET, 'issues', labelled));
    expect(first).toMatchObject({ status: 202, body: { ok: true, action: 'ticket', duplicate: false } });
    const id = String(first.body.ticketId);
    const t = (await w.ticket(id)).ticket;
    expect(t).toMatchObject({ title: 'Slugs keep trailing dashes', repo: { url: REPO_URL }, externalId: `github:${OWNER}/${NAME}#1`, requester: 'github:Codertocat', labels: ['nightshift', 'bug'], type: 'feature' });
    expect(t.body).toContain('Seen on /blog.');
    expect(t.body).toContain('(GitHub issue https://github.com/');

    // Again (a redelivery, or the "opened" event of the same issue): the same ticket.
    const again = await post(w.receiver.url, await delivery(SECRET, 'issues', labelled));
    expect(again).toMatchObject({ status: 202, body: { ticketId: id, duplicate: true } });
    const other = await post(w.receiver.url, await delivery(SECRET, 'issues', { ...labelled, label: { name: 'bug' } }));
    expect(other).toMatchObject({ status: 200, body: { ignored: 'issues labeled without the label "nightshift"' } });
    // Intake's rules hold: a payload intake refuses is answered 422 and kept for audit.
    const refused = await post(w.receiver.url, await delivery(SECRET, 'issues', { ...labelled, repository: { ...(labelled.repository as object), html_url: 'ftp://example.com/x' }, issue: { ...labelled.issue, number: 2 } }));
    expect(refused).toMatchObject({ status: 422, body: { ok: false, error: { code: 'invalid_repository' } } });
    expect((await w.env.bus.jsm.streams.info(w.env.bus.names.rejectedStream)).state.messages).toBe(1);
  });

  it('`nightshift github` will not start without the webhook secret: bad configuration, exit 2', async () => {
    const r = await runCli(['github'], { GITHUB_WEBHOOK_SECRET: '', NATS_URL: 'nats://127.0.0.1:1' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('GITHUB_WEBHOOK_SECRET: the GitHub webhook receiver needs it');
  });

  it('ignores issues when no label is configured', async () => {
    await using w = await world();
    const answer = await post(w.receiver.url, await delivery(SECRET, 'issues', webhookExample('issues', 'labeled')));
    expect(answer).toMatchObject({ status: 200, body: { ignored: 'issues do not become tickets (neither NIGHTSHIFT_GITHUB_ISSUE_LABEL nor NIGHTSHIFT_GITHUB_BUG_LABEL is set)' } });
  });
});
