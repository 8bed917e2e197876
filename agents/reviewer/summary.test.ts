import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { WorkItemData } from '../../bus/index.ts';
import type { RepoProfile } from '../../sandbox/index.ts';
import { ProcessSandbox } from '../../test/fakes/sandbox.ts';
import { instructionsFollowed } from '../kit/artifacts.ts';
import { runSuite } from '../kit/suite.ts';
import { pullRequestBody, type SummaryInput } from './summary.ts';
import { CodingOutput, RefiningOutput, type Spec, type SuiteRun, WritingTestsOutput } from '../../bus/index.ts';

const ESC = '\x1b';

/** What vitest prints to a terminal for a red run: colours, a hyperlink, a window title. */
const COLOURED_RED = [
  `${ESC}]0;vitest${ESC}\\`,
  ` ${ESC}[31m❯${ESC}[39m ${ESC}]8;;file:///workspace/src/slug.test.ts${ESC}\\src/slug.test.ts${ESC}]8;;${ESC}\\ ${ESC}[2m(${ESC}[22m${ESC}[2m2 tests${ESC}[22m${ESC}[2m | ${ESC}[22m${ESC}[31m1 failed${ESC}[39m${ESC}[2m)${ESC}[22m`,
  `${ESC}[41m${ESC}[1m FAIL ${ESC}[22m${ESC}[49m src/slug.test.ts ${ESC}[2m>${ESC}[22m cuts at maxLength`,
  `${ESC}[31m${ESC}[1mAssertionError${ESC}[22m: expected 'a-long-title' to be 'a-long'${ESC}[39m`,
  `${ESC}[2m      Tests ${ESC}[22m ${ESC}[1m${ESC}[31m1 failed${ESC}[39m${ESC}[22m${ESC}[2m | ${ESC}[22m${ESC}[1m${ESC}[32m1 passed${ESC}[39m${ESC}[22m${ESC}[90m (2)${ESC}[39m`,
].join('\n');

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'nightshift-summary-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const profile = (test: string): RepoProfile => ({
  detectedFrom: 'package.json',
  configFile: null,
  image: 'nightshift-sandbox-node:24',
  imageShipped: true,
  setup: null,
  setupNetwork: 'none',
  test,
  env: {},
  testFilePatterns: ['**/*.test.*'],
  timeouts: { setupMs: 60_000, testMs: 60_000 },
  notes: [],
});

const spec: Spec = {
  summary: 'Cut slugs at maxLength',
  acceptanceCriteria: [{ id: 'AC1', text: 'slugify cuts at maxLength' }],
  plan: [],
  affectedFiles: ['src/slug.js'],
  openQuestions: [],
};

const work = {
  stage: 'reviewing',
  attempt: 1,
  ticket: { id: 'tk-0123456789', title: 'slugify: maxLength', body: '', type: 'feature', repo: { path: '/repo' }, labels: [], answers: [], artifacts: {}, usage: {} },
} as WorkItemData;

const green = (output: string): SuiteRun => ({
  passed: true,
  exitCode: 0,
  failure: null,
  durationMs: 900,
  output,
  command: 'npm test',
  image: 'nightshift-sandbox-node:24',
  at: '2026-12-02T08:00:00.000Z',
  tests: {
    runners: ['vitest'],
    totals: { total: 2, passed: 2, failed: 0, skipped: 0 },
    tests: [{ file: 'src/slug.test.ts', name: 'slug › cuts at maxLength', status: 'passed' }],
    errors: [],
  },
});

const RED_TESTS: SuiteRun['tests'] = {
  runners: ['vitest'],
  totals: { total: 3, passed: 2, failed: 1, skipped: 0 },
  tests: [
    { file: 'src/slug.test.ts', name: 'slug › cuts at maxLength', status: 'failed', message: "expected 'a-long-title' to be 'a-long'" },
    { file: 'src/slug.test.ts', name: 'slug › keeps short slugs', status: 'passed' },
  ],
  errors: [],
  index: 'x'.repeat(27),
};

function summary(red: SuiteRun, fresh = green('')): SummaryInput {
  return {
    work,
    spec,
    tests: {
      commit: 'a'.repeat(40),
      files: ['src/slug.test.ts'],
      changedExisting: [],
      coverage: [{ criterion: 'AC1', tests: ['src/slug.test.ts › slug › cuts at maxLength', 'src/slug.test.ts › slug › keeps short slugs'] }],
      baseline: green(''),
      red,
      proof: { newTests: ['src/slug.test.ts › slug › cuts at maxLength', 'src/slug.test.ts › slug › keeps short slugs'], alreadyPassing: ['src/slug.test.ts › slug › keeps short slugs'] },
      attempts: 1,
    },
    coding: { commit: 'b'.repeat(40), files: ['src/slug.js'], green: green(''), attempts: 1, notes: 'cut it' },
    fresh,
    review: { summary: `Looks right ${ESC}[32mto me${ESC}[39m.`, coverage: [], comments: [] },
    usage: { coder: { inputTokens: 10, outputTokens: 5, totalTokens: 15, calls: 1 } },
    round: 1,
  };
}

