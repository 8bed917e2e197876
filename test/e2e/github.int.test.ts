import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { builtInHandler } from '../../agents/registry.ts';
import { createCoordinator } from '../../agents/coordinator/coordinator.ts';
import { createAgentRuntime, type AgentRuntime } from '../../agents/runtime/runtime.ts';
import { createPullRequestStore, PR_FEEDBACK, TicketStore } from '../../bus/index.ts';
import { demoTicket, DEMO_SCRIPT } from '../../cli/demo.ts';
import { git, IntakeReply, loadConfig, type Ticket } from '../../shared/index.ts';
import { loadMockScript, startMockLlm } from '../../shared/llm/index.ts';
import { spawnCli, type CliProcess } from '../helpers/cli.ts';
import { describeDocker } from '../helpers/docker.ts';
import { setup } from '../helpers/env.ts';
import { delivery, demoGitHub, post, receiverSettings, retarget, webhookExample } from '../helpers/github.ts';
import { waitFor } from '../helpers/wait.ts';

/*
 * A ticket on a GitHub repository, end to end, with the built-in agents (Docker sandbox, mock-llm),
 * a local GitHub (test/fakes/github.ts: REST checked against the OpenAPI description, git over HTTP
 * into a bare repository) and the `nightshift github` receiver as its own process:
 *
 * 1. the reviewer process is killed right after GitHub created the pull request (its answer never
 *    arrives); the work goes to a new reviewer process, and there is still exactly one pull request,
 *    with one summary review;
 * 2. a person requests changes (a signed delivery built from @octokit/webhooks-examples): the ticket
 *    goes back to the coder, whose new commit lands on the same branch, and the reviewer updates the
 *    same pull request and the same summary review;
 * 3. the pull request is merged: the ticket is done.
 */

const TOKEN = 'ghp_e2eTestToken';
const SECRET = 'e2e-webhook-secret';
const OWNER = 'acme';
const NAME = 'widgets';
const FEEDBACK = 'Handle the empty string here: slugify("") must return "".';

