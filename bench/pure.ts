/**
 * The hot pure paths, each against a baseline on the same input:
 * - triage ranking (lexical TF-IDF over N open tickets) against only reading every ticket's words once
 *   (tokenising): the ratio says what the ranking costs beyond touching the text;
 * - the coordinator's reducer applying a stage result against validating the same ticket record with
 *   its zod schema.
 */
import { applyEvent, newTicket, tick, type Policy } from '../agents/coordinator/reducer.ts';
import { rankSimilar, terms, type Candidate } from '../agents/triager/similarity.ts';
import { envelope, StageCompleted } from '../bus/index.ts';
import { Ticket, ticketIdForExternalId } from '../shared/index.ts';
import { measure, print, type BenchModule, type BenchOptions, type Measure } from './lib.ts';

function result(opts: BenchOptions, bench: string, subject: Measure, baseline: Measure, detail: Record<string, unknown>): void {
  print(opts, { bench, value: subject.ms, baseline: baseline.ms, unit: 'ms', ratio: subject.ms / baseline.ms, heapPerRunKiB: Number((subject.heapPerRun / 1024).toFixed(1)), ...detail });
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

async function triageBench(opts: BenchOptions, n: number): Promise<void> {
  const { quick } = opts;
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
  result(opts, `triage rank, ${n} open tickets`, subject, baseline, { shown });
}

async function reducerBench(opts: BenchOptions): Promise<void> {
  const { quick } = opts;
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
  result(opts, 'reducer: apply a stage result', subject, baseline, { timeline: t.timeline.length });
}


export const pure: BenchModule = {
  name: 'pure',
  what: 'triage ranking over open tickets; the reducer applying a stage result',
  async run(opts) {
    for (const n of opts.quick ? [100, 1_000] : [100, 1_000, 10_000]) await triageBench(opts, n);
    await reducerBench(opts);
  },
};
