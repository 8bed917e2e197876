import { describe, expect, it } from 'vitest';
import { fewerTestsThanRed, parseTestCounts, redProblem } from './counts.ts';

const NODE = `✖ cuts (3ms)
✔ keeps (1ms)
ℹ tests 5
ℹ suites 0
ℹ pass 3
ℹ fail 2
ℹ cancelled 0`;

describe('test counts', () => {
  it('reads the summaries of node:test, TAP, vitest, jest and pytest', () => {
    expect(parseTestCounts(NODE)).toEqual({ total: 5, passed: 3, failed: 2, from: 'node:test' });
    expect(parseTestCounts('ok 1 - a\nnot ok 2 - b\n# tests 2\n# pass 1\n# fail 1\n')).toEqual({ total: 2, passed: 1, failed: 1, from: 'tap' });
    expect(parseTestCounts(' Test Files  1 failed (1)\n      Tests  2 failed | 3 passed (5)\n')).toEqual({ total: 5, passed: 3, failed: 2, from: 'vitest' });
    expect(parseTestCounts('Tests:       1 failed, 4 passed, 5 total\n')).toEqual({ total: 5, passed: 4, failed: 1, from: 'jest' });
    expect(parseTestCounts('===== 1 failed, 6 passed in 0.12s =====\n')).toEqual({ total: 7, passed: 6, failed: 1, from: 'pytest' });
    expect(parseTestCounts('\x1b[32mℹ tests 1\x1b[0m\nℹ pass 1\nℹ fail 0')).toEqual({ total: 1, passed: 1, failed: 0, from: 'node:test' });
  });

  it('returns null when no summary is there', () => {
    expect(parseTestCounts('Error: Cannot find module x')).toBeNull();
  });

  it('accepts a red run where only new tests fail', () => {
    expect(redProblem({ total: 2, passed: 2, failed: 0, from: 'node:test' }, { total: 5, passed: 3, failed: 2, from: 'node:test' }, 0)).toBeNull();
  });

  it('refuses a red run whose new tests did not run, that broke old tests, or that failed outside any test', () => {
    const base = { total: 2, passed: 2, failed: 0, from: 'node:test' as const };
    expect(redProblem(base, { total: 2, passed: 1, failed: 1, from: 'node:test' }, 0)).toContain('did not run');
    expect(redProblem(base, { total: 5, passed: 1, failed: 4, from: 'node:test' }, 0)).toContain('passed before now fail');
    expect(redProblem(base, { total: 3, passed: 3, failed: 0, from: 'node:test' }, 0)).toContain('not an assertion');
    expect(redProblem(base, { total: 5, passed: 1, failed: 4, from: 'node:test' }, 1)).toBeNull();
    expect(redProblem(null, { total: 5, passed: 1, failed: 4, from: 'node:test' }, 0)).toBeNull();
  });
});

describe('green runs', () => {
  it('must pass every test that ran red', () => {
    const red = { total: 5, passed: 3, failed: 2, from: 'node:test' as const };
    expect(fewerTestsThanRed(red, { total: 5, passed: 5, failed: 0, from: 'node:test' })).toBeNull();
    expect(fewerTestsThanRed(red, { total: 3, passed: 3, failed: 0, from: 'node:test' })).toContain('only 3 tests passed where 5 ran');
    expect(fewerTestsThanRed(null, { total: 3, passed: 3, failed: 0, from: 'node:test' })).toBeNull();
  });
});
