import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createMetrics, measureWorkPending, metricNames, metrics, observeSandboxRun, startStage, ticketCensus } from './metrics.ts';
import { STATES } from './ticket/states.ts';

/** The samples of `name` in the registry's text exposition, by their label set. */
async function samples(registry: Registry, name: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const line of (await registry.metrics()).split('\n')) {
    const m = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m && m[1] === name) out.set(m[2] ?? '', Number(m[3]));
  }
  return out;
}

describe('metrics', () => {
  it('counts tickets by state from what the watch saw last of each, every state shown, and the escalations waiting with the oldest age', async () => {
    const m = createMetrics(new Registry());
    let now = Date.parse('2026-01-01T10:00:00Z');
    const census = ticketCensus(m, () => now);
    census.observe({ id: 'a', state: 'received', parked: null });
    census.observe({ id: 'b', state: 'coding', parked: null });
    census.observe({ id: 'a', state: 'refining', parked: null });
    census.observe({ id: 'c', state: 'awaiting_human', parked: { askedAt: '2026-01-01T09:00:00Z' } });
    census.observe({ id: 'd', state: 'awaiting_human', parked: { askedAt: '2026-01-01T09:30:00Z' } });
    const tickets = await samples(m.registry, 'nightshift_tickets');
    expect(tickets.size).toBe(STATES.length);
    expect(tickets.get('{state="refining"}')).toBe(1);
    expect(tickets.get('{state="coding"}')).toBe(1);
    expect(tickets.get('{state="awaiting_human"}')).toBe(2);
    expect(tickets.get('{state="received"}')).toBe(0);
    expect(await samples(m.registry, 'nightshift_escalations_waiting')).toEqual(new Map([['', 2]]));
    expect(await samples(m.registry, 'nightshift_escalation_oldest_age_seconds')).toEqual(new Map([['', 3600]]));

    // Answered: the ticket goes back to a stage; the oldest waiting is now d.
    census.observe({ id: 'c', state: 'refining', parked: null });
    now += 60_000;
    expect(await samples(m.registry, 'nightshift_escalations_waiting')).toEqual(new Map([['', 1]]));
    expect(await samples(m.registry, 'nightshift_escalation_oldest_age_seconds')).toEqual(new Map([['', 1860]]));
    expect((await samples(m.registry, 'nightshift_tickets')).get('{state="refining"}')).toBe(2);
    census.observe({ id: 'd', state: 'cancelled', parked: null });
    expect(await samples(m.registry, 'nightshift_escalation_oldest_age_seconds')).toEqual(new Map([['', 0]]));
  });

  it("reads the work pending per role from the role consumers when scraped, leaving out a role whose consumer fails", async () => {
    const m = createMetrics(new Registry());
    const asked: string[] = [];
    measureWorkPending(async (role) => {
      asked.push(role);
      if (role === 'reviewer') throw new Error('no responders');
      return { num_pending: role === 'coder' ? 3 : 0, num_ack_pending: role === 'coder' ? 1 : role === 'triager' ? 2 : 0 };
    }, m);
    const pending = await samples(m.registry, 'nightshift_work_pending');
    expect(asked.sort()).toEqual(['coder', 'refiner', 'reviewer', 'test-author', 'triager']);
    expect(pending).toEqual(
      new Map([
        ['{role="triager"}', 2],
        ['{role="refiner"}', 0],
        ['{role="test-author"}', 0],
        ['{role="coder"}', 4],
      ]),
    );
  });

  it('bounds the read of a consumer that does not answer: the scrape ends, without that role', async () => {
    const m = createMetrics(new Registry());
    measureWorkPending((role) => (role === 'coder' ? new Promise(() => undefined) : Promise.resolve({ num_pending: 1, num_ack_pending: 0 })), m);
    const started = Date.now();
    const pending = await samples(m.registry, 'nightshift_work_pending');
    expect(Date.now() - started).toBeLessThan(30_000);
    expect([...pending.keys()].sort()).toEqual(['{role="refiner"}', '{role="reviewer"}', '{role="test-author"}', '{role="triager"}']);
  });

  it('records a stage delivery once, with its outcome, and counts redeliveries', async () => {
    let t = 1_000;
    const end = startStage('coding', 1, () => t);
    t += 2_500;
    end('retried');
    end('failed');
    startStage('coding', 2, () => t)('completed');
    const text = await metrics.registry.metrics();
    expect(text).toContain('nightshift_work_started_total{stage="coding"} 2');
    expect(text).toContain('nightshift_work_redeliveries_total{stage="coding"} 1');
    expect(text).toContain('nightshift_stage_duration_seconds_sum{stage="coding",outcome="retried"} 2.5');
    expect(text).toContain('nightshift_stage_duration_seconds_count{stage="coding",outcome="retried"} 1');
    expect(text).toContain('nightshift_stage_duration_seconds_count{stage="coding",outcome="completed"} 1');
    expect(text).not.toContain('outcome="failed"');
  });

  it('records sandbox runs by outcome and network', async () => {
    observeSandboxRun({ outcome: 'nonzero', network: 'none', durationMs: 1200 });
    observeSandboxRun({ outcome: 'ok', network: 'bridge', durationMs: 300 });
    const text = await metrics.registry.metrics();
    expect(text).toContain('nightshift_sandbox_run_duration_seconds_sum{outcome="nonzero",network="none"} 1.2');
    expect(text).toContain('nightshift_sandbox_run_duration_seconds_count{outcome="ok",network="bridge"} 1');
  });

  it('names every figure once, all in nightshift_ style', () => {
    const names = metricNames();
    expect(new Set(names).size).toBe(names.length);
    expect(names).toContain('nightshift_tickets');
    expect(names).toContain('nightshift_work_pending');
    for (const n of names) expect(n).toMatch(/^nightshift_[a-z_]+$/);
  });
});
