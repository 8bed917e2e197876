import { describe, expect, it } from 'vitest';
import { freePortRange } from '../../shared/index.ts';
import { spawnCli } from '../helpers/cli.ts';
import { setup, uniquePrefix } from '../helpers/env.ts';
import { waitFor } from '../helpers/wait.ts';

async function probe(port: number, path: string): Promise<{ status: number; body: Record<string, unknown> } | undefined> {
  try {
    const r = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(5_000) });
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  } catch {
    return undefined;
  }
}

describe('health endpoints of the processes (NIGHTSHIFT_HEALTH_PORT)', () => {
  it('an agent is alive at once, ready only once the bus is provisioned, not ready while NATS is away, and ready again after', async () => {
    await using env = await setup();
    const port = await freePortRange(2);
    // A prefix nobody provisioned yet: the agent waits for a coordinator.
    const childEnv = { ...env.childEnv, NIGHTSHIFT_PREFIX: uniquePrefix() };
    await using agent = spawnCli(['agent', 'refiner'], { ...childEnv, NIGHTSHIFT_HEALTH_PORT: String(port) });
    await waitFor('the agent to answer /healthz', async () => (await probe(port, '/healthz'))?.status === 200 || undefined, { timeoutMs: 60_000 });
    const waiting = await waitFor('the agent to wait for the bus', async () => {
      const r = await probe(port, '/readyz');
      return r?.body.reason === 'waiting for the coordinator to provision the bus' ? r : undefined;
    }, { timeoutMs: 60_000 });
    expect(waiting.status).toBe(503);

    await using coordinator = spawnCli(['coordinator'], { ...childEnv, NIGHTSHIFT_HEALTH_PORT: String(port + 1) });
    await waitFor('the coordinator ready', async () => (await probe(port + 1, '/readyz'))?.status === 200 || undefined, { timeoutMs: 60_000 });
    await waitFor('the agent ready', async () => (await probe(port, '/readyz'))?.status === 200 || undefined, { timeoutMs: 60_000 });
    expect(agent.logs().some((l) => l.msg === 'agent started')).toBe(true);
    expect(coordinator.logs().some((l) => l.msg === 'coordinator started')).toBe(true);

    await env.nats.stop();
    const away = await waitFor('the agent not ready without NATS', async () => {
      const r = await probe(port, '/readyz');
      return r?.status === 503 ? r : undefined;
    }, { timeoutMs: 60_000 });
    expect(away.body).toEqual({ ok: false, ready: false, reason: 'disconnected from NATS; reconnecting' });
    expect((await probe(port, '/healthz'))?.status).toBe(200);
    await env.nats.restart();
    await waitFor('the agent ready again', async () => (await probe(port, '/readyz'))?.status === 200 || undefined, { timeoutMs: 60_000 });
    await waitFor('the coordinator ready again', async () => (await probe(port + 1, '/readyz'))?.status === 200 || undefined, { timeoutMs: 60_000 });
  });

  it('a port that is taken stops the process at start with the port in the message', async () => {
    await using env = await setup();
    const port = await freePortRange(1);
    await using first = spawnCli(['coordinator'], { ...env.childEnv, NIGHTSHIFT_HEALTH_PORT: String(port) });
    await waitFor('the first coordinator serving health', async () => (await probe(port, '/healthz'))?.status === 200 || undefined, { timeoutMs: 60_000 });
    await using second = spawnCli(['coordinator'], { ...env.childEnv, NIGHTSHIFT_HEALTH_PORT: String(port) });
    expect(await second.exited).not.toBe(0);
    expect(second.stderr()).toContain(`cannot serve health endpoints on 127.0.0.1:${port}`);
    expect(first.proc.exitCode).toBeNull();
  });
});
