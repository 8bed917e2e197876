import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { createDemoRepo } from '../../cli/demo.ts';
import { git, IntakeReply, Ticket, ticketIdForExternalId } from '../../shared/index.ts';
import { startMockLlm, type MockScriptInput } from '../../shared/llm/index.ts';
import { runCli } from '../helpers/cli.ts';
import { describeDocker } from '../helpers/docker.ts';
import { setup } from '../helpers/env.ts';
import { startStack, type Stack } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';

async function show(stack: Stack, id: string): Promise<Ticket & { duplicates: string[] }> {
  const r = await runCli(['ticket', 'show', id, '--json'], stack.childEnv);
  expect(r.code, r.stderr).toBe(0);
  const raw = JSON.parse(r.stdout) as { duplicates: string[] };
  return { ...Ticket.parse(raw), duplicates: raw.duplicates };
}

/** Waits until the ticket is in `state`; a ticket that fails or rests elsewhere fails the test at once, with the agents' logs. */
function waitState(stack: Stack, id: string, state: Ticket['state'], timeoutMs = 120_000): Promise<Ticket & { duplicates: string[] }> {
  const resting = ['awaiting_human', 'pr_open', 'done', 'failed', 'cancelled', 'duplicate'];
  return waitFor(
    `ticket ${id} to reach ${state}`,
    async () => {
      const t = await show(stack, id);
      if (t.state !== state && resting.includes(t.state)) {
        throw new Error(`ticket ${id} ended ${t.state}: ${JSON.stringify(t.failure ?? t.parked)}\n${stack.procs.map((p) => p.stderr().slice(-3000)).join('\n')}`);
      }
      return t.state === state ? t : undefined;
    },
    { timeoutMs, intervalMs: 300 },
  );
}

async function report(stack: Stack, args: string[]): Promise<string> {
  const r = await runCli(['bug', 'report', ...args, '--json'], stack.childEnv);
  expect(r.code, r.stderr + r.stdout).toBe(0);
  const reply = IntakeReply.parse(JSON.parse(r.stdout));
  if (!reply.ok) throw new Error(`bug report refused: ${reply.error.message}`);
  return reply.id;
}

const answer = (args: Record<string, unknown>) => ({ toolCalls: [{ name: 'answer', arguments: args }] });

const ACCENTS_ID = ticketIdForExternalId('BUG-ACCENTS');

const REPRO_TEST = `import { test } from 'node:test';
import assert from 'node:assert/strict';
import { slugify } from '../src/slugify.js';

test('folds accented letters to their base letter', () => {
  assert.equal(slugify('Crème Brûlée'), 'creme-brulee');
});

test('keeps accented words whole', () => {
  assert.equal(slugify('Café au lait'), 'cafe-au-lait');
});
`;

const FIXED = `/** Turns text into a URL slug: lower case, accents folded, words joined by dashes, punctuation dropped. */
export function slugify(text) {
  return text
    .normalize('NFKD')
    .replace(/[\\u0300-\\u036f]/g, '')
    .toLowerCase()
    .trim()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
}
`;

