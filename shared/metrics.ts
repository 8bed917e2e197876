import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { ROLES, STATES, type Role } from './ticket/states.ts';

/**
 * The Prometheus figures of nightshift, one registry per process, served on `GET /metrics` by the
 * health server (shared/health.ts). Every figure is made on first use, so a process only shows the
 * figures it keeps (the coordinator its tickets, an agent its stages, sandbox runs and model calls);
 * `METRIC_NAMES` lists them all, for the Grafana dashboard's test.
 */

/** Buckets (seconds) of stage and sandbox durations: a stage takes from seconds to an hour. */
const LONG_BUCKETS = [0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];
/** Buckets (seconds) of one model call. */
const MODEL_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160];

/** How a stage attempt's delivery ended, for `nightshift_stage_duration_seconds{outcome}`. */
export type StageEnd = 'completed' | 'failed' | 'retried' | 'fenced' | 'handed_back';

/** How a sandbox run ended, for `nightshift_sandbox_run_duration_seconds{outcome}`. */
export type SandboxOutcome = 'ok' | 'nonzero' | 'timeout' | 'oom' | 'output_limit' | 'cancelled' | 'error';

/** What the sandbox tells its observer of one run (`DockerSandboxOptions.onRun`). */
export interface SandboxRunObservation {
  outcome: SandboxOutcome;
  network: 'none' | 'bridge';
  durationMs: number;
}

/** The work a role's consumer holds: waiting to be delivered, and delivered but not yet acked. */
export interface ConsumerCounts {
  num_pending: number;
  num_ack_pending: number;
}

/** Bound on reading the role consumers when scraped: a bus that does not answer leaves the figure out. */
const PENDING_TIMEOUT_MS = 2_000;

/** A process's registry and its figures. */
export interface Metrics {
  readonly registry: Registry;
  tickets(): Gauge<'state'>;
  escalationsWaiting(): Gauge;
  escalationOldestAge(): Gauge;
  workPending(): Gauge<'role'>;
  stageDuration(): Histogram<'stage' | 'outcome'>;
  workStarted(): Counter<'stage'>;
  workRedeliveries(): Counter<'stage'>;
  sandboxRunDuration(): Histogram<'outcome' | 'network'>;
  modelCallDuration(): Histogram<'role' | 'outcome'>;
  modelTokens(): Counter<'role' | 'kind'>;
}

/** A fresh registry with nightshift's figures (made on first use). Processes use `metrics`. */
export function createMetrics(registry: Registry = new Registry()): Metrics {
  const once = <T>(make: () => T): (() => T) => {
    let made: T | undefined;
    return () => (made ??= make());
  };
  const registers = [registry];
  return {
    registry,
    tickets: once(() => new Gauge({ name: 'nightshift_tickets', help: 'Tickets by state, as the coordinator sees them.', labelNames: ['state'], registers })),
    escalationsWaiting: once(() => new Gauge({ name: 'nightshift_escalations_waiting', help: 'Tickets awaiting a human answer.', registers })),
    escalationOldestAge: once(
      () => new Gauge({ name: 'nightshift_escalation_oldest_age_seconds', help: 'Age of the oldest question waiting for a human (0 when none waits).', registers }),
    ),
    workPending: once(
      () =>
        new Gauge({
          name: 'nightshift_work_pending',
          help: "Work items per role not yet done: waiting in the role's consumer plus delivered and not yet acked.",
          labelNames: ['role'],
          registers,
        }),
    ),
    stageDuration: once(
      () =>
        new Histogram({
          name: 'nightshift_stage_duration_seconds',
          help: 'How long a delivery of a stage attempt took in its agent, by how it ended.',
          labelNames: ['stage', 'outcome'],
          buckets: LONG_BUCKETS,
          registers,
        }),
    ),
    workStarted: once(() => new Counter({ name: 'nightshift_work_started_total', help: 'Work item deliveries an agent started, by stage.', labelNames: ['stage'], registers })),
    workRedeliveries: once(
      () => new Counter({ name: 'nightshift_work_redeliveries_total', help: 'Work item deliveries after the first (retries, crashed or slow agents), by stage.', labelNames: ['stage'], registers }),
    ),
    sandboxRunDuration: once(
      () =>
        new Histogram({
          name: 'nightshift_sandbox_run_duration_seconds',
          help: 'Sandbox runs: their duration, by outcome and network.',
          labelNames: ['outcome', 'network'],
          buckets: LONG_BUCKETS,
          registers,
        }),
    ),
    modelCallDuration: once(
      () =>
        new Histogram({
          name: 'nightshift_model_call_duration_seconds',
          help: 'Latency of each model request (every attempt), by role and outcome (ok, error).',
          labelNames: ['role', 'outcome'],
          buckets: MODEL_BUCKETS,
          registers,
        }),
    ),
    modelTokens: once(() => new Counter({ name: 'nightshift_model_tokens_total', help: 'Model tokens spent, by role and kind (input, output).', labelNames: ['role', 'kind'], registers })),
  };
}

