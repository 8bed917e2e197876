import { describe, expect, it } from 'vitest';
import { logSink } from '../test/helpers/env.ts';
import { loadConfig } from './config.ts';
import { onPhaseChange, readinessOf, startHealthServer, withHealth, type ProcessState } from './health.ts';

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
    expect(await get('/metrics')).toMatchObject({ status: 404, body: { ok: false, error: { code: 'not_found' } } });
    expect(await get('/healthz', 'POST')).toMatchObject({ status: 405, body: { ok: false, error: { code: 'method_not_allowed' } } });
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
});