/** The model's side of the full run: three reports triaged, then the accepted one through tests, code and review. */
function chainScript(): MockScriptInput {
  const coverage = [
    { criterion: 'AC1', tests: ['folds accented letters to their base letter'] },
    { criterion: 'AC2', tests: ['keeps accented words whole'] },
    { criterion: 'AC3', tests: ['lowercases and joins words with dashes'] },
  ];
  return {
    version: 1,
    description: 'triage: an accepted bug to a pull request, its duplicate, and a report that lacks information',
    roles: {
      triager: [
        {
          toolCalls: [{ name: 'read_file', arguments: { path: 'src/slugify.js' } }],
          expect: { contains: ['cr-me-br-l-e', 'No open ticket of this repository looks similar'], tools: ['read_file', 'answer'] },
        },
        {
          ...answer({
            classification: 'bug',
            severity: 'medium',
            component: 'slugify',
            reason: 'src/slugify.js replaces every character outside a-z0-9, accented letters included, instead of folding them.',
            duplicateOf: null,
            questions: [],
            spec: {
              summary: 'slugify folds accented letters to their base letter instead of replacing them with dashes.',
              acceptanceCriteria: [
                { id: 'AC1', text: "slugify('Crème Brûlée') returns 'creme-brulee' (the reported case)" },
                { id: 'AC2', text: 'words with accents stay whole' },
                { id: 'AC3', text: 'slugs of unaccented text are unchanged' },
              ],
              plan: ['Normalise to NFKD and drop combining marks before replacing other characters'],
              affectedFiles: ['src/slugify.js'],
              openQuestions: [],
            },
          }),
          expect: { contains: ['export function slugify'] },
        },
        {
          ...answer({
            classification: 'bug',
            severity: 'medium',
            component: 'slugify',
            reason: 'Same fault as the accented letters report: diacritics are replaced instead of folded.',
            duplicateOf: ACCENTS_ID,
            questions: [],
            spec: null,
          }),
          // The lexical method found the first report although the words differ.
          expect: { contains: [`${ACCENTS_ID} [`, 'Accented characters'] },
        },
        {
          ...answer({
            classification: 'needs_info',
            severity: 'low',
            component: 'slugify',
            reason: 'The report names no input and no wrong output.',
            duplicateOf: null,
            questions: ['Which text did you pass to slugify, what did it return, and what did you expect?'],
            spec: null,
          }),
          expect: { contains: ['Reported by: slack:U0REPORTER'] },
        },
      ],
      'test-author': [
        {
          ...answer({ files: [{ path: 'test/slugify-accents.test.js', content: REPRO_TEST }], changedExisting: [], coverage }),
          expect: { contains: ['This is a bug', 'Actual:', 'cr-me-br-l-e', 'AC1'] },
        },
      ],
      coder: [
        {
          ...answer({ files: [{ path: 'src/slugify.js', content: FIXED }], notes: 'Fold accents with NFKD before dropping other characters.' }),
          expect: { contains: ['folds accented letters'] },
        },
      ],
      reviewer: [
        answer({
          verdict: 'approve',
          comments: [],
          coverage,
          summary: 'slugify now folds accented letters (NFKD, combining marks dropped) instead of turning them into dashes. The reproduction test failed on the old code and passes now.',
        }),
      ],
    },
  };
}

