import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TicketStore } from '../../bus/index.ts';
import { createDemoRepo } from '../../cli/demo.ts';
import { IntakeReply, Ticket } from '../../shared/index.ts';
import { startMockLlm, type MockScriptInput, type ScriptEntryInput } from '../../shared/llm/index.ts';
import { runCli } from '../helpers/cli.ts';
import { setup } from '../helpers/env.ts';
import { startStack, type Stack } from '../helpers/stack.ts';
import { ticketWhen } from '../helpers/tickets.ts';

/*
 * Humans instead of failures (issue 12): a model stuck repeating itself, or a ticket over its token
 * budget, parks the ticket with a question instead of failing it, and the answer resumes the stage in
 * the agent that is already running. Separate processes (a coordinator and the triager, which needs
 * no sandbox) on a private nats-server, the real model client against mock-llm, the real CLI.
 */

const SPEC = {
  summary: 'slugify folds accents',
  acceptanceCriteria: [{ id: 'AC1', text: "slugify('Crème') returns 'creme'" }],
  plan: ['fold accents'],
  affectedFiles: ['src/slugify.js'],
  openQuestions: [],
};
const accepted = (extra: Partial<ScriptEntryInput> = {}): ScriptEntryInput => ({
  toolCalls: [
    {
      name: 'answer',
      arguments: { classification: 'bug', severity: 'medium', component: 'slugify', reason: 'read src/slugify.js', duplicateOf: null, questions: [], spec: SPEC },
    },
  ],
  ...extra,
});
const readSource = (usage?: { prompt_tokens: number; completion_tokens: number }): ScriptEntryInput => ({
  toolCalls: [{ name: 'read_file', arguments: { path: 'src/slugify.js' } }],
  ...(usage && { usage }),
});

async function reportBug(stack: Stack, origin: string, title: string): Promise<string> {
  const r = await runCli(['bug', 'report', '--title', title, '--description', 'Accented letters turn into dashes.', '--repo', origin, '--json'], stack.childEnv);
  expect(r.code, r.stderr + r.stdout).toBe(0);
  const reply = IntakeReply.parse(JSON.parse(r.stdout));
  if (!reply.ok) throw new Error(`bug report refused: ${reply.error.message}`);
  return reply.id;
}

/** The stack's processes are the ones it started, each started once and still running. */
function expectSameProcesses(stack: Stack, pids: readonly number[]): void {
  expect(stack.procs.map((p) => p.pid)).toEqual(pids);
  for (const p of stack.procs) {
    expect(p.proc.exitCode).toBeNull();
    expect(p.logs().filter((l) => l.msg === 'agent started' || l.msg === 'coordinator started')).toHaveLength(1);
  }
}

const MINUTE = 60_000;

