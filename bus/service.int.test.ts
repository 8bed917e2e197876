import { describe, expect, it } from 'vitest';
import { onPhaseChange } from '../shared/index.ts';
import { setup } from '../test/helpers/env.ts';
import { waitFor } from '../test/helpers/wait.ts';
import { runBusService, type Bus } from './index.ts';

/*
 * The life every long-running process shares (bus/service.ts), on a real nats-server: its phases in
 * order, the service stopped while its connection is still up, and the connection drained however the
 * process ends.
 */
describe('runBusService', () => {
  it('provisions, starts, serves until aborted, stops the service on a live connection, then closes it', async () => {
    await using env = await setup();
    const phases: (string | null)[] = [];
    const off = onPhaseChange((p) => phases.push(p));
    const abort = new AbortController();
    let bus: Bus | undefined;
    let connectedAtStop: boolean | undefined;
    try {
      const running = runBusService({
        config: env.config,
        log: env.sink.log,
        signal: abort.signal,
        connect: { url: env.nats.url, prefix: env.config.NIGHTSHIFT_PREFIX, name: 'service-test', log: env.sink.log },
        ready: 'provision',
        start: async (b) => {
          bus = b;
          // Provisioned before the service starts.
          await b.jsm.streams.info(`KV_${b.names.ticketsBucket}`);
          return { stop: async () => void (connectedAtStop = b.connected()) };
        },
        stopped: 'test service stopped',
      });
      await waitFor('the service serving', () => phases.includes(null));
      expect(bus?.connected()).toBe(true);
      abort.abort();
      await running;
    } finally {
      off();
    }
    expect(phases).toEqual(['connecting to NATS', 'provisioning the bus', 'starting', null, 'stopping']);
    expect(connectedAtStop).toBe(true);
    expect(bus!.connected()).toBe(false);
    expect(bus!.nc.isClosed()).toBe(true);
    expect(env.sink.lines.some((l) => l.msg === 'test service stopped')).toBe(true);
  });

  it('waits for what it needs, and closes the connection when the service fails to start', async () => {
    await using env = await setup();
    let bus: Bus | undefined;
    const phases: (string | null)[] = [];
    const off = onPhaseChange((p) => phases.push(p));
    try {
      const failing = runBusService({
        config: env.config,
        log: env.sink.log,
        signal: new AbortController().signal,
        connect: { url: env.nats.url, prefix: env.config.NIGHTSHIFT_PREFIX, name: 'service-test', log: env.sink.log },
        ready: (names) => ({ buckets: [names.ticketsBucket] }),
        start: async (b) => {
          bus = b;
          throw new Error('the service could not start');
        },
      });
      await expect(failing).rejects.toThrow('the service could not start');
    } finally {
      off();
    }
    expect(phases).toEqual(['connecting to NATS', 'waiting for the coordinator to provision the bus', 'starting']);
    expect(bus!.nc.isClosed()).toBe(true);
  });
});
