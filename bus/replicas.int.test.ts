import { describe, expect, it } from 'vitest';
import { loadConfig } from '../shared/index.ts';
import { logSink, uniquePrefix } from '../test/helpers/env.ts';
import { startNatsCluster } from '../test/helpers/nats.ts';
import { connectBus, provision, provisionOptions, type Bus } from './index.ts';
import { scaled } from '../test/helpers/wait.ts';

/** Every stream on the (test's own) cluster with its replicas, read back from the server. */
async function replicasOf(bus: Bus): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for await (const s of bus.jsm.streams.list()) out[s.config.name] = (await bus.jsm.streams.info(s.config.name)).config.num_replicas;
  return out;
}

describe('replicated streams and buckets on a 3-node JetStream cluster', () => {
  it('provisions every stream and KV bucket with 3 replicas, and reports (without changing) a deployment whose replicas differ', async () => {
    await using cluster = await startNatsCluster({ size: 3 });
    const prefix = uniquePrefix();
    const sink = logSink();
    const bus = await connectBus({ url: cluster.url, prefix, name: 'test', log: sink.log });
    try {
      const r3 = loadConfig({}, { NATS_URL: cluster.url, NIGHTSHIFT_PREFIX: prefix, NIGHTSHIFT_JS_REPLICAS: '3' });
      await provision(bus, { ...provisionOptions(r3), log: sink.log });
      const streams = await replicasOf(bus);
      const { names } = bus;
      const expected = [
        names.workStream,
        names.eventsStream,
        names.rejectedStream,
        names.advisoriesStream,
        names.transcriptsStream,
        `KV_${names.ticketsBucket}`,
        `KV_${names.prsBucket}`,
        `KV_${names.escalationsBucket}`,
      ];
      expect(Object.keys(streams).sort()).toEqual([...expected].sort());
      for (const name of expected) expect(streams[name], name).toBe(3);
      expect(sink.lines.filter((l) => l.configuredReplicas !== undefined)).toEqual([]);

      // Provisioning again with the same count is quiet; with 1 on this R3 deployment, every stream and
      // bucket is named in a warning with both counts, and keeps its 3 replicas.
      await provision(bus, { ...provisionOptions(r3), log: sink.log });
      expect(sink.lines.filter((l) => l.configuredReplicas !== undefined)).toEqual([]);
      const r1 = loadConfig({}, { NATS_URL: cluster.url, NIGHTSHIFT_PREFIX: prefix });
      await provision(bus, { ...provisionOptions(r1), log: sink.log });
      const warnings = sink.lines.filter((l) => l.configuredReplicas !== undefined);
      expect(warnings).toHaveLength(expected.length);
      for (const w of warnings) {
        expect(w).toMatchObject({ level: 'warn', configuredReplicas: 1, actualReplicas: 3 });
        expect(w.msg).toMatch(/has 3 replicas but NIGHTSHIFT_JS_REPLICAS is 1; .*nats stream edit \S+ --replicas 1/);
      }
      expect(warnings.map((w) => w.stream ?? `KV_${String(w.bucket)}`).sort()).toEqual([...expected].sort());
      for (const [name, n] of Object.entries(await replicasOf(bus))) expect(n, name).toBe(3);
    } finally {
      await bus.close();
    }
  }, scaled(120_000));
});