describe('humans instead of failures', () => {
  it(
    'parks a model that repeats one tool call with a question naming the call, and the answer resumes the stage, which completes',
    async () => {
      await using env = await setup({}, { secure: true });
      const script: MockScriptInput = {
        version: 1,
        roles: {
          triager: [
            readSource(),
            readSource(),
            readSource(),
            accepted({ expect: { contains: ['Answers from humans:', 'ana: src/slugify.js is all there is; classify the report now'] } }),
          ],
        },
      };
      await using mock = await startMockLlm({ script });
      await using stack = await startStack(env, mock, ['triager']);
      const pids = stack.procs.map((p) => p.pid);
      const store = new TicketStore(await env.bus.tickets());
      const origin = await createDemoRepo(mkdtempSync(join(tmpdir(), 'ns-origin-')));

      const id = await reportBug(stack, origin, 'slugify mangles accents');
      const parked = await ticketWhen(store, id, 'the ticket to park', (t) => t.state !== 'triaging' && t.state !== 'received', 2 * MINUTE);
      expect(parked.state, JSON.stringify(parked.failure)).toBe('awaiting_human');
      expect(parked.failure).toBeNull();
      expect(parked.parked).toMatchObject({ from: 'triaging', questions: [{ id: 'model-loop', blocking: true }] });
      const text = parked.parked!.questions[0]!.text;
      expect(text).toContain('kept repeating itself during triaging');
      expect(text).toContain('it called read_file 3 times with the same arguments {"path":"src/slugify.js"}');
      expect(parked.usage.triager?.calls).toBe(3);

      const shown = await runCli(['ticket', 'show', id], stack.childEnv);
      expect(shown.stdout).toContain('read_file 3 times');

      const answered = await runCli(['answer', id, 'src/slugify.js is all there is; classify the report now', '--by', 'ana', '--json'], stack.childEnv);
      expect(answered.code, answered.stderr + answered.stdout).toBe(0);
      const resumed = await ticketWhen(store, id, 'triage to complete after the answer', (t) => t.state === 'writing_tests', 2 * MINUTE);
      expect(resumed.artifacts.triaging).toMatchObject({ triage: { classification: 'bug' }, spec: SPEC });
      expect(resumed.timeline.filter((e) => e.event === 'transition').map((e) => e.to)).toEqual(['triaging', 'awaiting_human', 'triaging', 'writing_tests']);
      expect(resumed.usage.triager?.calls).toBe(4);

      expectSameProcesses(stack, pids);
      expect(mock.failures).toEqual([]);
      expect(mock.unused()).toEqual([]);
    },
    5 * MINUTE,
  );

  it(
    "escalates a ticket over its budget, and `answer --budget` raises that ticket's budget: the running agent resumes and completes the stage",
    async () => {
      await using env = await setup({}, { secure: true });
      const script: MockScriptInput = {
        version: 1,
        roles: { triager: [readSource({ prompt_tokens: 900, completion_tokens: 200 }), accepted({ usage: { prompt_tokens: 1_500, completion_tokens: 100 } })] },
      };
      await using mock = await startMockLlm({ script });
      await using stack = await startStack(env, mock, ['triager'], { NIGHTSHIFT_TOKEN_BUDGET: '1000' });
      const pids = stack.procs.map((p) => p.pid);
      const store = new TicketStore(await env.bus.tickets());
      const origin = await createDemoRepo(mkdtempSync(join(tmpdir(), 'ns-origin-')));

      const id = await reportBug(stack, origin, 'slugify mangles accents');
      const parked = await ticketWhen(store, id, 'the ticket to park', (t) => t.state !== 'triaging' && t.state !== 'received', 2 * MINUTE);
      expect(parked.state, JSON.stringify(parked.failure)).toBe('awaiting_human');
      expect(parked.parked!.questions).toEqual([{ id: 'token-budget', text: expect.any(String), options: ['resume', 'cancel'], blocking: true }]);
      const text = parked.parked!.questions[0]!.text;
      expect(text).toContain(`Ticket ${id} has used 1100 of its 1000 tokens during triaging`);
      for (const way of [`nightshift answer ${id} --budget 2000`, 'budget: 2000', '/nightshift budget 2000']) expect(text).toContain(way);
      expect(parked.usage.triager?.totalTokens).toBe(1_100);

      // Bad budgets are refused with exit code 2 and change nothing.
      for (const bad of ['lots', '0', '-1', '1.5', '1e6', '1000000001']) {
        const r = await runCli(['answer', id, 'go on', `--budget=${bad}`, '--json'], stack.childEnv);
        expect(r.code, `--budget=${bad}: ${r.stdout}${r.stderr}`).toBe(2);
        expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, error: { code: 'invalid_budget', issues: [{ path: 'budget' }] } });
      }
      const low = await runCli(['answer', id, 'go on', '--budget', '1100'], stack.childEnv);
      expect(low.code).toBe(2);
      expect(low.stderr).toContain('--budget: budget 1100 is not above the 1100 tokens the ticket has used already');
      const noText = await runCli(['answer', id], stack.childEnv);
      expect(noText.code).toBe(2);
      const still = Ticket.parse((await store.get(id))!.ticket);
      expect(still).toMatchObject({ state: 'awaiting_human', answers: [] });
      expect(still.budget).toBeUndefined();
      expect(still.timeline.at(-1)).toEqual(parked.timeline.at(-1));

      const answered = await runCli(['answer', id, '--budget', '600,000', '--by', 'ana'], stack.childEnv);
      expect(answered.code, answered.stderr + answered.stdout).toBe(0);
      expect(answered.stdout).toContain(`${id} answered (token budget 600000)`);
      const done = await ticketWhen(store, id, 'triage to complete on the raised budget', (t) => t.state === 'writing_tests' || t.state === 'failed' || (t.state === 'awaiting_human' && t.answers.length > 0), 2 * MINUTE);
      expect(done.state, JSON.stringify(done.parked ?? done.failure)).toBe('writing_tests');
      expect(done.budget).toBe(600_000);
      expect(done.answers).toEqual([{ text: 'Raised the token budget to 600000 tokens: go on.', by: 'ana', at: expect.any(String) }]);
      expect(done.timeline.find((e) => e.event === 'answered')).toMatchObject({ by: 'ana', reason: 'token budget set to 600000 (was the default)' });
      // 2,700 tokens in all: far past NIGHTSHIFT_TOKEN_BUDGET, within the ticket's own budget.
      expect(done.usage.triager).toMatchObject({ totalTokens: 2_700, calls: 2 });
      expect(done.artifacts.triaging).toMatchObject({ spec: SPEC });

      const shown = await runCli(['ticket', 'show', id], stack.childEnv);
      expect(shown.stdout).toContain("tokens 2700 used of this ticket's budget of 600000");

      expectSameProcesses(stack, pids);
      expect(mock.failures).toEqual([]);
      expect(mock.unused()).toEqual([]);
    },
    5 * MINUTE,
  );
});
