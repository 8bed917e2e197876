import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import type { CodingOutput, ReviewingOutput, Spec, SuiteRun, WritingTestsOutput } from '../bus/index.ts';
import { DEFAULT_NODE_IMAGE, type TestCase } from '../sandbox/index.ts';
import { git, randomTicketId } from '../shared/index.ts';
import {
  advanced,
  answer,
  branchCommits,
  branchExists,
  branchOf,
  callsOf,
  craftBranch,
  demoAnswer,
  expectScriptUsed,
  run,
  told,
  tool,
  workItem,
  workspaceFiles,
  world,
  type Args,
  type World,
} from '../test/helpers/agents.ts';
import { describeDocker } from '../test/helpers/docker.ts';
import { createCoder } from './coder/handler.ts';
import { evidenceOf } from './kit/proof.ts';
import { createRefiner } from './refiner/handler.ts';
import { createReviewer } from './reviewer/handler.ts';
import { createTestAuthor } from './test-author/handler.ts';

/*
 * The guards of the chain agents (issue 3, "Tests show each guard working"), each handler called
 * in-process with real git, the real Docker sandbox and mock-llm over HTTP. Every test has its own
 * origin repository (the demo), workspaces directory and mock-llm server; at its end every scripted
 * response must have been used and no call may have failed.
 */

// ---------------------------------------------------------------------------------------------
// The demo's answers, reused as the "good" answers of each role.

const answerArgs = demoAnswer;
const SPEC = answerArgs('refiner', 1) as Spec;
const GOOD_TESTS = answerArgs('test-author', 1);
const GOOD_CHANGE = answerArgs('coder', 0);
const APPROVAL = answerArgs('reviewer', 0);
const TEST_FILE = 'test/slugify-max-length.test.js';
const goodTestContent = (GOOD_TESTS.files as { path: string; content: string }[])[0]!.content;
const ORIGINAL_SOURCE = readFileSync(join(import.meta.dirname, '../examples/demo/repo/src/slugify.js'), 'utf8');
const goodSource = (GOOD_CHANGE.files as { path: string; content: string }[])[0]!.content;

const testPlan = (files: { path: string; content: string }[]): Args => ({ ...GOOD_TESTS, files });
const change = (files: { path: string; content: string }[], notes = 'a change'): Args => ({ files, notes });

/** Runs the test author with the demo's tests: the tests commit every coder and reviewer test starts from. */
async function writeTests(w: World, ticketId = w.ticketId): Promise<WritingTestsOutput> {
  const { outcome } = await run(w, createTestAuthor, 'test-author', workItem(w, 'test-author', { ticketId }));
  return advanced<WritingTestsOutput>(outcome);
}

function suiteRun(passed: boolean, tests?: TestCase[]): SuiteRun {
  return {
    ...(tests && { tests: evidenceOf({ runners: ['node:test'], tests, errors: [] }, { index: !passed }) }),
    passed,
    exitCode: passed ? 0 : 1,
    failure: passed ? null : 'exit code 1',
    durationMs: 100,
    output: passed ? 'pass' : 'fail',
    command: 'npm test',
    image: DEFAULT_NODE_IMAGE,
    at: '2030-01-01T00:00:00.000Z',
  };
}

/** A source change that implements maxLength but leaves a trailing dash: the AC2 test fails. */
const DASHY_SOURCE = `export function slugify(text, { maxLength = Infinity } = {}) {
  return text.toLowerCase().trim().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, maxLength);
}
`;
/** Tests that pass on the unchanged code: they pin what exists already. */
const PASSING_TESTS = `import { test } from 'node:test';
import assert from 'node:assert/strict';
import { slugify } from '../src/slugify.js';

test('still lowercases', () => {
  assert.equal(slugify('Hello World'), 'hello-world');
});
`;

const MINUTES = 60_000;