describe('the pull request summary of a run with coloured output', () => {
  it('keeps the evidence and drops the escape codes where the sandbox output becomes evidence', async () => {
    writeFileSync(join(dir, 'red.js'), `process.stdout.write(${JSON.stringify(COLOURED_RED)}); process.exit(1);\n`);
    const red = await runSuite(new ProcessSandbox(), dir, profile('node red.js'), () => new Date('2026-12-02T08:00:00Z'));

    expect(red.run.passed).toBe(false);
    expect(red.run.output).not.toContain(ESC);
    expect(red.run.output).toContain("AssertionError: expected 'a-long-title' to be 'a-long'");
    expect(red.run.output).toContain(' ❯ src/slug.test.ts (2 tests | 1 failed)');
    // Printed like vitest, but no runner reported: the summary a runner prints is no per-test result.
    expect(red.run.tests).toBeNull();
    expect(red.report).toBeNull();

    const body = pullRequestBody(summary(red.run));
    expect(body).not.toContain(ESC);
    expect(body).toContain('      Tests  1 failed | 1 passed (2)');
    expect(body).toContain('Looks right to me.');
  });

  it('drops the escape codes of evidence stored before runs were cleaned', () => {
    const stored: SuiteRun = { ...green(COLOURED_RED), passed: false, exitCode: 1, failure: 'exit code 1' };
    const body = pullRequestBody(summary(stored, green(`${ESC}[32m✓${ESC}[39m 2 passed`)));
    expect(body).not.toMatch(/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/);
    expect(body).toContain(" FAIL  src/slug.test.ts > cuts at maxLength\nAssertionError: expected 'a-long-title' to be 'a-long'");
  });
});

describe('the acceptance criteria table', () => {
  it('shows each criterion with its tests by name, red and green, and marks a test that already passed on the base', () => {
    const red: SuiteRun = { ...green('red output'), passed: false, exitCode: 1, failure: 'exit code 1', tests: RED_TESTS };
    const fresh: SuiteRun = {
      ...green(''),
      tests: {
        runners: ['vitest'],
        totals: { total: 3, passed: 3, failed: 0, skipped: 0 },
        tests: [
          { file: 'src/slug.test.ts', name: 'slug › cuts at maxLength', status: 'passed' },
          { file: 'src/slug.test.ts', name: 'slug › keeps short slugs', status: 'passed' },
        ],
        errors: [],
      },
    };
    const input = summary(red, fresh);
    input.review.unknownTests = ['it works'];
    const body = pullRequestBody(input);
    expect(body).toContain('| **AC1** slugify cuts at maxLength | `src/slug.test.ts › slug › cuts at maxLength` | ❌ failed | ✅ passed |');
    expect(body).toContain('|  | `src/slug.test.ts › slug › keeps short slugs` | ✅ passed (already passed on the base) | ✅ passed |');
    expect(body).toContain('2. With the new tests (commit `aaaaaaaaaaaa`), unchanged code — red as required: `npm test` failed (exit code 1) in 900ms: 3 tests (vitest), 2 passed, 1 failed.');
    expect(body).toContain('New tests: 2, of which 1 failed and 1 already passed on the base');
    expect(body).toContain('Named by the reviewer but no test the runner reported, so left out: `it works`.');
  });

  it('says when a criterion has no test and when a run had no per-test results', () => {
    const input = summary({ ...green(''), passed: false, exitCode: 1, failure: 'exit code 1', tests: null });
    input.tests.coverage = [];
    const body = pullRequestBody(input);
    expect(body).toContain('| **AC1** slugify cuts at maxLength | (no test named) | | |');
    expect(body).toContain('failed (exit code 1) in 900ms: no per-test results.');
  });
});

describe('the repository instructions the stages followed', () => {
  it('are named in the summary, and no line is written when there were none', () => {
    const input = summary({ ...green(''), passed: false, exitCode: 1, failure: 'exit code 1' });
    expect(pullRequestBody(input)).not.toContain('Repository instructions');
    input.instructions = ['AGENTS.md', 'src/AGENTS.md'];
    expect(pullRequestBody(input)).toContain('Ticket `tk-0123456789`: slugify: maxLength\n\nRepository instructions followed: `AGENTS.md`, `src/AGENTS.md`\n');
  });

  it('are read from the stages\' artifacts, each once and root first, and artifacts from before the field still parse', () => {
    const tests = summary(green('')).tests;
    const coding = summary(green('')).coding;
    const withFollowed = {
      ...work,
      ticket: {
        ...work.ticket,
        artifacts: {
          refining: { spec, instructions: ['src/AGENTS.md', 'AGENTS.md'] },
          writing_tests: { ...tests, instructions: ['AGENTS.md', 'test/CONTRIBUTING.md'] },
          coding,
        },
      },
    } as WorkItemData;
    expect(instructionsFollowed(withFollowed)).toEqual(['AGENTS.md', 'src/AGENTS.md', 'test/CONTRIBUTING.md']);

    const old = { ...work, ticket: { ...work.ticket, artifacts: { refining: { spec }, writing_tests: tests, coding } } } as WorkItemData;
    expect(RefiningOutput.parse(old.ticket.artifacts.refining)).toEqual({ spec });
    expect(WritingTestsOutput.safeParse(tests).success).toBe(true);
    expect(CodingOutput.safeParse(coding).success).toBe(true);
    expect(instructionsFollowed(old)).toEqual([]);
  });
});
