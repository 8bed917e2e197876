import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { createDemoRepo, DEMO_SCRIPT, demoTicket } from '../../cli/demo.ts';
import { IntakeReply, PullRequest, Ticket, git } from '../../shared/index.ts';
import { loadMockScript, MockScript, startMockLlm, type MockLlm } from '../../shared/llm/index.ts';
import { runCli } from '../helpers/cli.ts';
import { describeDocker } from '../helpers/docker.ts';
import { setup, type TestEnv } from '../helpers/env.ts';
import { startStack } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';

const ROLES = ['refiner', 'test-author', 'coder', 'reviewer'] as const;

interface ChainRun {
  id: string;
  origin: string;
  ticket: Ticket;
  branchTree: string;
}

/** Runs the whole chain as separate processes: one coordinator and one built-in agent per role. */
async function runChain(env: TestEnv, mock: MockLlm, externalId: string): Promise<ChainRun & AsyncDisposable> {
  const origin = await createDemoRepo(mkdtempSync(join(tmpdir(), 'ns-origin-')));
  const stack = await startStack(env, mock, ROLES);
  const { childEnv, procs } = stack;
  const dispose = () => stack[Symbol.asyncDispose]();
  try {
    const reply = IntakeReply.parse(
      (await env.bus.nc.request(env.bus.subjects.ticketIntake, JSON.stringify({ ...demoTicket(), externalId, repo: { path: origin } }), { timeout: 15_000 })).json(),
    );
    if (!reply.ok) throw new Error(`intake refused: ${reply.error.message}`);
    const shown = await waitFor(
      'the ticket to reach pr_open',
      async () => {
        const r = await runCli(['ticket', 'show', reply.id, '--json'], childEnv);
        const t = Ticket.parse(JSON.parse(r.stdout));
        if (t.state === 'failed' || t.state === 'awaiting_human') {
          throw new Error(`ticket ended ${t.state}: ${JSON.stringify(t.failure ?? t.parked)}\n${procs.map((p) => p.stderr().slice(-3000)).join('\n')}`);
        }
        return t.state === 'pr_open' ? t : undefined;
      },
      { timeoutMs: 240_000, intervalMs: 500 },
    );
    const branchTree = (await git(origin, ['rev-parse', `refs/heads/nightshift/${reply.id}^{tree}`])).trim();
    return { id: reply.id, origin, ticket: shown, branchTree, [Symbol.asyncDispose]: dispose };
  } catch (err) {
    await dispose();
    throw err;
  }
}

describeDocker('the chain, end to end', () => {
  it(
    'turns a ticket into a test-first pull request through separate agent processes, and its transcript replays it',
    async () => {
      const script = await loadMockScript(DEMO_SCRIPT);
      let transcript: MockScript;
      let first: ChainRun;
      {
        await using env = await setup({}, { secure: true });
        await using mock = await startMockLlm({ script });
        await using run = await runChain(env, mock, 'E2E-1');
        first = run;
        const { id, origin, ticket } = run;

        expect(mock.failures).toEqual([]);
        expect(mock.unused()).toEqual([]);
        expect(ticket.timeline.filter((e) => e.event === 'transition').map((e) => e.to)).toEqual([
          'refining',
          'writing_tests',
          'coding',
          'reviewing',
          'pr_open',
        ]);

        const mainSha = (await git(origin, ['rev-parse', 'main'])).trim();
        const log = (await git(origin, ['log', '--reverse', '--format=%H %an', `main..nightshift/${id}`])).trim().split('\n');
        expect(log.map((l) => l.split(' ').slice(1).join(' '))).toEqual(['nightshift test-author', 'nightshift coder']);
        const [testsSha, codeSha] = log.map((l) => l.split(' ')[0]!);
        const files = async (sha: string) => (await git(origin, ['diff-tree', '--no-commit-id', '--name-only', '-r', sha])).trim().split('\n');
        expect(await files(testsSha!)).toEqual(['test/slugify-max-length.test.js']);
        expect(await files(codeSha!)).toEqual(['src/slugify.js']);
        expect((await git(origin, ['rev-parse', 'main'])).trim()).toBe(mainSha);

        const artifacts = ticket.artifacts as Record<string, Record<string, unknown>>;
        expect(artifacts.writing_tests).toMatchObject({ commit: testsSha, baseline: { passed: true }, red: { passed: false, exitCode: 1 } });
        expect(artifacts.coding).toMatchObject({ commit: codeSha, green: { passed: true, exitCode: 0 } });
        expect(artifacts.reviewing).toMatchObject({ verdict: 'approve', fresh: { passed: true }, pullRequest: { number: 1, forge: 'local' } });
        expect(Object.keys(ticket.usage).sort()).toEqual(['coder', 'refiner', 'reviewer', 'test-author']);
        expect(ticket.usage.refiner).toMatchObject({ inputTokens: 612 + 731, outputTokens: 24 + 210, calls: 2 });

        const pr = await runCli(['pr', 'show', id, '--json'], env.childEnv);
        expect(pr.code).toBe(0);
        const shown = JSON.parse(pr.stdout) as { pr: unknown; diff: string };
        const parsed = PullRequest.parse(shown.pr);
        expect(parsed).toMatchObject({ ticketId: id, branch: `nightshift/${id}`, base: 'main', headSha: codeSha, state: 'open' });
        for (const part of ['## Acceptance criteria', '**AC1**', '| `test/slugify-max-length.test.js › cuts the slug at maxLength` | ❌ failed | ✅ passed |', 'red as required', 'fresh sandbox', '## Cost']) {
          expect(parsed.body).toContain(part);
        }
        expect(shown.diff).toContain('+export function slugify(text, { maxLength = Infinity } = {}) {');

        const exported = await runCli(['ticket', 'transcript', id, '--json'], env.childEnv);
        expect(exported.code, exported.stderr + exported.stdout).toBe(0);
        transcript = MockScript.parse(JSON.parse(exported.stdout));
        expect(Object.fromEntries(Object.entries(transcript.roles).map(([r, e]) => [r, e.length]))).toEqual({
          refiner: 2,
          'test-author': 2,
          coder: 1,
          reviewer: 1,
        });
      }

      // The exported transcript, served by a fresh mock-llm, drives a fresh stack to the same result.
      await using env = await setup({}, { secure: true });
      await using replayMock = await startMockLlm({ script: transcript });
      await using replay = await runChain(env, replayMock, 'E2E-REPLAY');
      expect(replayMock.failures).toEqual([]);
      expect(replayMock.unused()).toEqual([]);
      expect(replay.ticket.state).toBe('pr_open');
      expect(replay.branchTree).toBe(first.branchTree);
    },
    600_000,
  );
});
