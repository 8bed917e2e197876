/**
 * `npm run bench`: speed and memory of nightshift's hot pure paths, each printed as a ratio against a
 * baseline measured in the same run on the same input, so that the numbers compare across machines.
 *
 * - triage ranking (lexical TF-IDF over N open tickets) against the baseline of only reading every
 *   ticket's words once (tokenising): the ratio says what the ranking costs beyond touching the text;
 * - the coordinator's reducer applying a stage result against the baseline of validating the same
 *   ticket record with its zod schema (what every KV read already pays).
 *
 * Options: `--quick` (fewer iterations, for a smoke run), `--json` (one JSON object per line).
 */
import { performance } from 'node:perf_hooks';
import { applyEvent, newTicket, tick, type Policy } from '../agents/coordinator/reducer.ts';
import { rankSimilar, terms, type Candidate } from '../agents/triager/similarity.ts';
import { envelope, StageCompleted } from '../bus/index.ts';
import { Ticket, ticketIdForExternalId } from '../shared/index.ts';

const quick = process.argv.includes('--quick');
const json = process.argv.includes('--json');

interface Measure {
  /** Median milliseconds per run. */
  ms: number;
  /** Heap growth over the runs, in bytes per run (after a GC when exposed). */
  heapPerRun: number;
}

async function measure(runs: number, fn: () => unknown): Promise<Measure> {
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
  times.sort((a, b) => a - b);
  return { ms: times[Math.floor(times.length / 2)]!, heapPerRun: Math.max(0, heapAfter - heapBefore) / runs };
}

function report(name: string, subject: Measure, baseline: Measure, detail: Record<string, unknown>): void {
  const ratio = subject.ms / baseline.ms;
  if (json) {
    process.stdout.write(`${JSON.stringify({ bench: name, ms: subject.ms, baselineMs: baseline.ms, ratio, heapPerRun: subject.heapPerRun, ...detail })}\n`);
    return;
  }
  const kb = (b: number) => `${(b / 1024).toFixed(1)} KiB`;
  process.stdout.write(
    `${name.padEnd(34)} ${subject.ms.toFixed(3).padStart(9)} ms  baseline ${baseline.ms.toFixed(3).padStart(9)} ms  ratio ${ratio.toFixed(2).padStart(6)}x  heap/run ${kb(subject.heapPerRun).padStart(10)}  ${Object.entries(detail)
      .map(([k, v]) => `${k}=${String(v)}`)
      .join(' ')}\n`,
  );
}

/** Deterministic pseudo-random bug reports: words from a fixed vocabulary, a few identifiers and stack frames. */
function corpus(n: number): Candidate[] {
  const words = `crash error timeout null undefined config parser login token cache render slug export import deploy retry queue
    socket header cookie session upload download image resize thumbnail locale date timezone currency invoice payment
    refund search index sort filter page scroll modal button form validate email password reset notify webhook`.split(/\s+/);
  let seed = 42;
  const rnd = () => ((seed = (seed * 1_103_515_245 + 12_345) & 0x7fffffff) / 0x7fffffff);
  const pick = () => words[Math.floor(rnd() * words.length)]!;
  return Array.from({ length: n }, (_, i) => {
    const title = `${pick()} ${pick()} fails when ${pick()} is ${pick()}`;
    const text = Array.from({ length: 60 }, () => pick()).join(' ') + `\n    at ${pick()}Handler (src/${pick()}.ts:${i % 300}:${i % 40})`;
    return { id: ticketIdForExternalId(`bench-${i}`), title, text };
  });
}

async function triageBench(n: number): Promise<void> {
  const candidates = corpus(n);
  const query = { title: 'login token fails when cache is stale', text: 'After a deploy the login token cache returns null and the session crashes with a timeout.' };
  const runs = quick ? 5 : n >= 5_000 ? 10 : 30;
  const baseline = await measure(runs, () => {
    for (const c of candidates) terms(`${c.title} ${c.text}`);
  });
  let shown = 0;
  const subject = await measure(runs, async () => {
    shown = (await rankSimilar(query, candidates, { embedder: null, limit: 5 })).similar.length;
  });
  report(`triage rank, ${n} open tickets`, subject, baseline, { shown });
}

async function reducerBench(): Promise<void> {
  const policy: Policy = { stageTimeoutMs: () => 60_000, queueTimeoutMs: 3_600_000, stageAttempts: 3, humanTimeoutMs: 3_600_000 };
  const now = new Date('2030-01-01T00:00:00Z');
  const id = ticketIdForExternalId('bench-reducer');
  let t = newTicket(id, { title: 'bench', body: 'b', repo: { path: '/srv/repo' }, type: 'feature', labels: [] }, now, 'bench');
  t = tick(t, now, policy)!;
  // A ticket with some history, as a long-lived one has.
  for (let i = 0; i < 50; i++) t = { ...t, timeline: [...t.timeline, { at: now.toISOString(), by: 'bench', event: 'ignored', reason: `entry ${i}` }] };
  const ev = envelope(
    StageCompleted,
    { ticketId: id, stage: 'refining', attempt: 1, outcome: { kind: 'advance', output: { spec: 'x' } } },
    { source: 'agent:refiner', correlationId: id, causationId: t.work!.dispatchId! },
  );
  const runs = quick ? 200 : 5_000;
  const baseline = await measure(runs, () => Ticket.parse(t));
  const subject = await measure(runs, () => applyEvent(t, { ...ev, type: StageCompleted.type }, now, policy));
  report('reducer: apply a stage result', subject, baseline, { timeline: t.timeline.length });
}

for (const n of quick ? [100, 1_000] : [100, 1_000, 10_000]) await triageBench(n);
await reducerBench();
