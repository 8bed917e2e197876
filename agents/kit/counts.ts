import { z } from 'zod';

/** How many tests a run reported, when its output says so in a format nightshift knows. */
export const TestCounts = z.object({
  total: z.number().int().min(0),
  passed: z.number().int().min(0),
  failed: z.number().int().min(0),
  /** Which runner's summary the counts come from. */
  from: z.enum(['node:test', 'tap', 'vitest', 'jest', 'pytest']),
});
export type TestCounts = z.infer<typeof TestCounts>;

const num = (m: RegExpMatchArray | null, i = 1) => (m ? Number(m[i]) : 0);

/**
 * Reads the test counts from the summary a runner prints: node's test runner (spec or TAP
 * reporter), vitest, jest and pytest. Returns null when no known summary is found, so callers fall
 * back to the exit code alone. The last summary in the output wins.
 */
export function parseTestCounts(output: string): TestCounts | null {
  const text = output.replace(/\x1b\[[0-9;]*m/g, '');
  const nodeTests = last(text, /^ℹ tests (\d+)$/gm);
  if (nodeTests) {
    const passed = num(last(text, /^ℹ pass (\d+)$/gm));
    const failed = num(last(text, /^ℹ fail (\d+)$/gm));
    return { total: num(nodeTests), passed, failed, from: 'node:test' };
  }
  const tapTests = last(text, /^# tests (\d+)$/gm);
  if (tapTests) {
    return { total: num(tapTests), passed: num(last(text, /^# pass (\d+)$/gm)), failed: num(last(text, /^# fail (\d+)$/gm)), from: 'tap' };
  }
  const vitest = last(text, /^\s*Tests\s+(.*)\((\d+)\)\s*$/gm);
  if (vitest) {
    return { total: Number(vitest[2]), passed: num(/(\d+) passed/.exec(vitest[1]!)), failed: num(/(\d+) failed/.exec(vitest[1]!)), from: 'vitest' };
  }
  const jest = last(text, /^Tests:\s+(.*?)(\d+) total$/gm);
  if (jest) {
    return { total: Number(jest[2]), passed: num(/(\d+) passed/.exec(jest[1]!)), failed: num(/(\d+) failed/.exec(jest[1]!)), from: 'jest' };
  }
  const pytest = last(text, /^=+ (.*\b(?:passed|failed)\b.*) in [\d.]+s.* =+$/gm);
  if (pytest) {
    const passed = num(/(\d+) passed/.exec(pytest[1]!));
    const failed = num(/(\d+) failed/.exec(pytest[1]!)) + num(/(\d+) errors?/.exec(pytest[1]!));
    return { total: passed + failed, passed, failed, from: 'pytest' };
  }
  return null;
}

function last(text: string, re: RegExp): RegExpMatchArray | null {
  let found: RegExpMatchArray | null = null;
  for (const m of text.matchAll(re)) found = m;
  return found;
}

/**
 * Why a red run does not prove the new tests red for the right reason, judged on the counts of the
 * baseline (unchanged code) and red (with the new tests) runs; null when it does, or when either run
 * gave no counts. The new tests must have run (more tests than before), something must fail, and the
 * tests that passed before must still pass, except those the test author declared changed.
 */
export function redProblem(baseline: TestCounts | null, red: TestCounts | null, changedExisting: number): string | null {
  if (!baseline || !red) return null;
  if (red.total <= baseline.total && changedExisting === 0) {
    return `the suite ran ${red.total} tests with your tests and ${baseline.total} without: your new tests did not run (not discovered by the runner, or the file failed to load)`;
  }
  if (red.failed === 0) return 'no test failed, yet the run failed: the failure is not an assertion in your tests';
  if (red.passed < baseline.passed - changedExisting) {
    return `${baseline.passed - red.passed} test(s) that passed before now fail or no longer run: your tests must not break the rest of the suite`;
  }
  return null;
}

/**
 * Why a green run does not cover the red run's tests, or null: every test that ran red must run and
 * pass now, so a change that makes tests vanish or skip is not green. Null when either run gave no counts.
 */
export function fewerTestsThanRed(red: TestCounts | null, green: TestCounts | null): string | null {
  if (!red || !green) return null;
  if (green.passed < red.total) return `only ${green.passed} tests passed where ${red.total} ran against the unchanged code`;
  return null;
}
