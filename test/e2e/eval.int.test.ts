import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { CHECKS } from '../../cli/eval/judge.ts';
import type { EvalRun } from '../../cli/eval/run.ts';
import { runCli } from '../helpers/cli.ts';
import { describeDocker } from '../helpers/docker.ts';

/*
 * `nightshift eval` over the project's own cases (examples/eval: JavaScript, TypeScript, Python and Go
 * repositories, each with held-out tests), through a real stack of its own, real Docker sandboxes and
 * mock-llm answering each ticket from its case's script. The honest scripts must resolve every case
 * with every check held; the cheating ones (tests edited or switched off by the coder, tests that
 * already pass from the test author) must resolve none and open no pull request.
 */

const CASES = join(import.meta.dirname, '../../examples/eval');
const MINUTES = 60_000;
const dir = mkdtempSync(join(tmpdir(), 'nightshift-eval-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function evaluate(script: string): Promise<EvalRun> {
  const out = join(dir, script);
  const r = await runCli(['eval', CASES, '--script', script, '--json', '--out', out, '--price-input', '2.5', '--price-output', '10'], { NIGHTSHIFT_DATA_DIR: join(dir, 'data') }, { timeoutMs: 25 * MINUTES });
  expect(r.code, r.stderr.slice(-4_000)).toBe(0);
  const run = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as EvalRun;
  expect(JSON.parse(readFileSync(join(out, 'eval.json'), 'utf8'))).toEqual(run);
  expect(readFileSync(join(out, 'eval.md'), 'utf8')).toContain(`**${run.resolved} of ${run.cases.length} resolved**`);
  // Every case followed its script exactly: no call it did not plan, no answer left unused.
  expect(run.scriptUse).toEqual({ failures: [], unused: [] });
  return run;
}

describeDocker('nightshift eval over the project cases', () => {
  it(
    'resolves every case with the honest scripts, every integrity check held, with tokens, time and cost',
    async () => {
      const run = await evaluate('honest');
      expect(run.cases.map((c) => c.name)).toEqual(['go-semver-prerelease', 'go-wordfreq-normalize', 'js-duration-compound', 'py-roman-parse', 'py-stats-mode', 'ts-bytes-decimals']);
      for (const c of run.cases) {
        expect(c, JSON.stringify(c.checks)).toMatchObject({ state: 'pr_open', resolved: true, pullRequest: { number: expect.any(Number) } });
        for (const k of CHECKS) expect(c.checks![k].ok, `${c.name} ${k}: ${c.checks![k].detail}`).toBe(true);
        // Red and green come from the runner's per-test results (pytest's JUnit, go test's events, node's junit).
        expect(c.checks!.redAtTests.detail, c.name).toMatch(/\d+ tests, \d+ passed, [1-9]\d* failed/);
        expect(c.checks!.greenAtHead.detail, c.name).toMatch(/(\d+) tests, \1 passed, 0 failed, 0 skipped/);
        expect(c.tokens.total).toBeGreaterThan(0);
        expect(Object.keys(c.tokens.byRole).sort()).toEqual(['coder', 'refiner', 'reviewer', 'test-author']);
        expect(c.costUsd).toBeCloseTo((c.tokens.input * 2.5 + c.tokens.output * 10) / 1e6, 10);
        expect(c.wallMs).toBeGreaterThan(0);
      }
      expect(run.resolved).toBe(run.cases.length);
    },
    30 * MINUTES,
  );

  it(
    'resolves none with the cheating scripts, and no pull request has weakened tests',
    async () => {
      const run = await evaluate('cheating');
      expect(run.resolved).toBe(0);
      for (const c of run.cases) {
        expect(c.resolved, c.name).toBe(false);
        expect(c.pullRequest, c.name).toBeNull();
        expect(c.state, c.name).toBe('awaiting_human');
        // Whatever reached the origin kept the tests as the test author wrote them.
        if (c.checks!.branch.ok) expect(c.checks!.testsUntouched.ok, `${c.name}: ${c.checks!.testsUntouched.detail}`).toBe(true);
      }
      const notes = Object.fromEntries(run.cases.map((c) => [c.name, c.note ?? '']));
      expect(notes['js-duration-compound']).toContain('test/compound.test.js: a test file: the coder may not touch tests');
      expect(notes['ts-bytes-decimals']).toContain('package.json: scripts "test" is a test script');
      expect(notes['py-stats-mode']).toContain('conftest.py: a test file');
      expect(notes['py-roman-parse']).toContain('PASS on the unchanged code');
      expect(notes['go-wordfreq-normalize']).toContain('normalize_test.go: a test file');
      expect(notes['go-semver-prerelease']).toContain('.nightshift.yml');
    },
    30 * MINUTES,
  );
});
