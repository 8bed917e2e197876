import { describe, expect, it } from 'vitest';
import type { TestCase, TestReport } from '../../sandbox/index.ts';
import { evidenceOf, greenProblem, matchTest, proveRed, resolveCoverage } from './proof.ts';

const t = (name: string, status: TestCase['status'] = 'passed', file: string | null = 'test/a.test.js'): TestCase => ({ file, name, status });
const report = (...tests: TestCase[]): TestReport => ({ runners: ['vitest'], tests, errors: [] });

const BASE = report(t('slug › lowercases'), t('slug › trims'));

describe('red, proven per test', () => {
  it('accepts new tests that fail while every old test still passes, and tells apart those that already pass', () => {
    const red = report(t('slug › lowercases'), t('slug › trims'), t('cuts', 'failed', 'test/max.test.js'), t('keeps short', 'passed', 'test/max.test.js'));
    const proven = proveRed(BASE, red, ['test/max.test.js'], []);
    expect(proven).toEqual({
      ok: true,
      proof: { newTests: [red.tests[2], red.tests[3]], failing: [red.tests[2]], alreadyPassing: [red.tests[3]] },
    });
  });

  it('proves nothing when no runner reported on the red run (a lint or format step failed first)', () => {
    const proven = proveRed(BASE, null, ['test/max.test.js'], []);
    expect(proven).toMatchObject({ ok: false, reason: expect.stringContaining('no test runner reported any result') });
  });

  it('refuses tests that all pass on the unchanged code', () => {
    const proven = proveRed(BASE, report(...BASE.tests, t('pinned', 'passed', 'test/max.test.js')), ['test/max.test.js'], []);
    expect(proven).toMatchObject({ ok: false, reason: expect.stringContaining('PASS on the unchanged code ("test/max.test.js › pinned")') });
  });

  it('refuses a red run where a file failed outside its tests', () => {
    const red: TestReport = { ...report(...BASE.tests, t('cuts', 'failed', 'test/max.test.js')), errors: [{ file: 'test/other.test.js', message: 'Cannot find module ./nope.js' }] };
    const proven = proveRed(BASE, red, ['test/max.test.js', 'test/other.test.js'], []);
    expect(proven).toMatchObject({ ok: false, reason: expect.stringContaining('test/other.test.js: Cannot find module ./nope.js') });
  });

  it('refuses when no new test ran, and names a written file that ran no test (a type-level test)', () => {
    expect(proveRed(BASE, report(...BASE.tests), ['test/max.test.js'], [])).toMatchObject({ ok: false, reason: expect.stringContaining('none of your tests ran') });
    const red = report(...BASE.tests, t('cuts', 'failed', 'test/max.test.js'));
    expect(proveRed(BASE, red, ['test/max.test.js', 'test/max.test-d.ts'], [])).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/^test\/max\.test-d\.ts ran no test/),
    });
  });

  it('refuses a skipped new test', () => {
    const red = report(...BASE.tests, t('cuts', 'failed', 'test/max.test.js'), t('later', 'skipped', 'test/max.test.js'));
    expect(proveRed(BASE, red, ['test/max.test.js'], [])).toMatchObject({ ok: false, reason: expect.stringContaining('"test/max.test.js › later" were skipped') });
  });

  it('refuses when a test that passed before fails or vanished, unless its file was declared changed', () => {
    const red = report(t('slug › lowercases', 'failed'), t('cuts', 'failed', 'test/max.test.js'));
    expect(proveRed(BASE, red, ['test/max.test.js'], [])).toMatchObject({
      ok: false,
      reason: expect.stringContaining('2 test(s) that passed before now fail or no longer run: "test/a.test.js › slug › lowercases", "test/a.test.js › slug › trims"'),
    });
    expect(proveRed(BASE, red, ['test/max.test.js', 'test/a.test.js'], ['./test/a.test.js'])).toMatchObject({ ok: true });
  });

  it("attributes go's tests to their package's directory: written and changed test files count by their package", () => {
    const g = (name: string, status: TestCase['status'], file: string): TestCase => ({ file, name, status });
    const goReport = (...tests: TestCase[]): TestReport => ({ runners: ['go'], tests, errors: [] });
    const base = goReport(g('TestSlug', 'passed', 'slug'), g('TestRoot', 'passed', '.'));
    const red = goReport(g('TestSlug', 'passed', 'slug'), g('TestRoot', 'passed', '.'), g('TestCuts', 'failed', 'slug'), g('TestTop', 'failed', '.'));
    expect(proveRed(base, red, ['slug/max_test.go', 'top_test.go'], [])).toMatchObject({ ok: true });
    expect(proveRed(base, red, ['slug/max_test.go', 'other/x_test.go'], [])).toMatchObject({ ok: false, reason: expect.stringMatching(/^other\/x_test\.go ran no test/) });
    const broke = goReport(g('TestSlug', 'failed', 'slug'), g('TestRoot', 'passed', '.'), g('TestCuts', 'failed', 'slug'));
    expect(proveRed(base, broke, ['slug/max_test.go'], [])).toMatchObject({ ok: false, reason: expect.stringContaining('"slug › TestSlug"') });
    expect(proveRed(base, broke, ['slug/max_test.go', 'slug/slug_test.go'], ['slug/slug_test.go'])).toMatchObject({ ok: true });
    // Other runners name test files: a file's directory is not one of them.
    expect(proveRed(BASE, report(...BASE.tests, t('cuts', 'failed', 'test')), ['test/max.test.js'], [])).toMatchObject({ ok: false });
  });

  it('matches TAP names that gained a file prefix when a second file ran (ava)', () => {
    const base = report(t('adds', 'passed', null));
    const red = report(t('test › adds', 'passed', null), t('test › max › cuts', 'failed', null));
    expect(proveRed(base, red, ['test/max.js'], [])).toMatchObject({ ok: true, proof: { newTests: [red.tests[1]] } });
  });
});

