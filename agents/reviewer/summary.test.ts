import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { WorkItemData } from '../../bus/index.ts';
import type { RepoProfile } from '../../sandbox/index.ts';
import { ProcessSandbox } from '../../test/fakes/sandbox.ts';
import type { Spec } from '../kit/artifacts.ts';
import { runSuite, type SuiteRun } from '../kit/suite.ts';
import { pullRequestBody, type SummaryInput } from './summary.ts';

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
  counts: { total: 2, passed: 2, failed: 0, from: 'vitest' },
});

function summary(red: SuiteRun, fresh = green('')): SummaryInput {
  return {
    work,
    spec,
    tests: { commit: 'a'.repeat(40), files: ['src/slug.test.ts'], changedExisting: [], coverage: [{ criterion: 'AC1', tests: ['cuts at maxLength'] }], baseline: green(''), red, attempts: 1 },
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

    expect(red.passed).toBe(false);
    expect(red.output).not.toContain(ESC);
    expect(red.output).toContain("AssertionError: expected 'a-long-title' to be 'a-long'");
    expect(red.output).toContain(' ❯ src/slug.test.ts (2 tests | 1 failed)');
    expect(red.counts).toEqual({ total: 2, passed: 1, failed: 1, from: 'vitest' });

    const body = pullRequestBody(summary(red));
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
