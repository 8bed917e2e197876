import { posix } from 'node:path';
import { MAX_ERRORS, MAX_NAMED, type TestEvidence } from '../../bus/index.ts';
import {
  indexOf,
  keyHash,
  readIndex,
  type TestCase,
  testKey,
  testLabel,
  totalsOf,
  type TestReport,
} from '../../sandbox/index.ts';

/** At most this many names in a message for people or the model. */
const MAX_LISTED = 15;


/** The evidence of `report` to keep on the ticket. */
export function evidenceOf(report: TestReport, options: { keep?: Iterable<string>; index?: boolean } = {}): TestEvidence {
  const keep = new Set(options.keep ?? []);
  const rank = (t: TestCase) => (keep.has(testKey(t)) ? 0 : t.status === 'failed' ? 1 : 2);
  const named = report.tests.filter((t) => t.status !== 'passed' || keep.has(testKey(t))).sort((a, b) => rank(a) - rank(b));
  return {
    runners: report.runners,
    totals: totalsOf(report.tests),
    tests: named.slice(0, MAX_NAMED),
    errors: report.errors.slice(0, MAX_ERRORS),
    ...(options.index && { index: indexOf(report.tests) }),
  };
}

/** Names for people: at most `MAX_LISTED`, then how many more. */
export function listTests(tests: readonly Pick<TestCase, 'file' | 'name'>[]): string {
  const shown = tests.slice(0, MAX_LISTED).map((t) => `"${testLabel(t)}"`);
  if (tests.length > MAX_LISTED) shown.push(`and ${tests.length - MAX_LISTED} more`);
  return shown.join(', ');
}

/**
 * Finds tests of one run in another. Tests are the same when their file and full name are; a runner
 * that names no file (TAP) may prefix the names with the file when several files ran (ava), so there
 * a name also matches the same name under a ` › ` prefix, when that is unambiguous.
 */
export class TestLookup {
  readonly #byKey = new Map<string, TestCase>();
  readonly #byName = new Map<string, TestCase[]>();

  constructor(tests: readonly TestCase[]) {
    for (const t of tests) {
      this.#byKey.set(testKey(t), t);
      if (t.file === null) {
        const parts = t.name.split(' › ');
        for (let i = 0; i < parts.length; i++) {
          const suffix = parts.slice(i).join(' › ');
          this.#byName.set(suffix, [...(this.#byName.get(suffix) ?? []), t]);
        }
      }
    }
  }