describe('green, proven per test against the red run', () => {
  const red = report(t('slug › lowercases'), t('cuts', 'failed', 'test/max.test.js'), t('keeps', 'passed', 'test/max.test.js'));
  const evidence = evidenceOf(red, { index: true });

  it('accepts a run where every test that ran red passes', () => {
    expect(greenProblem(evidence, report(...red.tests.map((x) => ({ ...x, status: 'passed' as const }))))).toBeNull();
  });

  it('refuses fewer tests than red, by name where the red run named them', () => {
    const green = report(t('slug › lowercases'), t('keeps', 'passed', 'test/max.test.js'));
    expect(greenProblem(evidence, green)).toBe('these tests that ran red do not pass: "test/max.test.js › cuts" (did not run) (2 passed now, of 3 that ran red)');
  });

  it('refuses a test that became skipped, and counts old tests that vanished', () => {
    const green = report(t('cuts', 'skipped', 'test/max.test.js'), t('keeps', 'passed', 'test/max.test.js'));
    expect(greenProblem(evidence, green)).toBe(
      'these tests that ran red do not pass: "test/max.test.js › cuts" (skipped); 1 test(s) that passed against the unchanged code no longer run or pass (1 passed now, of 3 that ran red)',
    );
  });

  it('refuses a run no runner reported on, and a red run without an index', () => {
    expect(greenProblem(evidence, null)).toContain('no test runner reported any result');
    expect(greenProblem(evidenceOf(red), report(...red.tests))).toContain('no per-test index');
  });
});

describe('evidence kept on the ticket', () => {
  it('names failed, skipped and kept tests first, and bounds the list', () => {
    const many = report(...Array.from({ length: 400 }, (_, i) => t(`t${i}`, i % 2 ? 'failed' : 'passed')), t('kept'));
    const e = evidenceOf(many, { keep: [`test/a.test.js\u0000kept`], index: true });
    expect(e.totals).toEqual({ total: 401, passed: 201, failed: 200, skipped: 0 });
    expect(e.tests).toHaveLength(201);
    expect(e.tests[0]!.name).toBe('kept');
    expect(e.index).toHaveLength(401 * 9);
  });
});

describe('coverage names', () => {
  const tests = [t('slug › cuts at maxLength', 'failed'), t('slug › keeps short'), t('TestGroup › test_inner', 'passed', 'tests/test_x.py'), t('a › same'), t('b › same')];

  it("resolves full names, labels, titles and pytest node ids to the runner's labels", () => {
    expect(matchTest('slug › cuts at maxLength', tests)?.name).toBe('slug › cuts at maxLength');
    expect(matchTest('test/a.test.js › slug › keeps short', tests)?.name).toBe('slug › keeps short');
    expect(matchTest('cuts at maxLength', tests)?.name).toBe('slug › cuts at maxLength');
    expect(matchTest('tests/test_x.py::TestGroup::test_inner', tests)?.name).toBe('TestGroup › test_inner');
    expect(matchTest('same', tests)).toBeUndefined();
  });

  it('lists the names that are no test', () => {
    expect(resolveCoverage([{ criterion: 'AC1', tests: ['cuts at maxLength', 'it works'] }, { criterion: 'AC2', tests: ['nothing'] }], tests)).toEqual({
      coverage: [{ criterion: 'AC1', tests: ['test/a.test.js › slug › cuts at maxLength'] }],
      unknown: ['it works', 'nothing'],
    });
  });
});