describeDocker('a ticket on GitHub, end to end', () => {
  it(
    'opens one pull request through a reviewer crash, sends it back on review, updates it, and finishes on merge',
    async () => {
      const demo = await loadMockScript(DEMO_SCRIPT);
      const coderAnswer = demo.roles.coder![0]!.toolCalls![0]!.arguments as { files: { path: string; content: string }[] };
      const approve = demo.roles.reviewer![0]!;
      const script = {
        version: 1 as const,
        roles: {
          ...demo.roles,
          coder: [
            ...demo.roles.coder!,
            {
              expect: { contains: [FEEDBACK, 'People reviewing the pull request asked for these changes'] },
              toolCalls: [
                {
                  name: 'answer',
                  arguments: {
                    files: [{ path: 'src/slugify.js', content: `${coderAnswer.files[0]!.content}\n// slugify('') is '': the empty title gives the empty slug.\n` }],
                    notes: 'Documented the empty input, as asked on the pull request.',
                  },
                },
              ],
            },
          ],
          // The first reviewer dies after GitHub opened the pull request; its successor reviews again.
          reviewer: [approve, approve, { ...approve, expect: { contains: [FEEDBACK] } }],
        },
      };

      await using env = await setup({ NIGHTSHIFT_ACK_WAIT: '3s' });
      await using mock = await startMockLlm({ script });
      await using github = await demoGitHub({ token: TOKEN }, OWNER, NAME);
      const { fake, bare } = github;
      const settings = {
        ...env.childEnv,
        OPENAI_BASE_URL: mock.url,
        OPENAI_API_KEY: 'sk-test-secret-never-in-a-sandbox',
        NIGHTSHIFT_MODEL_RETRIES: '0',
        NIGHTSHIFT_WORKSPACES_DIR: mkdtempSync(join(tmpdir(), 'ns-e2e-gh-ws-')),
        ...receiverSettings(SECRET, { fake, token: TOKEN }),
      };
      const config = loadConfig({}, settings);
      const log = env.sink.log;

      // The coordinator and three agents in this process, built as `nightshift agent` builds them.
      const stack = new AsyncDisposableStack();
      await using _stack = stack;
      const coordinator = createCoordinator({ bus: env.bus, config, log });
      await coordinator.start();
      stack.defer(() => coordinator.stop());
      const runtimes: AgentRuntime[] = [];
      for (const role of ['refiner', 'test-author', 'coder'] as const) {
        const runtime = createAgentRuntime({ bus: env.bus, role, handler: await builtInHandler(role, { bus: env.bus, config, log }), config, log });
        await runtime.start();
        runtimes.push(runtime);
      }
      stack.defer(async () => void (await Promise.all(runtimes.map((r) => r.stop()))));
      // The reviewer and the webhook receiver as processes of their own.
      const procs: CliProcess[] = [];
      stack.defer(async () => {
        for (const p of procs) await p[Symbol.asyncDispose]();
      });
      const spawnReady = async (args: string[], ready: string) => {
        const p = spawnCli(args, settings);
        procs.push(p);
        return { p, line: await p.waitForLog(ready, (l) => l.msg === ready, 60_000) };
      };
      const { p: firstReviewer } = await spawnReady(['agent', 'reviewer'], 'agent started');
      const { line: listening } = await spawnReady(['github'], 'github webhook receiver listening');
      const receiver = String(listening.url);

      // Kill the reviewer the moment GitHub has created the pull request, before it hears back.
      let second: CliProcess | undefined;
      fake.after('pulls/create', async () => {
        if (second) return;
        firstReviewer.proc.kill('SIGKILL');
        await firstReviewer.exited;
        second = (await spawnReady(['agent', 'reviewer'], 'agent started')).p;
        return 'drop';
      });

      const tickets = new TicketStore(await env.bus.tickets());
      const ticket = async (id: string): Promise<Ticket> => (await tickets.get(id))!.ticket;
      const prOpen = (id: string, times: number) =>
        waitFor(
          `pr_open (${times})`,
          async () => {
            const t = await ticket(id);
            if (t.state === 'failed' || t.state === 'awaiting_human') throw new Error(`ticket ended ${t.state}: ${JSON.stringify(t.failure ?? t.parked)}`);
            return t.state === 'pr_open' && t.timeline.filter((e) => e.to === 'pr_open').length === times ? t : undefined;
          },
          { timeoutMs: 240_000, intervalMs: 250 },
        );

      // ---- 1. one pull request, through a reviewer crash ----------------------------------------
      const reply = IntakeReply.parse(
        (await env.bus.nc.request(env.bus.subjects.ticketIntake, JSON.stringify({ ...demoTicket(), externalId: 'GH-E2E', repo: { url: `https://github.com/${OWNER}/${NAME}` } }), { timeout: 15_000 })).json(),
      );
      if (!reply.ok) throw new Error(reply.error.message);
      const id = reply.id;
      const branch = `nightshift/${id}`;
      const opened = await prOpen(id, 1);

      expect(await firstReviewer.exited).toBe('SIGKILL');
      expect(second).toBeDefined();
      const pulls = fake.repo(OWNER, NAME).pulls;
      expect(pulls).toHaveLength(1);
      expect(fake.requests.filter((r) => r.operationId === 'pulls/create')).toHaveLength(1);
      const pull = pulls[0]!;
      expect(pull).toMatchObject({ number: 1, head: branch, base: 'main', state: 'open', title: 'slugify: add a maxLength option' });
      expect(pull.reviews).toHaveLength(1);
      const summary = pull.reviews[0]!;
      for (const part of ['## Acceptance criteria', '**AC1**', 'red as required', 'fresh sandbox', 'Review round 1.']) expect(summary.body).toContain(part);
      expect(opened.artifacts.reviewing).toMatchObject({ verdict: 'approve', pullRequest: { number: 1, forge: 'github', url: `https://github.com/${OWNER}/${NAME}/pull/1` } });
      const prs = await createPullRequestStore(env.bus);
      expect(await prs.get(id)).toMatchObject({ forge: 'github', number: 1, summaryReviewId: summary.id, state: 'open' });
      const firstHead = (await git(bare, ['rev-parse', branch])).trim();
      expect(summary.commitId).toBe(firstHead);
      expect((await git(bare, ['log', '--format=%an', `main..${branch}`])).trim().split('\n')).toEqual(['nightshift coder', 'nightshift test-author']);

      // ---- 2. a review sends it back; the fix lands on the same pull request --------------------
      const { review, comments } = fake.submitReview(OWNER, NAME, 1, {
        user: 'octocat',
        state: 'CHANGES_REQUESTED',
        body: 'Nearly: one thing before this goes in.',
        comments: [{ path: 'src/slugify.js', line: 5, body: FEEDBACK }],
      });
      const target = { owner: OWNER, name: NAME, number: 1, branch, headSha: firstHead };
      const payload = retarget(webhookExample('pull_request_review_comment', 'created', (e) => (e.comment as { line?: unknown }).line != null), target);
      payload.comment = { ...(payload.comment as object), ...comments[0] };
      payload.sender = review.user;
      const sent = await delivery(SECRET, 'pull_request_review_comment', payload);
      expect(await post(receiver, sent)).toMatchObject({ status: 202, body: { action: 'pr.changes_requested', ticketId: id } });

      const updated = await prOpen(id, 2);
      const transitions = updated.timeline.filter((e) => e.event === 'transition').map((e) => `${e.from}>${e.to}`);
      expect(transitions.slice(-4)).toEqual(['reviewing>pr_open', 'pr_open>coding', 'coding>reviewing', 'reviewing>pr_open']);
      const back = updated.timeline.find((e) => e.from === 'pr_open' && e.to === 'coding')!;
      expect(back).toMatchObject({ by: 'github:octocat', cause: sent.id });
      expect(back.reason).toContain(FEEDBACK);
      expect(updated.artifacts[PR_FEEDBACK]).toMatchObject({ number: 1, pending: [], rounds: 1, handled: [`review:${String(review.id)}`, `comment:${String(comments[0]!.id)}`] });

      const log3 = (await git(bare, ['log', '--format=%H %an', `main..${branch}`])).trim().split('\n');
      expect(log3.map((l) => l.split(' ').slice(1).join(' '))).toEqual(['nightshift coder', 'nightshift coder', 'nightshift test-author']);
      const newHead = log3[0]!.split(' ')[0]!;
      expect((await git(bare, ['rev-parse', `${branch}~1`])).trim()).toBe(firstHead);
      expect(await git(bare, ['show', `${branch}:src/slugify.js`])).toContain("slugify('') is ''");
      expect(fake.repo(OWNER, NAME).pulls).toHaveLength(1);
      expect(pull.reviews.map((r) => [r.id, r.user])).toEqual([
        [summary.id, 'nightshift-bot'],
        [review.id, 'octocat'],
      ]);
      expect(pull.reviews[0]!.body).toContain('Review round 2.');
      expect(pull.reviews[0]!.body).toContain(newHead.slice(0, 12));
      expect(pull.body).toContain(newHead.slice(0, 12));
      expect(await prs.get(id)).toMatchObject({ number: 1, headSha: newHead, summaryReviewId: summary.id });
      expect(fake.requests.filter((r) => r.operationId === 'pulls/create-review')).toHaveLength(1);

      // ---- 3. merged: done --------------------------------------------------------------------
      fake.merge(OWNER, NAME, 1);
      const closed = retarget(webhookExample('pull_request', 'closed'), { ...target, headSha: newHead });
      closed.pull_request = { ...(closed.pull_request as object), merged: true, merged_at: '2030-01-01T00:00:00Z', merge_commit_sha: 'c'.repeat(40) };
      expect(await post(receiver, await delivery(SECRET, 'pull_request', closed))).toMatchObject({ status: 202, body: { action: 'pr.merged' } });
      const done = await waitFor('done', async () => ((await ticket(id)).state === 'done' ? ticket(id) : undefined));
      expect(done.timeline.at(-1)).toMatchObject({ from: 'pr_open', to: 'done', reason: 'pull request #1 merged' });
      expect(await prs.get(id)).toMatchObject({ state: 'merged' });

      expect(fake.gitRequests.filter((r) => !r.authorized)).toEqual([]);
      expect(fake.violations).toEqual([]);
      expect(mock.failures).toEqual([]);
      expect(mock.unused()).toEqual([]);
    },
    600_000,
  );
});
