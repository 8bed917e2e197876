import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createCoder } from '../../agents/coder/handler.ts';
import { git } from '../../shared/index.ts';
import { advanced, answer, branchCommits, branchOf, callsOf, expectScriptUsed, run, told, workItem, workspaceFiles } from '../helpers/agents.ts';
import {
  change,
  DASHY_SOURCE,
  DEMO_REPO,
  GOOD_CHANGE,
  GOOD_TESTS,
  goodSource,
  goodTestContent,
  guardWorld,
  MINUTES,
  ORIGINAL_SOURCE,
  SPEC,
  TEST_FILE,
  writeTests,
  type GuardSandbox,
} from './kit.ts';
import type { CodingOutput } from '../../bus/index.ts';

/*
 * The guards of the coder (issue 3, "Tests show each guard working"), run on the fake sandbox
 * (agents/coder/guards.test.ts) and on Docker (agents/coder/guards.int.test.ts); test/guards/kit.ts says how.
 */

export function coderGuards(on: GuardSandbox): void {
  describe(`the guards of the coder (in-process handler, ${on.name}, mock-llm)`, () => {
    const world = guardWorld(on);

    it(
      'rejects a coder that edits a test, changes the test script, adds test configuration (files, package.json keys) or npm node-options; accepts the honest change',
      async () => {
        const pkg = JSON.parse(readFileSync(join(DEMO_REPO, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
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
  });
}
