/**
 * Orchestration: the coordinator and the agents on a real nats-server (one per group of runs,
 * JetStream on file storage), each coordinator and agent replica its own process, started as a
 * deployment starts them (`nightshift coordinator`, `nightshift agent <role>` with the agents' node
 * flags). Handlers are no-ops (or wait a simulated stage: bench/noop-handler.ts), so the figures are
 * the orchestration's alone.
 *
 * - hand-off: from the refiner's `stage.completed` reaching the bus to the test author's work item
 *   arriving at a consumer of the test author's durable consumer (the bench plays the test author, so
 *   that arrival is seen as it happens), through a real coordinator and a real refiner runtime; against
 *   a raw chain of the minimal steps, measured the same way, interleaved: a hop (publish on a work-queue
 *   stream, consumed by a durable consumer), a KV get and compare-and-set update of the same ticket
 *   record, and a second hop.
 * - no-op throughput: tickets per second through four roles with no-op handlers, in the steady state
 *   (between the first and the last of 200 tickets posted at once reaching `pr_open`, after 100 to warm
 *   up: a ticket's own way through the chain, the time to fill the pipeline, is latency, not
 *   throughput), at 1, 2, 4 and 8
 *   replicas of every role (the coordinator included), with how many of the machine's cores the run
 *   kept busy; against the bound of
 *   the raw operations a ticket needs (a KV create, a compare-and-set for the first dispatch, then per
 *   stage a work hop, a result hop and a compare-and-set), done back to back by as many concurrent
 *   chains as there are replicas per role. The 1 → 2 replicas speed-up has a line of its own.
 * - scaling: tickets per second in the steady state (between the first and the last ticket done) with
 *   every stage waiting a simulated stage, at 8 replicas against linear (8 × the 1-replica rate).
 *
 * `--quick` runs fewer tickets, and a 100 ms simulated stage instead of 1 s.
 *
 * One file: the stack it starts, the raw chains it measures against and the three measurements are one
 * experiment, and each raw chain sits beside the figure it bounds so that both are seen to count the
 * same steps.
 */
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { AckPolicy, RetentionPolicy, StorageType, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { AGENT_NODE_FLAGS } from '../cli/up.ts';
import { StageCompleted, type Bus } from '../bus/index.ts';
import { delay, IntakeReply, ticketIdForExternalId, type Role } from '../shared/index.ts';
import { setup, type TestEnv } from '../test/helpers/env.ts';
import { makeRepo } from '../test/helpers/git.ts';
import { coresBusy, cpuTimes, median, percentile, print, skipped, type BenchModule, type BenchOptions } from './lib.ts';

const ROLES: readonly Role[] = ['refiner', 'test-author', 'coder', 'reviewer'];
const REPLICAS = [1, 2, 4, 8] as const;
/** Tickets of a no-op throughput run: enough that the steady state outlasts filling the pipeline. */
const THROUGHPUT_TICKETS = 200;
/** Production timers, not the tests' short ones: the bench measures what a deployment would do. */
const SETTINGS = { NIGHTSHIFT_ACK_WAIT: '30s', NIGHTSHIFT_SWEEP_INTERVAL: '1s', NIGHTSHIFT_LOST_WORK_CHECK: '30s' };
let benchSeq = 0;
let rawTickets = 0;

/** Coordinators and agent processes, `replicas` of each. */
interface Stack {
  stop(): Promise<void>;
}

const CLI = fileURLToPath(new URL('../bin/nightshift.ts', import.meta.url));
const NOOP_HANDLER = fileURLToPath(new URL('./noop-handler.ts', import.meta.url));
/** How long the processes of a stack may take to start, all together, on a busy machine. */
const START_DEADLINE_MS = 180_000;

/**
 * `replicas` coordinator processes and `replicas` agent processes per role, each the real
 * `nightshift coordinator` / `nightshift agent <role> --handler bench/noop-handler.ts` with the node
 * flags `nightshift up` gives it, as a deployment runs them; resolves once every one reports that it
 * serves (the phase messages `up` waits on).
 */
async function startStack(env: TestEnv, replicas: number, stageMs: number, roles: readonly Role[] = ROLES): Promise<Stack> {
  const procs: ChildProcess[] = [];
  const ready: Promise<void>[] = [];
  const start = (args: string[], flags: readonly string[]) => {
    const p = fork(CLI, args, {
      execArgv: [...flags],
      env: { ...process.env, ...env.childEnv, NIGHTSHIFT_LOG_LEVEL: 'error', BENCH_STAGE_MS: String(stageMs) },
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    procs.push(p);
    ready.push(
      new Promise<void>((resolve, reject) => {
        p.on('message', (m: { type?: string; phase?: unknown }) => {
          if (m?.type === 'phase' && m.phase === null) resolve();
        });
        p.once('exit', (code, sig) => reject(new Error(`nightshift ${args.join(' ')} exited (${code ?? sig}) before it served`)));
      }),
    );
  };
  for (let i = 0; i < replicas; i++) {
    start(['coordinator'], []);
    for (const role of roles) start(['agent', role, '--handler', NOOP_HANDLER], AGENT_NODE_FLAGS);
  }
  const stop = async () => {
    await Promise.all(
      procs.map(
        (p) =>
          new Promise<void>((resolve) => {
            if (p.exitCode !== null || p.signalCode !== null) return resolve();
            const force = setTimeout(() => p.kill('SIGKILL'), 30_000);
            p.once('exit', () => {
              clearTimeout(force);
              resolve();
            });
            p.kill('SIGTERM');
          }),
      ),
    );
  };
  try {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the bench stack did not serve within ${START_DEADLINE_MS / 1_000} s`)), START_DEADLINE_MS);
    });
    await Promise.race([Promise.all(ready), late]).finally(() => clearTimeout(timer));
  } catch (err) {
    await stop();
    throw err;
  }
  return { stop };
}

async function post(bus: Bus, repo: string, externalId?: string): Promise<string> {
  const body = { title: 'bench', body: 'a no-op ticket', repo: { path: repo }, ...(externalId && { externalId }) };
  const reply = IntakeReply.parse((await bus.nc.request(bus.subjects.ticketIntake, JSON.stringify(body), { timeout: 30_000 })).json());
  if (!reply.ok) throw new Error(`intake refused the bench ticket: ${reply.error.message}`);
  return reply.id;
}

/** Resolves each ticket id's time (performance.now) of reaching `state`, as the tickets bucket shows it. */
async function watchState(bus: Bus, state: string): Promise<{ doneAt: Map<string, number>; until(ids: readonly string[]): Promise<void>; stop(): void }> {
  const kv = await bus.tickets();
  const iter = await kv.watch();
  const doneAt = new Map<string, number>();
  let wake: (() => void) | undefined;
  void (async () => {
    for await (const e of iter) {
      if (e.operation !== 'PUT' || doneAt.has(e.key)) continue;
      if ((e.json() as { state?: string }).state === state) {
        doneAt.set(e.key, performance.now());
        wake?.();
      }
    }
  })();
  return {
    doneAt,
    async until(ids) {
      const deadline = Date.now() + 300_000;
      for (;;) {
        const left = ids.filter((id) => !doneAt.has(id)).length;
        if (left === 0) return;
        if (Date.now() > deadline) throw new Error(`${left} of ${ids.length} tickets did not reach ${state} in 5 minutes`);
        await Promise.race([new Promise<void>((r) => (wake = r)), delay(1_000)]);
      }
    },
    stop: () => iter.stop(),
  };
}

/** Posts `n` tickets at once and returns when each reached pr_open (performance.now), from `t0`. */
async function runTickets(env: TestEnv, repo: string, n: number): Promise<{ ids: string[]; t0: number; done: number[] }> {
  const watch = await watchState(env.bus, 'pr_open');
  const t0 = performance.now();
  const ids = await Promise.all(Array.from({ length: n }, () => post(env.bus, repo)));
  await watch.until(ids);
  watch.stop();
  return { ids, t0, done: ids.map((id) => watch.doneAt.get(id)!).sort((a, b) => a - b) };
}

// ---- the raw operations -------------------------------------------------------------------

/**
 * A work-queue stream with two durable consumers (hops of work, hops of results) and a KV bucket,
 * for the raw chains; every message is handed to whoever waits for its subject.
 */
interface Raw {
  prefix: string;
  kv: KV;
  /** Publishes `data` on `subject` and resolves with the message once a consumer delivers it. */
  hop(subject: string, data: Uint8Array): Promise<number>;
  stop(): Promise<void>;
}

async function rawOps(bus: Bus): Promise<Raw> {
  const prefix = `${bus.subjects.prefix}.benchraw${++benchSeq}`;
  const stream = `${bus.names.workStream}_RAW${benchSeq}`;
  await bus.jsm.streams.add({ name: stream, subjects: [`${prefix}.>`], retention: RetentionPolicy.Workqueue, storage: StorageType.File });
  const kv = await new Kvm(bus.js).create(`${bus.subjects.prefix}-benchraw${benchSeq}`, { history: 5, storage: StorageType.File });
  const waiting = new Map<string, (at: number) => void>();
  const early = new Map<string, number>();
  const pulls: ConsumerMessages[] = [];
  for (const part of ['work', 'results']) {
    await bus.jsm.consumers.add(stream, { durable_name: part, filter_subject: `${prefix}.${part}.>`, ack_policy: AckPolicy.Explicit, max_ack_pending: 1_000 });
    const pull = await (await bus.js.consumers.get(stream, part)).consume({ max_messages: 64 });
    pulls.push(pull);
    void (async () => {
      for await (const m of pull) deliver(m);
    })();
  }
  function deliver(m: JsMsg): void {
    const at = performance.now();
    m.ack();
    const w = waiting.get(m.subject);
    if (w) {
      waiting.delete(m.subject);
      w(at);
    } else early.set(m.subject, at);
  }
  return {
    prefix,
    kv,
    async hop(subject, data) {
      const arrived = new Promise<number>((resolve) => {
        const at = early.get(subject);
        if (at !== undefined) {
          early.delete(subject);
          resolve(at);
        } else waiting.set(subject, resolve);
      });
      await bus.js.publish(subject, data);
      return arrived;
    },
    async stop() {
      for (const p of pulls) await p.close();
      await bus.jsm.streams.delete(stream);
      await kv.destroy();
    },
  };
}

/** One compare-and-set step as the coordinator takes it: read the record, write it back at that revision. */
async function casStep(kv: KV, key: string): Promise<void> {
  const e = await kv.get(key);
  if (!e) throw new Error(`raw record ${key} is gone`);
  await kv.update(key, e.value, e.revision);
}

/** The raw operations of one ticket from intake to its last stage, back to back. */
async function rawTicket(raw: Raw, id: string, record: Uint8Array): Promise<void> {
  await raw.kv.create(id, record);
  await casStep(raw.kv, id);
  for (let stage = 0; stage < ROLES.length; stage++) {
    await raw.hop(`${raw.prefix}.work.${id}.${stage}`, record);
    await raw.hop(`${raw.prefix}.results.${id}.${stage}`, record);
    await casStep(raw.kv, id);
  }
}

/** `n` raw tickets by `chains` concurrent chains; tickets per second. */
async function rawRate(raw: Raw, record: Uint8Array, n: number, chains: number): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: chains }, async () => {
      while (next < n) {
        next += 1;
        await rawTicket(raw, `raw${++rawTickets}`, record);
      }
    }),
  );
  return n / ((performance.now() - t0) / 1_000);
}

// ---- the groups ---------------------------------------------------------------------------

async function handOff(opts: BenchOptions, repo: string): Promise<void> {
  await using env = await setup(SETTINGS);
  const stack = await startStack(env, 1, 0, ['refiner']);
  const raw = await rawOps(env.bus);
  const { subjects, names } = env.bus;
  try {
    // The refiner's results, as they reach the bus; the test author's work, as its consumer delivers it.
    const completedAt = new Map<string, number>();
    const sub = env.bus.nc.subscribe(subjects.eventsFrom('refiner'), {
      callback: (_err, m) => {
        const at = performance.now();
        const ev = subjects.parseEvent(m.subject);
        if (ev?.type === StageCompleted.type) completedAt.set(ev.ticketId, at);
      },
    });
    const arrived = new Map<string, (at: number) => void>();
    const pull = await (await env.bus.js.consumers.get(names.workStream, names.roleConsumer('test-author'))).consume({ max_messages: 64 });
    void (async () => {
      for await (const m of pull) {
        const at = performance.now();
        m.ack();
        arrived.get(m.subject.split('.').pop()!)?.(at);
      }
    })();
    const rawHopAt = new Map<string, number>();
    const rawSub = env.bus.nc.subscribe(`${raw.prefix}.work.>`, { callback: (_err, m) => void rawHopAt.set(m.subject, performance.now()) });
    await env.bus.nc.flush();

    const store = await env.bus.tickets();
    const runs = opts.quick ? 5 : 60;
    const coordinated: number[] = [];
    const chained: number[] = [];
    for (let i = 0; i < runs + 3; i++) {
      const id = ticketIdForExternalId(`bench-handoff-${benchSeq}-${i}`);
      const reached = new Promise<number>((resolve) => arrived.set(id, resolve));
      await post(env.bus, repo, `bench-handoff-${benchSeq}-${i}`);
      const at = await reached;
      arrived.delete(id);
      // The same ticket record, for the raw chain's compare-and-set: the same bytes the coordinator writes.
      const record = (await store.get(id))!.value;
      const key = `h${i}`;
      await raw.kv.create(key, record);
      const hop1 = `${raw.prefix}.work.${key}.1`;
      await raw.hop(hop1, record);
      await casStep(raw.kv, key);
      const end = await raw.hop(`${raw.prefix}.results.${key}.2`, record);
      if (i < 3) continue; // warm-up
      coordinated.push(at - completedAt.get(id)!);
      chained.push(end - rawHopAt.get(hop1)!);
    }
    sub.unsubscribe();
    rawSub.unsubscribe();
    await pull.close();
    const m = median(coordinated);
    const b = median(chained);
    print(opts, { bench: 'hand-off through the coordinator (median)', value: m, baseline: b, unit: 'ms', ratio: m / b, goal: '<= 1.5', runs });
    const p = percentile(coordinated, 95);
    const pb = percentile(chained, 95);
    print(opts, { bench: 'hand-off through the coordinator (p95)', value: p, baseline: pb, unit: 'ms', ratio: p / pb, runs });
  } finally {
    await stack.stop();
    await raw.stop();
  }
}

async function throughput(opts: BenchOptions, repo: string): Promise<void> {
  await using env = await setup(SETTINGS);
  const raw = await rawOps(env.bus);
  const store = await env.bus.tickets();
  let record: Uint8Array | undefined;
  const rates = new Map<number, number>();
  try {
    for (const replicas of REPLICAS) {
      const n = opts.quick ? 4 * replicas : THROUGHPUT_TICKETS;
      const stack = await startStack(env, replicas, 0);
      let rate: number;
      let cores: string | undefined;
      try {
        // Warm-up: fresh processes run their first hundred tickets on code not yet optimised.
        const warm = await runTickets(env, repo, opts.quick ? 1 : THROUGHPUT_TICKETS / 2);
        // The raw chains write a ticket record as the coordinator last wrote it (at pr_open).
        record ??= (await store.get(warm.ids[0]!))!.value;
        const before = cpuTimes();
        const { done } = await runTickets(env, repo, n);
        rate = (n - 1) / ((done.at(-1)! - done[0]!) / 1_000);
        cores = coresBusy(before, cpuTimes());
      } finally {
        await stack.stop();
      }
      await rawRate(raw, record!, opts.quick ? 1 : THROUGHPUT_TICKETS / 2, replicas); // warm-up, the same
      const bound = await rawRate(raw, record!, n, replicas);
      rates.set(replicas, rate);
      print(opts, { bench: `no-op throughput, ${replicas} replica${replicas > 1 ? 's' : ''} per role`, value: rate, baseline: bound, unit: 'tickets/s', ratio: rate / bound, goal: '>= 0.6', tickets: n, ...(cores && { coresBusy: cores }) });
    }
  } finally {
    await raw.stop();
  }
  const one = rates.get(1)!;
  const two = rates.get(2)!;
  print(opts, { bench: 'no-op throughput speed-up, 1 -> 2 replicas', value: two, baseline: one, unit: 'tickets/s', ratio: two / one, goal: '>= 1.7' });
}

async function scaling(opts: BenchOptions, repo: string): Promise<void> {
  await using env = await setup(SETTINGS);
  const stageMs = opts.quick ? 100 : 1_000;
  /** Steady-state rate: tickets done per second between the first and the last one done. */
  const rateAt = async (replicas: number, n: number): Promise<number> => {
    const stack = await startStack(env, replicas, stageMs);
    try {
      const { done } = await runTickets(env, repo, n);
      return (n - 1) / ((done.at(-1)! - done[0]!) / 1_000);
    } finally {
      await stack.stop();
    }
  };
  const perReplica = opts.quick ? 2 : 8;
  const one = await rateAt(1, perReplica);
  const eight = await rateAt(8, 8 * perReplica);
  print(opts, { bench: `scaling with a simulated stage, 8 replicas`, value: eight, baseline: 8 * one, unit: 'tickets/s', ratio: eight / (8 * one), goal: '>= 0.9', stageMs, oneReplica: Number(one.toFixed(3)) });
}

export const orchestration: BenchModule = {
  name: 'orchestration',
  what: 'hand-off through the coordinator, no-op throughput at 1-8 replicas, scaling with a simulated stage (nats-server)',
  async run(opts) {
    const t0 = performance.now();
    const phase = (what: string) => process.stderr.write(`orchestration: ${what} after ${((performance.now() - t0) / 1_000).toFixed(1)} s\n`);
    const names = ['hand-off through the coordinator (median)', 'hand-off through the coordinator (p95)', ...REPLICAS.map((r) => `no-op throughput, ${r} replica${r > 1 ? 's' : ''} per role`), 'no-op throughput speed-up, 1 -> 2 replicas', 'scaling with a simulated stage, 8 replicas'];
    if (spawnSync('nats-server', ['--version']).error) {
      for (const n of names) skipped(opts, n, 'nats-server is not on PATH');
      return;
    }
    const repo = makeRepo();
    try {
      await handOff(opts, repo);
      phase('hand-off done');
      await throughput(opts, repo);
      phase('throughput done');
      await scaling(opts, repo);
      phase('scaling done');
    } finally {
      rmSync(repo, { recursive: true, force: true });
    }
  },
};