describeDocker('triage, end to end', () => {
  it(
    'takes an accepted bug to a pull request whose first commit is its red reproduction test, links a duplicate in other words to it, and asks the reporter of a thin report',
    async () => {
      await using env = await setup({}, { secure: true });
      await using mock = await startMockLlm({ script: chainScript() });
      await using stack = await startStack(env, mock, ['triager', 'test-author', 'coder', 'reviewer']);
      const origin = await createDemoRepo(mkdtempSync(join(tmpdir(), 'ns-origin-')));

      const accents = await report(stack, [
        '--title', 'slugify mangles accented letters',
        '--description', 'Titles with accents come out broken.',
        '--repo', origin,
        '--steps', "slugify('Crème Brûlée')",
        '--expected', 'creme-brulee',
        '--actual', 'cr-me-br-l-e',
        '--reporter', 'grace@acme.example',
        '--external-id', 'BUG-ACCENTS',
      ]);
      expect(accents).toBe(ACCENTS_ID);
      await waitFor('the first report to leave triage', async () => ((await show(stack, accents)).state === 'triaging' ? undefined : true), { timeoutMs: 120_000, intervalMs: 300 });

      const diacritics = await report(stack, [
        '--title', 'Accented characters turn into dashes in slugs',
        '--description', "slugify('Déjà vu') returns 'd-j-vu': letters with accents should stay, as plain letters.",
        '--repo', origin,
        '--reporter', 'github:octocat',
      ]);
      const dup = await waitState(stack, diacritics, 'duplicate');
      expect(dup.duplicateOf).toBe(accents);
      const dupTriage = (dup.artifacts.triaging as { triage: { method: string; similar: { id: string; score: number }[] } }).triage;
      expect(dupTriage.method).toBe('lexical');
      expect(dupTriage.similar.map((s) => s.id)).toContain(accents);

      const thin = await report(stack, ['--title', 'slugify is broken', '--description', 'It does not work for some titles.', '--repo', origin, '--reporter', 'slack:U0REPORTER']);
      const parked = await waitState(stack, thin, 'awaiting_human');
      expect(parked.parked).toMatchObject({ from: 'triaging', questions: [{ to: 'slack:U0REPORTER', text: expect.stringContaining('Which text') }] });
      const shownThin = await runCli(['ticket', 'show', thin], stack.childEnv);
      expect(shownThin.stdout).toContain('? (for slack:U0REPORTER) Which text');
      expect(shownThin.stdout).toContain('triage: needs info · severity low · component slugify');

      const pr = await waitState(stack, accents, 'pr_open', 240_000);
      expect(pr.timeline.filter((e) => e.event === 'transition').map((e) => e.to)).toEqual(['triaging', 'writing_tests', 'coding', 'reviewing', 'pr_open']);
      expect(pr.duplicates).toEqual([diacritics]);
      expect(pr.report).toEqual({ steps: "slugify('Crème Brûlée')", expected: 'creme-brulee', actual: 'cr-me-br-l-e' });

      // The branch's first commit is the reproduction test alone, proven red on the unchanged code; the fix comes after.
      const log = (await git(origin, ['log', '--reverse', '--format=%H %an', `main..nightshift/${accents}`])).trim().split('\n');
      expect(log.map((l) => l.split(' ').slice(1).join(' '))).toEqual(['nightshift test-author', 'nightshift coder']);
      const [testsSha, codeSha] = log.map((l) => l.split(' ')[0]!);
      const files = async (sha: string) => (await git(origin, ['diff-tree', '--no-commit-id', '--name-only', '-r', sha])).trim().split('\n');
      expect(await files(testsSha!)).toEqual(['test/slugify-accents.test.js']);
      expect(await files(codeSha!)).toEqual(['src/slugify.js']);
      const artifacts = pr.artifacts as Record<string, Record<string, unknown>>;
      expect(artifacts.writing_tests).toMatchObject({ commit: testsSha, baseline: { passed: true }, red: { passed: false } });
      expect(String((artifacts.writing_tests!.red as { output: string }).output)).toContain('creme-brulee');
      expect(artifacts.coding).toMatchObject({ commit: codeSha, green: { passed: true } });
      expect(artifacts.triaging).toMatchObject({ triage: { classification: 'bug', severity: 'medium', component: 'slugify', method: 'lexical' } });

      const shownPr = await runCli(['pr', 'show', accents, '--json'], stack.childEnv);
      expect(shownPr.code, shownPr.stderr).toBe(0);
      const body = (JSON.parse(shownPr.stdout) as { pr: { body: string } }).pr.body;
      expect(body).toContain('Bug (reported by grace@acme.example, severity medium, component `slugify`): the first commit reproduces it');
      expect(body).toContain("**AC1** slugify('Crème Brûlée') returns 'creme-brulee' (the reported case)");
      expect(body).toContain('red as required');

      const listed = await runCli(['ticket', 'list', '--json'], stack.childEnv);
      const list = JSON.parse(listed.stdout) as { triage: Record<string, number>; tickets: { id: string; duplicateOf?: string; triage?: unknown }[] };
      expect(list.triage).toEqual({ bug: 1, not_bug: 0, needs_info: 1, duplicate: 1, pending: 0 });
      expect(list.tickets.find((t) => t.id === diacritics)).toMatchObject({ duplicateOf: accents, triage: { classification: 'bug' } });
      const table = await runCli(['ticket', 'list'], stack.childEnv);
      expect(table.stdout).toContain(`dup of ${accents}`);
      expect(table.stdout).toContain('bug medium · slugify');

      expect(mock.failures).toEqual([]);
      expect(mock.unused()).toEqual([]);
    },
    420_000,
  );
});
