import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { logSink } from '../test/helpers/env.ts';
import { loadConfig } from './config.ts';
import { createMetrics, observeModelCall } from './metrics.ts';
import { onHealthServing, onPhaseChange, readinessOf, startHealthServer, withHealth, type ProcessState } from './health.ts';

describe('health endpoints', () => {
  it('answer liveness always, readiness by the process state, and refuse other paths and methods', async () => {
    const state: ProcessState = { phase: 'connecting to NATS' };
    let up = true;
    await using health = await startHealthServer({ host: '127.0.0.1', port: 0, ready: readinessOf(state), log: logSink().log });
    const get = async (path: string, method = 'GET') => {
      const r = await fetch(`${health.url}${path}`, { method });
      return { status: r.status, body: (await r.json()) as Record<string, unknown> };
    };
    expect(await get('/healthz')).toEqual({ status: 200, body: { ok: true } });
    expect(await get('/readyz')).toEqual({ status: 503, body: { ok: false, ready: false, reason: 'connecting to NATS' } });
    state.connected = () => up;
    state.phase = null;
    expect(await get('/readyz')).toEqual({ status: 200, body: { ok: true, ready: true } });
    expect(await get('/readyz?verbose=1')).toMatchObject({ status: 200 });
    up = false;
    expect(await get('/readyz')).toEqual({ status: 503, body: { ok: false, ready: false, reason: 'disconnected from NATS; reconnecting' } });
    expect(await get('/healthz')).toEqual({ status: 200, body: { ok: true } });
    state.phase = 'stopping';
    expect((await get('/readyz')).body.reason).toBe('stopping');
    expect(await get('/metrics.json')).toMatchObject({ status: 404, body: { ok: false, error: { code: 'not_found' } } });
    expect(await get('/healthz', 'POST')).toMatchObject({ status: 405, body: { ok: false, error: { code: 'method_not_allowed' } } });
  });

  it('serves the registry it is given on GET /metrics in the Prometheus text format, whatever the readiness', async () => {
    const m = createMetrics(new Registry());
    m.registry.setDefaultLabels({ process_kind: 'coder' });
    m.modelTokens().inc({ role: 'coder', kind: 'input' }, 42);
    await using health = await startHealthServer({ host: '127.0.0.1', port: 0, ready: () => 'connecting to NATS', log: logSink().log, registry: m.registry });
    const r = await fetch(`${health.url}/metrics`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe(m.registry.contentType);
    const text = await r.text();
    expect(text).toContain('# TYPE nightshift_model_tokens_total counter');
    expect(text).toContain('nightshift_model_tokens_total{role="coder",kind="input",process_kind="coder"} 42');
    const head = await fetch(`${health.url}/metrics`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    expect((await fetch(`${health.url}/metrics`, { method: 'POST' })).status).toBe(405);
  });

  it("serves the process's own registry by default", async () => {
    observeModelCall('refiner', 1500, { inputTokens: 3, outputTokens: 4 });
    await using health = await startHealthServer({ host: '127.0.0.1', port: 0, ready: () => null, log: logSink().log });
    const text = await (await fetch(`${health.url}/metrics`)).text();
    expect(text).toMatch(/nightshift_model_tokens_total\{role="refiner",kind="output"\} [1-9]/);
    expect(text).toMatch(/nightshift_model_call_duration_seconds_count\{role="refiner",outcome="ok"\} [1-9]/);
  });

  it('fails to start on a port that is taken, naming it', async () => {
    await using first = await startHealthServer({ host: '127.0.0.1', port: 0, ready: () => null, log: logSink().log });
    const port = Number(new URL(first.url).port);
    await expect(startHealthServer({ host: '127.0.0.1', port, ready: () => null, log: logSink().log })).rejects.toThrow(/EADDRINUSE/);
  });

  it('tells phase listeners every phase of a process body, ending in null once it serves, as /readyz reports them', async () => {
    const seen: (string | null)[] = [];
    const off = onPhaseChange((p) => seen.push(p));
    try {
      const config = loadConfig({ NIGHTSHIFT_HEALTH_PORT: '0' });
      await withHealth(config, logSink().log, async (state) => {
        state.phase = 'provisioning the bus';
        state.phase = 'provisioning the bus';
        state.phase = null;
        state.phase = 'stopping';
      });
    } finally {
      off();
    }
    expect(seen).toEqual(['connecting to NATS', 'provisioning the bus', null, 'stopping']);
  });

  it('tells health listeners where the health server listens, once it does, and nothing without a health port', async () => {
    const urls: string[] = [];
    const off = onHealthServing((url) => urls.push(url));
    try {
      await withHealth(loadConfig({ NIGHTSHIFT_HEALTH_PORT: '0' }), logSink().log, async () => {
        expect(urls).toHaveLength(1);
        expect((await fetch(`${urls[0]}/healthz`)).status).toBe(200);
      });
      await withHealth(loadConfig({}), logSink().log, async () => undefined);
    } finally {
      off();
    }
    expect(urls).toHaveLength(1);
    expect(urls[0]).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });
});
