import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createTestAuthor } from '../../agents/test-author/handler.ts';
import type { WritingTestsOutput } from '../../bus/index.ts';
import { git } from '../../shared/index.ts';
import {
  advanced,
  answer,
  branchCommits,
  branchExists,
  branchOf,
  callsOf,
  expectScriptUsed,
  run,
  told,
  tool,
  workItem,
  workspaceFiles,
} from '../helpers/agents.ts';
import { GOOD_TESTS, goodTestContent, guardWorld, MINUTES, ORIGINAL_SOURCE, TEST_FILE, testPlan, type GuardSandbox } from './kit.ts';

/*
 * The guards of the test author (issue 3, "Tests show each guard working"), run on the fake sandbox
 * (agents/test-author/guards.test.ts) and on Docker (agents/test-author/guards.int.test.ts); test/guards/kit.ts says how.
 */

/** Tests that pass on the unchanged code: they pin what exists already. */
const PASSING_TESTS = `import { test } from 'node:test';
import assert from 'node:assert/strict';
import { slugify } from '../src/slugify.js';

test('still lowercases', () => {
  assert.equal(slugify('Hello World'), 'hello-world');
});
`;

export function testAuthorGuards(on: GuardSandbox): void {
  describe(`the guards of the test author (in-process handler, ${on.name}, mock-llm)`, () => {
    const world = guardWorld(on);

    it(
      'sends back a test author whose tests already pass on the unchanged code, then commits its failing tests alone',
      async () => {
        await using w = await world({
          'test-author': [answer(testPlan([{ path: 'test/slugify-pinned.test.js', content: PASSING_TESTS }])), answer(GOOD_TESTS)],
        });
        const mainBefore = (await git(w.origin, ['rev-parse', 'main'])).trim();

        const { outcome } = await run(w, createTestAuthor, 'test-author', workItem(w, 'test-author'));

        const out = advanced<WritingTestsOutput>(outcome);
        expect(out).toMatchObject({ files: [TEST_FILE], attempts: 2, baseline: { passed: true, exitCode: 0 }, red: { passed: false, exitCode: 1 } });
        expect(out.red.output).toContain('cuts the slug at maxLength');

        const calls = callsOf(w, 'test-author');
        expect(calls).toHaveLength(2);
        expect(told(calls[0])).not.toContain('rejected');
        expect(told(calls[1])).toContain('Your previous attempt was rejected');
        expect(told(calls[1])).toContain('PASS on the unchanged code');
        expect(told(calls[1])).toContain('still lowercases');

        const commits = await branchCommits(w.origin, w.ticketId);
        expect(commits).toEqual([{ sha: out.commit, author: 'nightshift test-author', files: [TEST_FILE] }]);
        expect(await git(w.origin, ['show', `${out.commit}:${TEST_FILE}`])).toBe(goodTestContent);
        expect(await git(w.origin, ['log', '-1', '--format=%(trailers:key=Nightshift-Stage,valueonly)', out.commit])).toContain('writing_tests');
        expect((await git(w.origin, ['rev-parse', 'main'])).trim()).toBe(mainBefore);
        expectScriptUsed(w);

        // Delivered again after the push (a crash before the ack): the same commit is proven red again
        // without asking the model, and what the tests cover comes back from the commit.
        const again = advanced<WritingTestsOutput>((await run(w, createTestAuthor, 'test-author', workItem(w, 'test-author'))).outcome);
        expect(again).toMatchObject({ commit: out.commit, files: [TEST_FILE], coverage: out.coverage, changedExisting: out.changedExisting, red: { passed: false } });
        expect(out.coverage.length).toBeGreaterThan(0);
        expect(callsOf(w, 'test-author')).toHaveLength(2);
      },
      5 * MINUTES,
    );

    it(
      'refuses a test author writing a non-test file before anything is written, and escalates when out of attempts',
      async () => {
        await using w = await world(
          {
            'test-author': [
              answer(
                testPlan([
                  { path: TEST_FILE, content: goodTestContent },
                  { path: 'src/slugify.js', content: 'export function slugify() { return "cheat"; }\n' },
                ]),
              ),
            ],
          },
          { NIGHTSHIFT_TEST_AUTHOR_ATTEMPTS: '1' },
        );
        const atRefusal: Record<string, string | null>[][] = [];
        w.sink.on('tests sent back to the model', () => atRefusal.push(workspaceFiles(w, w.ticketId, [TEST_FILE, 'src/slugify.js'])));

        const { outcome } = await run(w, createTestAuthor, 'test-author', workItem(w, 'test-author'));

        expect(outcome.kind).toBe('escalate');
        if (outcome.kind !== 'escalate') return;
        expect(outcome.questions).toHaveLength(1);
        expect(outcome.questions[0]).toMatchObject({ id: 'tests-not-red', blocking: true });
        // The refusal names the file, the patterns in force and the key that changes them, not the criteria.
        expect(outcome.questions[0]!.text).toContain('src/slugify.js: not a test file under the patterns in force (**/*.test.*, ');
        expect(outcome.questions[0]!.text).toContain('set test_files in .nightshift.yml on the base branch, then answer to resume');
        expect(outcome.questions[0]!.text).not.toContain('acceptance criteria');
        // Refused before writing: at the refusal, neither file had been written (not even the test file)…
        expect(atRefusal).toEqual([[{ [TEST_FILE]: null, 'src/slugify.js': ORIGINAL_SOURCE }]]);
        // …and after the baseline, nothing ran in the sandbox (no parse check, no red run).
        expect(w.sandbox.runs.map((r) => r.command)).toEqual(['npm test']);
        expect(w.sandbox.runs[0]!.result.exitCode).toBe(0);
        const warned = w.sink.lines.find((l) => l.msg === 'tests sent back to the model');
        expect(String(warned?.reason)).toMatch(/^refused: src\/slugify\.js: not a test file/);
        // Nothing was pushed, and the base branch is as it was.
        expect(await branchExists(w.origin, branchOf(w.ticketId))).toBe(false);
        expect((await git(w.origin, ['log', '--format=%an', 'main'])).trim()).toBe('nightshift demo');
        expect(callsOf(w, 'test-author')).toHaveLength(1);
        expectScriptUsed(w);
      },
      5 * MINUTES,
    );

    it(
      'sends back a test author whose test file does not parse',
      async () => {
        const broken = `import { test } from 'node:test';\nimport assert from 'node:assert/strict';\n\ntest('half a test', () => {\n  assert.equal(1,\n`;
        await using w = await world({
          'test-author': [answer(testPlan([{ path: TEST_FILE, content: broken }])), answer(GOOD_TESTS)],
        });

        const { outcome } = await run(w, createTestAuthor, 'test-author', workItem(w, 'test-author'));

        const out = advanced<WritingTestsOutput>(outcome);
        expect(out).toMatchObject({ attempts: 2, files: [TEST_FILE], red: { passed: false } });
        const second = told(callsOf(w, 'test-author')[1]);
        expect(second).toContain('do not parse');
        expect(second).toContain(TEST_FILE);
        expect(second).toContain('SyntaxError');
        // The broken file never reached the suite: the red runs are the baseline and the good tests' run.
        expect(w.sandbox.runs.filter((r) => r.command === 'npm test')).toHaveLength(2);
        const commits = await branchCommits(w.origin, w.ticketId);
        expect(commits.map((c) => c.author)).toEqual(['nightshift test-author']);
        expect(await git(w.origin, ['show', `${branchOf(w.ticketId)}:${TEST_FILE}`])).toBe(goodTestContent);
        expectScriptUsed(w);
      },
      5 * MINUTES,
    );

    it(
      'refuses paths outside the workspace, in answers and in tool calls, with a clear reason, writing nothing outside',
      async () => {
        const passwd = readFileSync('/etc/passwd');
        const sentinel = join(tmpdir(), `ns-guards-outside-${randomUUID()}.js`);
        await using w = await world({
          'test-author': [
            tool('read_file', { path: '../../../../etc/passwd' }),
            answer(
              testPlan([
                { path: TEST_FILE, content: goodTestContent },
                { path: '../outside.js', content: 'escaped\n' },
                { path: '/etc/passwd', content: 'escaped\n' },
                { path: sentinel, content: 'escaped\n' },
              ]),
            ),
            answer(GOOD_TESTS),
          ],
        });
        try {
          const { outcome } = await run(w, createTestAuthor, 'test-author', workItem(w, 'test-author'));

          const out = advanced<WritingTestsOutput>(outcome);
          expect(out).toMatchObject({ attempts: 2, files: [TEST_FILE] });
          const calls = callsOf(w, 'test-author');
          expect(calls).toHaveLength(3);
          // The tool call was refused and the model told so.
          expect(told(calls[1])).toMatch(/^refused: .*outside the workspace/);
          expect(told(calls[1])).not.toContain('root:');
          // The answer was refused as a whole, with a reason per path.
          const feedback = told(calls[2]);
          expect(feedback).toContain('../outside.js: outside the workspace');
          expect(feedback).toContain('/etc/passwd: absolute paths are refused');
          expect(feedback).toContain(`${sentinel}: absolute paths are refused`);
          // Nothing outside was written.
          expect(existsSync(join(w.workspaces, 'outside.js'))).toBe(false);
          // The work tree's parent holds the git directory: `../` from the tree must not land there either.
          for (const d of readdirSync(w.workspaces)) expect(existsSync(join(w.workspaces, d, 'outside.js'))).toBe(false);
          expect(existsSync(join(w.dir, 'outside.js'))).toBe(false);
          expect(existsSync(sentinel)).toBe(false);
          expect(readFileSync('/etc/passwd').equals(passwd)).toBe(true);
          expect((await branchCommits(w.origin, w.ticketId)).map((c) => c.files)).toEqual([[TEST_FILE]]);
          expectScriptUsed(w);
        } finally {
          if (!readFileSync('/etc/passwd').equals(passwd)) writeFileSync('/etc/passwd', passwd);
          rmSync(sentinel, { force: true });
        }
      },
      5 * MINUTES,
    );

    it(
      'escalates with the token-budget question before the first model call when the ticket spent its budget in earlier stages',
      async () => {
        await using w = await world({}, { NIGHTSHIFT_TOKEN_BUDGET: '1000' });

        // A ticket that spent its budget in earlier stages: the test author makes no model call at all.
        const spent = { refiner: { inputTokens: 900, outputTokens: 200, totalTokens: 1100, calls: 2 } };
        const authored = await run(w, createTestAuthor, 'test-author', workItem(w, 'test-author', { usage: spent }));
        expect(authored.outcome.kind).toBe('escalate');
        if (authored.outcome.kind !== 'escalate') return;
        expect(authored.outcome.questions[0]).toMatchObject({ id: 'token-budget' });
        expect(authored.outcome.questions[0]!.text).toContain('used 1100 of its 1000 tokens during writing_tests');
        expect(authored.usage).toEqual([{ inputTokens: 0, outputTokens: 0, totalTokens: 0, calls: 0 }]);
        expect(callsOf(w, 'test-author')).toEqual([]);
        expect(await branchExists(w.origin, branchOf(w.ticketId))).toBe(false);
        expectScriptUsed(w);
      },
      5 * MINUTES,
    );

    it(
      'keeps the host secrets out of the sandbox: a test printing process.env shows none in the red run',
      async () => {
        const SECRET = `sk-secret-${randomUUID()}`;
        const MARKER = `host-only-${randomUUID()}`;
        const saved = { key: process.env.OPENAI_API_KEY, marker: process.env.NIGHTSHIFT_GUARDS_HOST_MARKER };
        process.env.OPENAI_API_KEY = SECRET;
        process.env.NIGHTSHIFT_GUARDS_HOST_MARKER = MARKER;
        try {
          const dumping = `import { test } from 'node:test';
import assert from 'node:assert/strict';
import { slugify } from '../src/slugify.js';

console.log('ENV-DUMP ' + JSON.stringify(process.env));

test('cuts the slug at maxLength', () => {
  assert.equal(slugify('Hello big world', { maxLength: 9 }), 'hello-big');
});
`;
          const plan = { ...testPlan([{ path: TEST_FILE, content: dumping }]), coverage: [{ criterion: 'AC1', tests: ['cuts the slug at maxLength'] }] };
          await using w = await world({ 'test-author': [answer(plan)] }, { OPENAI_API_KEY: SECRET });
          expect(w.deps.config.OPENAI_API_KEY).toBe(SECRET);

          const { outcome } = await run(w, createTestAuthor, 'test-author', workItem(w, 'test-author'));

          const out = advanced<WritingTestsOutput>(outcome);
          expect(out.red).toMatchObject({ passed: false, exitCode: 1 });
          const line = out.red.output.split('\n').find((l) => l.startsWith('ENV-DUMP '));
          expect(line, out.red.output).toBeDefined();
          const env = JSON.parse(line!.slice('ENV-DUMP '.length)) as Record<string, string>;
          expect(env.HOME).toMatch(on.home);
          expect(Object.keys(env)).not.toContain('OPENAI_API_KEY');
          expect(Object.keys(env)).not.toContain('NIGHTSHIFT_GUARDS_HOST_MARKER');
          // Only where the runners write their per-test reports, which is no secret.
          expect(Object.keys(env).filter((k) => /^(OPENAI|NIGHTSHIFT|NATS)_/.test(k))).toEqual(['NIGHTSHIFT_RESULTS_DIR']);
          for (const text of [out.red.output, out.baseline.output, ...w.sandbox.runs.flatMap((r) => [r.result.stdout, r.result.stderr])]) {
            expect(text).not.toContain(SECRET);
            expect(text).not.toContain(MARKER);
          }
          // What the sandbox was given: only the repository's own environment.
          for (const r of w.sandbox.runs) expect(JSON.stringify(r.env)).not.toContain(SECRET);
          // Nor did the secret reach the prompts or the recorded transcript.
          expect(JSON.stringify(w.mock.server.calls.map((c) => c.request))).not.toContain(SECRET);
          expect(JSON.stringify(w.transcript.exchanges)).not.toContain(SECRET);
          expect(w.transcript.exchanges.length).toBeGreaterThan(0);
          expectScriptUsed(w);
        } finally {
          if (saved.key === undefined) delete process.env.OPENAI_API_KEY;
          else process.env.OPENAI_API_KEY = saved.key;
          if (saved.marker === undefined) delete process.env.NIGHTSHIFT_GUARDS_HOST_MARKER;
          else process.env.NIGHTSHIFT_GUARDS_HOST_MARKER = saved.marker;
        }
      },
      5 * MINUTES,
    );
  });
}
