/**
 * The web console's board on a large bucket: the server-side render of `/` (the request through the
 * Hono app, from the in-memory index the KV watch keeps) against reading the same ticket records from
 * the tickets KV bucket (every current value through one watch, parsed), on a real nats-server.
 */
import { spawnSync } from 'node:child_process';
import { newTicket } from '../agents/coordinator/reducer.ts';
import { connectBus, provision, provisionOptions, TicketStore } from '../bus/index.ts';
import { BoardIndex, createWebApp } from '../gateways/web/index.ts';
import { createLogger, loadConfig, STATES, Ticket } from '../shared/index.ts';
import { startNatsServer } from '../test/helpers/nats.ts';
import { measure, print, skipped, type BenchModule, type BenchOptions } from './lib.ts';

/** A ticket as a busy board has them: spread over states and repositories, with usage and a timeline. */
function sample(i: number): Ticket {
  const id = `tk-${i.toString(32).padStart(10, '0')}`;
  const created = new Date(Date.UTC(2026, 0, 1) + i * 60_000);
  const t = newTicket(id, { title: `Ticket ${i}: add a --flag-${i % 97} option`, body: 'Print each step. '.repeat(20), repo: { path: `/src/repo-${i % 20}` }, type: i % 5 === 0 ? 'bug' : 'feature', labels: ['cli'] }, created, 'bench');
  const state = STATES[i % STATES.length]!;
  const at = new Date(created.getTime() + 30_000).toISOString();
  return {
    ...t,
    state,
    usage: { refiner: { inputTokens: 1200, outputTokens: 300, totalTokens: 1500, calls: 2 } },
    timeline: [...t.timeline, ...Array.from({ length: 6 }, (_, k) => ({ at, by: 'coordinator', event: 'transition' as const, from: 'received' as const, to: state, reason: `step ${k}` }))],
    updatedAt: at,
  };
}

async function run(opts: BenchOptions): Promise<void> {
  const n = opts.quick ? 1_000 : 10_000;
  const names = [`web board render, ${n} tickets`, `web board render with a text filter, ${n} tickets`];
  if (spawnSync('nats-server', ['--version']).error) {
    for (const b of names) skipped(opts, b, 'nats-server not on PATH');
    return;
  }
  await using nats = await startNatsServer();
  const config = loadConfig({}, { NATS_URL: nats.url, NIGHTSHIFT_PREFIX: 'bench' });
  const log = createLogger({ level: 'silent' });
  const bus = await connectBus({ url: nats.url, prefix: 'bench', name: 'bench-web', log });
  try {
    await provision(bus, provisionOptions(config));
    const kv = await bus.tickets();
    const store = new TicketStore(kv);
    for (let i = 0; i < n; i += 100) await Promise.all(Array.from({ length: Math.min(100, n - i) }, (_, k) => store.create(sample(i + k))));

    // The baseline: every record read from the bucket, as fast as KV gives them (one ordered watch), parsed.
    const readAll = async () => {
      const iter = await kv.watch({ ignoreDeletes: true });
      let seen = 0;
      for await (const e of iter) {
        Ticket.parse(e.json());
        if (++seen === n) break;
      }
      iter.stop();
    };
    const index = new BoardIndex();
    const stop = new AbortController();
    const watching = (async () => {
      for await (const t of store.watch(stop.signal)) index.apply(t);
    })();
    const t0 = Date.now();
    while (index.size < n) {
      if (Date.now() - t0 > 300_000) throw new Error(`the index holds ${index.size} of ${n} tickets after 5 minutes`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const app = createWebApp({
      index,
      ticket: async (id) => (await store.get(id))?.ticket ?? null,
      pullRequest: async () => null,
      answer: () => Promise.reject(new Error('not in the bench')),
      cancel: () => Promise.reject(new Error('not in the bench')),
      auth: { token: undefined, proxyHeader: undefined, readOpen: true },
      log,
    });
    const render = (path: string) => async () => {
      const r = await app.request(path);
      if (r.status !== 200) throw new Error(`${path}: HTTP ${r.status}`);
      await r.text();
    };
    const runs = opts.quick ? 3 : 5;
    const baseline = await measure(runs, readAll);
    for (const [bench, path] of [
      [names[0]!, '/'],
      [names[1]!, '/?q=flag-7'],
    ] as const) {
      const board = await measure(opts.quick ? 5 : 20, render(path));
      print(opts, { bench, value: board.ms, baseline: baseline.ms, unit: 'ms', ratio: board.ms / baseline.ms, goal: '<= 2', tickets: n });
    }
    stop.abort();
    await watching;
  } finally {
    await bus.close();
  }
}

/** The web console's board against reading its tickets from KV. */
export const web: BenchModule = { name: 'web', what: "the web console's board for 10,000 tickets against reading them from KV (nats-server)", run };
