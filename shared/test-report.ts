import { createHash } from 'node:crypto';
import { z } from 'zod';

/*
 * A test run's report, per test: what the sandbox's parsers make of each runner's own report
 * (sandbox/results) and what a ticket keeps as the evidence of its red and green runs (bus/messages/
 * artifacts.ts). Data shapes only, here so that both read them without importing each other.
 */

/** The test runners whose own machine-readable reports nightshift reads. */
export const Runner = z.enum(['vitest', 'jest', 'mocha', 'ava', 'node:test', 'pytest', 'go', 'tap']);
export type Runner = z.infer<typeof Runner>;

/** What became of one test. `skipped` includes todo and pending tests: they did not run. */
export const TestStatus = z.enum(['passed', 'failed', 'skipped']);
export type TestStatus = z.infer<typeof TestStatus>;

/** Longest test name and failure message kept. */
export const MAX_NAME = 500;
export const MAX_MESSAGE = 1_000;

/** One test as its runner reported it. */
export const TestCase = z.object({
  /** The test file relative to the workspace root, when the runner says which. */
  file: z.string().max(MAX_NAME).nullable(),
  /** The full name: enclosing suites and the title, joined with ` › ` (the runner's own for TAP and pytest). */
  name: z.string().min(1).max(MAX_NAME),
  status: TestStatus,
  /** The first lines of a failure. */
  message: z.string().max(MAX_MESSAGE).optional(),
});
export type TestCase = z.infer<typeof TestCase>;

/**
 * Something that failed outside any test: a file that did not load, a hook, an uncaught error. The
 * tests it stopped never appear in the report.
 */
export const RunError = z.object({
  file: z.string().max(MAX_NAME).nullable(),
  message: z.string().max(MAX_MESSAGE),
});
export type RunError = z.infer<typeof RunError>;

/** Every test of one run, from the runners' own reports. */
export interface TestReport {
  /** The runners that reported, in the order their reports were read. */
  runners: Runner[];
  tests: TestCase[];
  errors: RunError[];
}

/** How many tests a report holds, by status. */
export const Totals = z.object({
  total: z.number().int().min(0),
  passed: z.number().int().min(0),
  failed: z.number().int().min(0),
  skipped: z.number().int().min(0),
});
export type Totals = z.infer<typeof Totals>;

export function totalsOf(tests: readonly Pick<TestCase, 'status'>[]): Totals {
  const totals = { total: tests.length, passed: 0, failed: 0, skipped: 0 };
  for (const t of tests) totals[t.status]++;
  return totals;
}

/** How a test is told apart from the others of its run: its file (when known) and full name. */
export function testKey(t: Pick<TestCase, 'file' | 'name'>): string {
  return `${t.file ?? ''}\u0000${t.name}`;
}

/** A test's name as people read it: `file › name`, or the name alone when the file is unknown. */
export function testLabel(t: Pick<TestCase, 'file' | 'name'>): string {
  return t.file ? `${t.file} › ${t.name}` : t.name;
}

/** Length of one entry of an `index`: a hash of the key (8 base64url characters) and the status's initial. */
export const INDEX_ENTRY = 9;

/** The hash part of a test's `index` entry. */
export function keyHash(key: string): string {
  return createHash('sha256').update(key).digest('base64url').slice(0, INDEX_ENTRY - 1);
}

/**
 * Every test of a report in a compact form that later stages can compare with their own runs without
 * the names: a sorted concatenation of `keyHash(testKey(t))` + the status's initial (`p`, `f`, `s`).
 * 9 characters a test, so that a ticket holds the evidence of a suite of 10,000 tests.
 */
export function indexOf(tests: readonly TestCase[]): string {
  return tests
    .map((t) => keyHash(testKey(t)) + t.status[0])
    .sort()
    .join('');
}

/** The entries of an `index`: hash → status. */
export function readIndex(index: string): Map<string, TestStatus> {
  const out = new Map<string, TestStatus>();
  const status = { p: 'passed', f: 'failed', s: 'skipped' } as const;
  for (let i = 0; i + INDEX_ENTRY <= index.length; i += INDEX_ENTRY) {
    out.set(index.slice(i, i + INDEX_ENTRY - 1), status[index[i + INDEX_ENTRY - 1] as 'p' | 'f' | 's'] ?? 'failed');
  }
  return out;
}