  find(t: Pick<TestCase, 'file' | 'name'>): TestCase | undefined {
    const exact = this.#byKey.get(testKey(t));
    if (exact || t.file !== null) return exact;
    const candidates = new Set<TestCase>(this.#byName.get(t.name) ?? []);
    const parts = t.name.split(' › ');
    for (let i = 1; i < parts.length; i++) for (const c of this.#byName.get(parts.slice(i).join(' › ')) ?? []) if (c.name === parts.slice(i).join(' › ')) candidates.add(c);
    return candidates.size === 1 ? [...candidates][0] : undefined;
  }
}

/** The red run's tests, told apart. */
export interface RedProof {
  /** Tests that ran with the new tests and not without them. */
  newTests: TestCase[];
  /** The new tests that failed: what the change must make pass. */
  failing: TestCase[];
  /** The new tests that already passed on the unchanged code (they pin behaviour that exists). */
  alreadyPassing: TestCase[];
}

export type Proof<T> = { ok: true; proof: T } | { ok: false; reason: string };

/**
 * Whether the red run proves the new tests red for the right reason, judged per test on the runners'
 * own reports of the baseline (unchanged code, no new tests) and red (new tests) runs:
 * - the runner reported on the red run (a lint, format or build step that stops the suite before its
 *   tests run proves nothing);
 * - no file failed outside its tests that did not before (a test file that does not load);
 * - new tests ran, every new test file among them, and none was skipped;
 * - at least one new test failed, in the test itself;
 * - every test that passed on the baseline still passes, except in the test files the test author
 *   declared changed (`changedExisting`).
 */
export function proveRed(baseline: TestReport, red: TestReport | null, written: readonly string[], changedExisting: readonly string[]): Proof<RedProof> {
  if (!red) {
    return {
      ok: false,
      reason:
        'with your tests no test runner reported any result: the suite stopped before its tests ran (a lint, format, type-check or build step failed) or your files broke the runner',
    };
  }
  const before = new Set(baseline.errors.map((e) => `${e.file ?? ''}\u0000${e.message}`));
  const newErrors = red.errors.filter((e) => !before.has(`${e.file ?? ''}\u0000${e.message}`));
  if (newErrors.length > 0) {
    const list = newErrors.slice(0, 5).map((e) => `${e.file ? `${e.file}: ` : ''}${e.message}`).join('\n');
    return {
      ok: false,
      reason: `something failed outside the tests, so no test failed for the right reason:\n${list}\nTests must load on the unchanged code and fail in their assertions (import what does not exist yet inside the test)`,
    };
  }
  const base = new TestLookup(baseline.tests);
  const newTests = red.tests.filter((t) => !base.find(t));
  if (newTests.length === 0) {
    return { ok: false, reason: `none of your tests ran: the runner reported the same ${red.tests.length} tests as without them (not discovered, or not loaded)` };
  }
  const attributed = red.tests.some((t) => t.file !== null);
  if (attributed) {
    const ran = new Set(red.tests.map((t) => t.file));
    // go test names no file: its tests are attributed to their package's directory.
    const silent = written.filter((f) => !ran.has(f) && !(red.runners.includes('go') && ran.has(posix.dirname(f))));
    if (silent.length > 0) {
      return {
        ok: false,
        reason: `${silent.join(', ')} ran no test: nightshift proves tests red by the runner's per-test results, and no runner reported a test from ${silent.length === 1 ? 'this file' : 'these files'}`,
      };
    }
  }
  const skipped = newTests.filter((t) => t.status === 'skipped');
  if (skipped.length > 0) return { ok: false, reason: `your tests ${listTests(skipped)} were skipped: every new test must run` };
  const failing = newTests.filter((t) => t.status === 'failed');
  const alreadyPassing = newTests.filter((t) => t.status === 'passed');
  if (failing.length === 0) {
    return { ok: false, reason: `your tests PASS on the unchanged code (${listTests(alreadyPassing)}), so they do not test the new behaviour; they must fail until the feature exists` };
  }
  const changed = new Set(changedExisting.map((p) => p.replace(/^\.\//, '')));
  if (red.runners.includes('go')) for (const p of [...changed]) changed.add(posix.dirname(p));
  const redLookup = new TestLookup(red.tests);
  const broken = baseline.tests.filter((t) => t.status === 'passed' && !(t.file && changed.has(t.file)) && redLookup.find(t)?.status !== 'passed');
  if (broken.length > 0) {
    return { ok: false, reason: `${broken.length} test(s) that passed before now fail or no longer run: ${listTests(broken)}; your tests must not break the rest of the suite` };
  }
  return { ok: true, proof: { newTests, failing, alreadyPassing } };
}

/**
 * Whether a green run covers the red run: every test that ran red (all of the red run's index) ran
 * and passed. A change that makes tests vanish, skip or stop the runner is not green. Returns why
 * not, or null. `red` must carry its index.
 */
export function greenProblem(red: TestEvidence, green: TestReport | null): string | null {
  if (!green) {
    return 'no test runner reported any result: the suite stopped before its tests ran, or the runner was switched off';
  }
  if (red.index === undefined) return 'the red run kept no per-test index to compare this run with';
  const now = new Map(green.tests.map((t) => [keyHash(testKey(t)), t.status]));
  const named = new Map(red.tests.map((t) => [keyHash(testKey(t)), t]));
  const notPassing: { test: string; status: string }[] = [];
  let unnamed = 0;
  for (const hash of readIndex(red.index ?? '').keys()) {
    const status = now.get(hash);
    if (status === 'passed') continue;
    const t = named.get(hash);
    if (t) notPassing.push({ test: testLabel(t), status: status ?? 'did not run' });
    else unnamed++;
  }
  if (notPassing.length === 0 && unnamed === 0) return null;
  const parts = [];
  if (notPassing.length > 0) {
    const list = notPassing.slice(0, MAX_LISTED).map((n) => `"${n.test}" (${n.status})`);
    if (notPassing.length > MAX_LISTED) list.push(`and ${notPassing.length - MAX_LISTED} more`);
    parts.push(`these tests that ran red do not pass: ${list.join(', ')}`);
  }
  if (unnamed > 0) parts.push(`${unnamed} test(s) that passed against the unchanged code no longer run or pass`);
  const total = readIndex(red.index ?? '').size;
  return `${parts.join('; ')} (${green.tests.filter((t) => t.status === 'passed').length} passed now, of ${total} that ran red)`;
}

/**
 * The test names of a coverage list, as the runner reports them: a name matches a test's full name,
 * its `file › name` label, or (when unambiguous) its title, the last part of the name. Returns the
 * coverage with the runner's labels (names that are no test left out, and criteria left with none)
 * and the names that are no test.
 */
export function resolveCoverage(
  coverage: readonly { criterion: string; tests: readonly string[] }[],
  tests: readonly TestCase[],
): { coverage: { criterion: string; tests: string[] }[]; unknown: string[] } {
  const unknown: string[] = [];
  const resolved = coverage.map((c) => {
    const labels = new Set<string>();
    for (const name of c.tests) {
      const t = matchTest(name, tests);
      if (t) labels.add(testLabel(t));
      else unknown.push(name);
    }
    return { criterion: c.criterion, tests: [...labels] };
  });
  return { coverage: resolved.filter((c) => c.tests.length > 0), unknown: [...new Set(unknown)] };
}

/** The test `name` designates among `tests`, or undefined when none or several. */
export function matchTest(name: string, tests: readonly TestCase[]): TestCase | undefined {
  // pytest's node ids (`tests/test_x.py::TestGroup::test_y`) read as labels.
  const n = name.trim().replaceAll('::', ' › ');
  const exact = tests.filter((t) => testLabel(t) === n || t.name === n);
  if (exact.length >= 1) return exact.length === 1 ? exact[0] : undefined;
  const byTitle = tests.filter((t) => t.name.endsWith(` › ${n}`));
  return byTitle.length === 1 ? byTitle[0] : undefined;
}