describeDocker('the guards of the chain agents (in-process handlers, Docker sandbox, mock-llm)', () => {
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
    'rejects a coder that edits a test, changes the test script, adds test configuration (files, package.json keys) or npm node-options; accepts the honest change',
    async () => {
      const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '../examples/demo/repo/package.json'), 'utf8')) as { scripts: Record<string, string> };
      const manifest = (over: Record<string, unknown>) => `${JSON.stringify({ ...pkg, ...over }, null, 2)}\n`;
      const narrowed = manifest({ scripts: { ...pkg.scripts, test: 'node --test test/slugify.test.js' } });
      await using w = await world(
        {
          'test-author': [answer(GOOD_TESTS)],
          coder: [
            answer(
              change([
                { path: 'src/slugify.js', content: DASHY_SOURCE },
                { path: TEST_FILE, content: goodTestContent.replace("'hello'", "'hello-'") },
              ]),
            ),
            answer(change([{ path: 'package.json', content: narrowed }])),
            answer(
              change([
                { path: 'src/slugify.js', content: goodSource },
                { path: 'vitest.config.js', content: "export default { test: { exclude: ['test/slugify-max-length.test.js'] } };\n" },
              ]),
            ),
            answer(
              change([
                { path: 'src/slugify.js', content: goodSource },
                { path: '.nightshift.yml', content: 'image: nightshift-sandbox-node:24\ntest: node --test test/slugify.test.js\n' },
              ]),
            ),
            // npm hands node-options to node: this skips every new test, and the suite would pass.
            answer(change([{ path: '.npmrc', content: 'node-options=--test-skip-pattern=maxLength --test-skip-pattern=dash\n' }])),
            // Issue 11: test tools read their configuration from package.json keys; `"ts-scripts": { "test": [] }` ran no test.
            answer(change([{ path: 'src/slugify.js', content: goodSource }, { path: 'package.json', content: manifest({ 'ts-scripts': { test: [] } }) }])),
            answer(change([{ path: 'src/slugify.js', content: goodSource }, { path: 'package.json', content: manifest({ version: '1.0.1', ava: { files: [] } }) }])),
            answer(change([{ path: 'src/slugify.js', content: goodSource }, { path: '.mocharc.json', content: '{ "spec": [] }\n' }])),
            answer(GOOD_CHANGE),
          ],
        },
        { NIGHTSHIFT_CODER_ATTEMPTS: '10' },
      );
      const tests = await writeTests(w);
      const testsRuns = w.sandbox.runs.length;
      const atRefusal: Record<string, string | null>[][] = [];
      w.sink.on('change refused before writing', () => atRefusal.push(workspaceFiles(w, w.ticketId, [TEST_FILE, 'src/slugify.js'])));

      const { outcome } = await run(w, createCoder, 'coder', workItem(w, 'coder', { artifacts: { refining: { spec: SPEC }, writing_tests: tests } }));

      const out = advanced<CodingOutput>(outcome);
      expect(out).toMatchObject({ attempts: 9, files: ['src/slugify.js'], green: { passed: true, exitCode: 0 } });
      const calls = callsOf(w, 'coder');
      expect(calls).toHaveLength(9);
      expect(told(calls[1])).toContain(`refused: ${TEST_FILE}: a test file: the coder may not touch tests`);
      expect(told(calls[2])).toContain('package.json: scripts "test" is a test script; the coder may not change test configuration');
      expect(told(calls[3])).toContain('vitest.config.js: test configuration added: it configures vitest');
      expect(told(calls[4])).toContain(".nightshift.yml: test configuration added: it configures nightshift's test command");
      expect(told(calls[5])).toContain('.npmrc: test configuration added');
      expect(told(calls[6])).toContain('package.json: "ts-scripts" configures the test runner wrapper ts-scripts; the coder may not change test configuration');
      expect(told(calls[7])).toContain('package.json: "ava" configures the test runner ava; the coder may not change test configuration');
      expect(told(calls[8])).toContain('.mocharc.json: test configuration added: it configures mocha; the coder may not change test configuration');
      for (const c of calls.slice(1)) expect(told(c)).toContain('Your previous attempt was not accepted');
      // The test edit was refused before anything of that answer was written (its source file neither).
      expect(atRefusal).toEqual([[{ [TEST_FILE]: goodTestContent, 'src/slugify.js': ORIGINAL_SOURCE }]]);
      // The rejected changes never ran: the coder's only suite run is the green one.
      expect(w.sandbox.runs.slice(testsRuns).map((r) => r.command)).toEqual(['npm test']);

      const commits = await branchCommits(w.origin, w.ticketId);
      expect(commits).toEqual([
        { sha: tests.commit, author: 'nightshift test-author', files: [TEST_FILE] },
        { sha: out.commit, author: 'nightshift coder', files: ['src/slugify.js'] },
      ]);
      const branch = branchOf(w.ticketId);
      expect((await git(w.origin, ['diff', '--name-only', tests.commit, branch])).trim()).toBe('src/slugify.js');
      expect((await git(w.origin, ['rev-parse', `${branch}:test`])).trim()).toBe((await git(w.origin, ['rev-parse', `${tests.commit}:test`])).trim());
      expect(await git(w.origin, ['show', `${branch}:${TEST_FILE}`])).toBe(await git(w.origin, ['show', `${tests.commit}:${TEST_FILE}`]));
      expect(await git(w.origin, ['show', `${branch}:package.json`])).toBe(await git(w.origin, ['show', 'main:package.json']));
      expect(await git(w.origin, ['show', `${branch}:src/slugify.js`])).toBe(goodSource);
      expectScriptUsed(w);
    },
    5 * MINUTES,
  );

  it(
    'feeds a coder the failing output and escalates, without pushing, when its attempts run out red',
    async () => {
      const ignoring = `export function slugify(text) {\n  return text.toLowerCase().trim().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');\n}\n`;
      await using w = await world(
        {
          'test-author': [answer(GOOD_TESTS)],
          coder: [answer(change([{ path: 'src/slugify.js', content: DASHY_SOURCE }])), answer(change([{ path: 'src/slugify.js', content: ignoring }]))],
        },
        { NIGHTSHIFT_CODER_ATTEMPTS: '2' },
      );
      const tests = await writeTests(w);

      const { outcome } = await run(w, createCoder, 'coder', workItem(w, 'coder', { artifacts: { refining: { spec: SPEC }, writing_tests: tests } }));

      expect(outcome.kind).toBe('escalate');
      if (outcome.kind !== 'escalate') return;
      expect(outcome.questions[0]).toMatchObject({ id: 'not-green', blocking: true });
      expect(outcome.questions[0]!.text).toContain('in 2 attempts');
      expect(outcome.questions[0]!.text).toContain('The suite still fails');
      const second = told(callsOf(w, 'coder')[1]);
      expect(second).toContain('The suite still fails (exit code 1)');
      expect(second).toContain('never ends a cut slug with a dash');
      expect(second).toContain("'hello-'");
      // Nothing pushed by the coder: the branch still ends at the tests commit.
      expect((await git(w.origin, ['rev-parse', branchOf(w.ticketId)])).trim()).toBe(tests.commit);
      expect((await branchCommits(w.origin, w.ticketId)).map((c) => c.author)).toEqual(['nightshift test-author']);
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
    'parks a blocking question of the refiner with its options, and resumes with the answer in the prompt',
    async () => {
      const question = { id: 'q-cut', text: 'Should a cut slug end at a word boundary, or may it cut a word?', options: ['word boundary', 'cut words'], blocking: true };
      const aside = { id: 'q-docs', text: 'Should the README mention maxLength?', blocking: false };
      await using w = await world({
        refiner: [
          tool('read_file', { path: 'src/slugify.js' }),
          answer({ ...SPEC, openQuestions: [question, aside] }),
          answer({ ...SPEC, openQuestions: [] }),
        ],
      });

      const first = await run(w, createRefiner, 'refiner', workItem(w, 'refiner', { artifacts: {} }));

      expect(first.outcome.kind).toBe('escalate');
      if (first.outcome.kind !== 'escalate') return;
      expect(first.outcome.questions).toEqual([question]);
      const parked = first.outcome.output as { spec: Spec };
      expect(parked.spec.openQuestions).toEqual([question, aside]);
      expect(told(callsOf(w, 'refiner')[1])).toContain('export function slugify');

      const answers = [{ text: 'cut words, then drop a trailing dash', by: 'alice', at: '2030-01-01T10:00:00.000Z' }];
      const second = await run(w, createRefiner, 'refiner', workItem(w, 'refiner', { artifacts: { refining: parked }, answers }));

      expect(advanced<{ spec: Spec }>(second.outcome).spec.openQuestions).toEqual([]);
      const resumed = told(callsOf(w, 'refiner')[2]);
      expect(resumed).toContain('Questions asked earlier:');
      expect(resumed).toContain(`- q-cut: ${question.text}`);
      expect(resumed).toContain('Answers from humans:');
      expect(resumed).toContain('- alice: cut words, then drop a trailing dash');
      expect(told(callsOf(w, 'refiner')[0])).not.toContain('Answers from humans:');
      expectScriptUsed(w);
    },
    5 * MINUTES,
  );

  it(
    'has the reviewer send work back without asking the model when the tests commit touched code or the fresh run fails',
    async () => {
      await using w = await world({});
      const reviewerWork = (id: string, testsSha: string, codeSha: string) =>
        workItem(w, 'reviewer', {
          ticketId: id,
          artifacts: {
            refining: { spec: SPEC },
            writing_tests: { commit: testsSha, files: [TEST_FILE], changedExisting: [], coverage: [], baseline: suiteRun(true), red: suiteRun(false), attempts: 1 },
            coding: { commit: codeSha, files: ['src/slugify.js'], green: suiteRun(true), attempts: 1, notes: 'done' },
          } satisfies { refining: { spec: Spec }; writing_tests: WritingTestsOutput; coding: CodingOutput },
        });

      // The tests commit also changed README.md (the suite itself passes).
      const sneaky = randomTicketId();
      const [sneakyTests, sneakyCode] = await craftBranch(w, sneaky, [
        { role: 'test-author', files: { [TEST_FILE]: goodTestContent, 'README.md': '# changed by the test author\n' } },
        { role: 'coder', files: { 'src/slugify.js': goodSource } },
      ]);
      const a = await run(w, createReviewer, 'reviewer', reviewerWork(sneaky, sneakyTests!, sneakyCode!));
      expect(a.outcome).toMatchObject({ kind: 'send_back', to: 'coding' });
      if (a.outcome.kind !== 'send_back') return;
      expect(a.outcome.reason).toContain('The tests commit also changes non-test files: README.md');
      expect(a.outcome.output).toMatchObject({ verdict: 'changes_requested', fresh: { passed: true }, round: 1 });

      // The change leaves the suite red in a fresh sandbox.
      const red = randomTicketId();
      const [redTests, redCode] = await craftBranch(w, red, [
        { role: 'test-author', files: { [TEST_FILE]: goodTestContent } },
        { role: 'coder', files: { 'src/slugify.js': DASHY_SOURCE } },
      ]);
      const b = await run(w, createReviewer, 'reviewer', reviewerWork(red, redTests!, redCode!));
      expect(b.outcome).toMatchObject({ kind: 'send_back', to: 'coding' });
      if (b.outcome.kind !== 'send_back') return;
      expect(b.outcome.reason).toContain('The suite fails in a fresh sandbox on a fresh clone (exit code 1)');
      expect(b.outcome.reason).toContain('never ends a cut slug with a dash');
      expect((b.outcome.output as ReviewingOutput).fresh).toMatchObject({ passed: false, exitCode: 1 });

      // Neither asked the model, opened a pull request or moved a branch.
      expect(w.mock.server.calls).toEqual([]);
      expect(w.store.prs.size).toBe(0);
      expect((await git(w.origin, ['rev-parse', branchOf(red)])).trim()).toBe(redCode);
      expectScriptUsed(w);
    },
    5 * MINUTES,
  );

  it(
    'has the reviewer open exactly one pull request per ticket, even when it runs twice',
    async () => {
      await using w = await world({
        'test-author': [answer(GOOD_TESTS)],
        coder: [answer(GOOD_CHANGE)],
        reviewer: [answer(APPROVAL, { prompt_tokens: 1_000, completion_tokens: 100 }), answer(APPROVAL, { prompt_tokens: 1_000, completion_tokens: 100 })],
      });
      const tests = await writeTests(w);
      const coding = advanced<CodingOutput>(
        (await run(w, createCoder, 'coder', workItem(w, 'coder', { artifacts: { refining: { spec: SPEC }, writing_tests: tests } }))).outcome,
      );
      const artifacts = { refining: { spec: SPEC }, writing_tests: tests, coding };

      const first = advanced<ReviewingOutput>((await run(w, createReviewer, 'reviewer', workItem(w, 'reviewer', { artifacts }))).outcome);
      const pr1 = w.store.prs.get(w.ticketId);
      const second = advanced<ReviewingOutput>((await run(w, createReviewer, 'reviewer', workItem(w, 'reviewer', { artifacts }))).outcome);
      const pr2 = w.store.prs.get(w.ticketId);

      expect(first).toMatchObject({ verdict: 'approve', fresh: { passed: true }, pullRequest: { number: 1, forge: 'local' } });
      expect(second.pullRequest).toEqual(first.pullRequest);
      expect(await w.store.list()).toHaveLength(1);
      expect(pr1).toMatchObject({ ticketId: w.ticketId, number: 1, branch: branchOf(w.ticketId), base: 'main', headSha: coding.commit, state: 'open' });
      expect(pr2).toMatchObject({ number: 1, createdAt: pr1!.createdAt, headSha: coding.commit });
      expect(Date.parse(pr2!.updatedAt)).toBeGreaterThan(Date.parse(pr1!.updatedAt));
      for (const part of ['## Acceptance criteria', '**AC1**', '| `test/slugify-max-length.test.js › cuts the slug at maxLength` | ❌ failed | ✅ passed |', 'red as required', 'fresh sandbox']) {
        expect(pr2!.body).toContain(part);
      }
      expect(callsOf(w, 'reviewer')).toHaveLength(2);
      expect((await branchCommits(w.origin, w.ticketId)).map((c) => c.author)).toEqual(['nightshift test-author', 'nightshift coder']);
      expectScriptUsed(w);
    },
    5 * MINUTES,
  );

  it(
    'escalates with the token-budget question when a handler goes over the budget, mid-loop or before its first call',
    async () => {
      await using w = await world(
        {
          refiner: [
            tool('read_file', { path: 'src/slugify.js' }, { prompt_tokens: 400, completion_tokens: 100 }),
            tool('read_file', { path: 'README.md' }, { prompt_tokens: 500, completion_tokens: 100 }),
          ],
        },
        { NIGHTSHIFT_TOKEN_BUDGET: '1000' },
      );

      const refined = await run(w, createRefiner, 'refiner', workItem(w, 'refiner', { artifacts: {} }));
      expect(refined.outcome.kind).toBe('escalate');
      if (refined.outcome.kind !== 'escalate') return;
      expect(refined.outcome.questions).toHaveLength(1);
      expect(refined.outcome.questions[0]).toMatchObject({ id: 'token-budget', options: ['resume', 'cancel'], blocking: true });
      expect(refined.outcome.questions[0]!.text).toContain('used 1100 of its 1000 tokens during refining');
      expect(refined.usage).toEqual([{ inputTokens: 900, outputTokens: 200, totalTokens: 1100, calls: 2 }]);
      expect(callsOf(w, 'refiner')).toHaveLength(2);

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
        expect(env.HOME).toBe('/tmp');
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
