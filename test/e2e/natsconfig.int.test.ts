import { mkdtempSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { connectBus, inboxPrefix, provision, provisionOptions } from '../../bus/index.ts';
import { freePortRange, loadConfig } from '../../shared/index.ts';
import { runCli } from '../helpers/cli.ts';
import { logSink } from '../helpers/env.ts';
import { startNatsCluster } from '../helpers/nats.ts';
import { scaled } from '../helpers/wait.ts';

interface Written {
  config: string;
  seeds: Record<string, string>;
  nodes: { name: string; file: string; listen: string; storeDir: string }[];
  replicas: number;
}

describe('nightshift nats config', () => {
  it('writes one server configuration that nats-server accepts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nightshift-natsconf-'));
    try {
      const r = await runCli(['nats', 'config', '--dir', dir, '--json', '--store-dir', join(dir, 'data')], {});
      expect(r.code, r.stderr).toBe(0);
      const written = JSON.parse(r.stdout) as Written;
      expect(written.nodes).toEqual([{ name: 'nightshift', file: join(dir, 'server.conf'), listen: '0.0.0.0:4222', storeDir: join(dir, 'data', 'nightshift') }]);
      const check = spawnSync('nats-server', ['-t', '-c', written.nodes[0]!.file], { encoding: 'utf8' });
      expect(check.status, check.stderr).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('writes a 3-node cluster that forms, elects a JetStream meta leader, and takes R3 provisioning with the generated credentials', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nightshift-natsconf-'));
    try {
      const base = await freePortRange(6);
      const listen = [0, 1, 2].map((i) => `127.0.0.1:${base + i}`);
      const routes = [3, 4, 5].map((i) => `127.0.0.1:${base + i}`);
      const args = ['nats', 'config', '--dir', dir, '--json', '--cluster', '3', '--routes', routes.join(','), '--listen', listen.join(','), '--store-dir', join(dir, 'data')];
      const r = await runCli(args, {});
      expect(r.code, r.stderr).toBe(0);
      const written = JSON.parse(r.stdout) as Written;
      expect(written.replicas).toBe(3);
      expect(written.nodes.map((n) => n.name)).toEqual(['n1', 'n2', 'n3']);
      for (const n of written.nodes) {
        const check = spawnSync('nats-server', ['-t', '-c', n.file], { encoding: 'utf8' });
        expect(check.status, `${n.file}: ${check.stderr}`).toBe(0);
      }
      await using cluster = await startNatsCluster({
        configs: written.nodes.map((n) => ({ file: n.file, url: `nats://${n.listen}` })),
        auth: { nkey: written.seeds.coordinator!, inboxPrefix: inboxPrefix('coordinator') },
      });
      const prefix = 'nightshift';
      const sink = logSink();
      const bus = await connectBus({ url: cluster.url, prefix, kind: 'coordinator', name: 'coordinator', auth: { nkey: written.seeds.coordinator! }, log: sink.log });
      try {
        await provision(bus, { ...provisionOptions(loadConfig({}, { NIGHTSHIFT_JS_REPLICAS: '3', NIGHTSHIFT_PREFIX: prefix })), log: sink.log });
        const info = await bus.jsm.streams.info(`KV_${bus.names.ticketsBucket}`);
        expect(info.config.num_replicas).toBe(3);
        expect(info.cluster?.replicas?.length).toBe(2);
      } finally {
        await bus.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, scaled(120_000));
});