/** Every figure's name, the standard process metrics aside. */
export function metricNames(): string[] {
  const m = createMetrics();
  for (const make of Object.values(m)) if (typeof make === 'function') make();
  return m.registry.getMetricsAsArray().map((x) => x.name);
}

/** This process's figures. */
export const metrics: Metrics = createMetrics();

let labelled = false;

/**
 * Names this process in every figure (`process_kind`: coordinator, an agent's role, slack, github, web)
 * and adds the standard process and Node.js metrics (CPU, memory, event loop lag, GC). Once per
 * process; later calls are ignored.
 */
export function labelProcess(kind: string): void {
  if (labelled) return;
  labelled = true;
  metrics.registry.setDefaultLabels({ process_kind: kind });
  collectDefaultMetrics({ register: metrics.registry });
}

/** Records one model request of `role`: its latency, and on success its tokens. */
export function observeModelCall(role: string, ms: number, tokens?: { inputTokens: number; outputTokens: number }): void {
  metrics.modelCallDuration().observe({ role, outcome: tokens ? 'ok' : 'error' }, ms / 1000);
  if (!tokens) return;
  metrics.modelTokens().inc({ role, kind: 'input' }, tokens.inputTokens);
  metrics.modelTokens().inc({ role, kind: 'output' }, tokens.outputTokens);
}

/** Records one sandbox run (the `onRun` observer the agents give their sandbox). */
export function observeSandboxRun(run: SandboxRunObservation): void {
  metrics.sandboxRunDuration().observe({ outcome: run.outcome, network: run.network }, run.durationMs / 1000);
}

/**
 * Counts the start of a delivery of `stage` (and a redelivery when `deliveries` > 1); returns the
 * function that records its duration with how it ended (only the first call counts).
 */
export function startStage(stage: string, deliveries: number, now: () => number = performance.now.bind(performance)): (end: StageEnd) => void {
  metrics.workStarted().inc({ stage });
  if (deliveries > 1) metrics.workRedeliveries().inc({ stage });
  const started = now();
  let ended = false;
  return (end) => {
    if (ended) return;
    ended = true;
    metrics.stageDuration().observe({ stage, outcome: end }, (now() - started) / 1000);
  };
}

/** What the census needs of a ticket. */
export interface CensusTicket {
  id: string;
  state: string;
  parked: { askedAt: string } | null;
}

/**
 * The coordinator's count of tickets by state and of the escalations waiting, kept from its ticket
 * watch (`observe` every ticket it sees) and read when scraped: every state is shown, 0 included.
 */
export function ticketCensus(m: Metrics = metrics, clock: () => number = Date.now): { observe(t: CensusTicket): void } {
  const states = new Map<string, string>();
  const asked = new Map<string, number>();
  const tickets = m.tickets();
  const waiting = m.escalationsWaiting();
  const oldest = m.escalationOldestAge();
  for (const s of STATES) tickets.set({ state: s }, 0);
  const refresh = () => {
    const counts = new Map<string, number>(STATES.map((s) => [s, 0]));
    for (const s of states.values()) counts.set(s, (counts.get(s) ?? 0) + 1);
    for (const [state, n] of counts) tickets.set({ state }, n);
    waiting.set(asked.size);
    oldest.set(asked.size === 0 ? 0 : Math.max(0, (clock() - Math.min(...asked.values())) / 1000));
  };
  // prom-client calls `collect` on every scrape: the figures are computed then, not on every change.
  for (const g of [tickets, waiting, oldest]) (g as unknown as { collect?: () => void }).collect = refresh;
  return {
    observe(t) {
      states.set(t.id, t.state);
      const at = t.state === 'awaiting_human' && t.parked ? Date.parse(t.parked.askedAt) : NaN;
      if (Number.isFinite(at)) asked.set(t.id, at);
      else asked.delete(t.id);
    },
  };
}

/**
 * Reads the work pending per role from the role consumers on every scrape (the coordinator's
 * `nightshift_work_pending{role}`): `info(role)` is the consumer's info, bounded by a short
 * timeout; a role whose consumer does not answer in time is left out of that scrape.
 */
export function measureWorkPending(info: (role: Role) => Promise<ConsumerCounts>, m: Metrics = metrics): void {
  const gauge = m.workPending();
  (gauge as unknown as { collect?: () => Promise<void> }).collect = async () => {
    const read = await Promise.all(
      ROLES.map(async (role) => {
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), PENDING_TIMEOUT_MS)));
        try {
          const c = await Promise.race([info(role), late]);
          return c ? ([role, c.num_pending + c.num_ack_pending] as const) : null;
        } catch {
          return null;
        } finally {
          clearTimeout(timer);
        }
      }),
    );
    gauge.reset();
    for (const r of read) if (r) gauge.set({ role: r[0] }, r[1]);
  };
}
