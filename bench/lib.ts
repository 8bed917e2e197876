/**
 * What every benchmark module shares: the run's options, a median timer, and one way to print a
 * result as a ratio against a baseline measured in the same run on the same machine.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';

/** Options of one `npm run bench` run. */
export interface BenchOptions {
  /** `--quick`: fewer iterations and smaller loads, for a smoke run. */
  quick: boolean;
  /** `--json`: one JSON object per line. */
  json: boolean;
}

/** A group of benchmarks: a name for `--only`, and what it runs. */
export interface BenchModule {
  name: string;
  /** What the group measures, one line, for `--list`. */
  what: string;
  run(opts: BenchOptions): Promise<void>;
}

export interface Measure {
  /** Median milliseconds per run. */
  ms: number;
  /** Heap growth over the runs, in bytes per run (after a GC when exposed). */
  heapPerRun: number;
}

/** Runs `fn` `runs` times after a short warm-up and returns its median time and heap growth. */
export async function measure(runs: number, fn: () => unknown): Promise<Measure> {
  for (let i = 0; i < Math.min(5, runs); i++) await fn();
  (globalThis as { gc?: () => void }).gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  const heapAfter = process.memoryUsage().heapUsed;
  return { ms: median(times), heapPerRun: Math.max(0, heapAfter - heapBefore) / runs };
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** A value at percentile `p` (0–100) of `xs`. */
export function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

/** One result line: a subject against its baseline, in any unit, and what the ratio should be. */
export interface Result {
  bench: string;
  /** The subject's value, in `unit`. */
  value: number;
  /** The baseline's value, in the same unit. */
  baseline: number;
  unit: string;
  /** value / baseline, or for "higher is better" units, what the line says it is. */
  ratio: number;
  /** The goal the ratio is held to, e.g. `<= 1.5` or `>= 0.6`, when there is one. */
  goal?: string;
  /**
   * A goal held by the value itself, in `unit`, for figures whose target is absolute rather than
   * relative (e.g. `<= 150` MB of RSS per agent); written like `goal`.
   */
  limit?: string;
  [detail: string]: unknown;
}

/** Prints one result, as a line for people or as JSON. */
export function print(opts: BenchOptions, r: Result): void {
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(r)}\n`);
    return;
  }
  const { bench, value, baseline, unit, ratio, goal, limit, ...detail } = r;
  const num = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(3));
  const met = (x: number, g: string) => (goalMet(x, g) ? '  ok' : '  MISSED');
  process.stdout.write(
    `${bench.padEnd(48)} ${num(value).padStart(10)} ${unit.padEnd(9)} baseline ${num(baseline).padStart(10)}  ratio ${ratio.toFixed(2).padStart(6)}x${goal ? `  goal ${goal}${met(ratio, goal)}` : ''}${limit ? `  limit ${limit} ${unit}${met(value, limit)}` : ''}  ${Object.entries(detail)
      .map(([k, v]) => `${k}=${String(v)}`)
      .join(' ')}\n`,
  );
}

/** Whether `ratio` (or a value, for a `limit`) meets a goal written as `<= x` or `>= x`. */
export function goalMet(ratio: number, goal: string): boolean {
  const m = /^(<=|>=)\s*([\d.]+)$/.exec(goal.trim());
  if (!m) return false;
  return m[1] === '<=' ? ratio <= Number(m[2]) : ratio >= Number(m[2]);
}

/** Prints that a benchmark could not run here, and why (a missing engine or server). */
export function skipped(opts: BenchOptions, bench: string, reason: string): void {
  if (opts.json) process.stdout.write(`${JSON.stringify({ bench, skipped: reason })}\n`);
  else process.stdout.write(`${bench.padEnd(48)} skipped: ${reason}\n`);
}

/**
 * The machine's CPU time, busy and in all, in clock ticks (Linux's /proc/stat; null elsewhere):
 * `cpuBusy(before, after)` says how many of the machine's cores a measured stretch kept busy.
 */
export function cpuTimes(): { busy: number; total: number } | null {
  let line: string | undefined;
  try {
    line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
  } catch {
    return null;
  }
  const f = line?.split(/\s+/).slice(1).map(Number) ?? [];
  if (f.length < 5 || f.some((x) => !Number.isFinite(x))) return null;
  const total = f.reduce((a, b) => a + b, 0);
  const idle = f[3]! + (f[4] ?? 0);
  return { busy: total - idle, total };
}

/** Cores kept busy between two `cpuTimes()` readings, out of the machine's `availableParallelism()`. */
export function coresBusy(before: ReturnType<typeof cpuTimes>, after: ReturnType<typeof cpuTimes>): string | undefined {
  if (!before || !after || after.total <= before.total) return undefined;
  const cores = availableParallelism();
  return `${(((after.busy - before.busy) / (after.total - before.total)) * cores).toFixed(2)}/${cores}`;
}
