import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { connectBus, createPullRequestStore, provision, provisionOptions, TicketStore, type Bus } from '../../bus/index.ts';
import { createDemoRepo, DEMO_SCRIPT, demoTicket } from '../../cli/demo.ts';
import { IntakeReply, loadConfig, ticketIdForExternalId, type Ticket } from '../../shared/index.ts';
import { loadMockScript, startMockLlm, type MockScript } from '../../shared/llm/index.ts';
import { spawnCli, type CliProcess } from '../helpers/cli.ts';
import { describeDocker } from '../helpers/docker.ts';
import { logSink, uniquePrefix } from '../helpers/env.ts';
import { startNatsCluster, type NatsCluster } from '../helpers/nats.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * Failover on a 3-node JetStream cluster (BRIEF §5 and docs/deploy.md): the demo ticket, 30 times,
 * through the real chain (the built-in agents, the mock model, the Docker sandbox, the local forge)
 * while the leader of the work stream and then the leader of the tickets bucket are killed with
 * SIGKILL and restarted. Every accepted ticket reaches its pull request, each exactly one.
 */

const TICKETS = 30;
const ROLES = ['refiner', 'test-author', 'coder', 'reviewer'] as const;
const END_STATES = ['pr_open', 'failed', 'cancelled', 'awaiting_human'];

/** The demo script for one ticket, each role's answers three times over: a stage the failover makes run again finds its answers. */
function repeated(script: MockScript): MockScript {
  return { ...script, roles: Object.fromEntries(Object.entries(script.roles).map(([role, entries]) => [role, [...entries, ...entries, ...entries]])) };
}

/** Posts until the intake answers (a request made while the cluster elects leaders is lost): the external id makes a retry safe. */
async function post(bus: Bus, payload: Record<string, unknown>): Promise<string> {
  return waitFor(
    `intake of ${String(payload.externalId)}`,
    async () => {
      const reply = IntakeReply.parse((await bus.nc.request(bus.subjects.ticketIntake, JSON.stringify(payload), { timeout: 5_000 })).json());
      if (!reply.ok) throw new Error(`intake refused: ${JSON.stringify(reply.error)}`);
      return reply.id;
    },
    { timeoutMs: 120_000, intervalMs: 250 },
  );
}

async function states(store: TicketStore, ids: readonly string[]): Promise<Map<string, Ticket | null>> {
  const out = new Map<string, Ticket | null>();
  for (const id of ids) out.set(id, (await store.get(id).catch(() => null))?.ticket ?? null);
  return out;
}

/**
 * Kills the node leading `stream`, waits for the stack to move a ticket again, restarts the node and
 * waits for it to catch up. Returns how long after the kill the first ticket changed state.
 */
async function killLeader(cluster: NatsCluster, stream: string, what: string, store: TicketStore, ids: readonly string[]): Promise<{ node: string; resumedMs: number; inFlight: number }> {
  const node = await waitFor(`a leader of ${what}`, () => cluster.leaderOf(stream).catch(() => undefined), { timeoutMs: 60_000 });
  const index = cluster.names.indexOf(node);
  const inFlight = [...(await states(store, ids)).values()].filter((t) => !t || !END_STATES.includes(t.state)).length;
  const killedAt = Date.now();
  await cluster.kill(index);
  // The stack resumed when a timeline entry written after the kill is read back.
  const resumed = await waitFor(
    `a ticket to move after ${node} (leader of ${what}) was killed`,
    async () => {
      let first: number | undefined;
      for (const t of (await states(store, ids)).values()) {
        for (const e of t?.timeline ?? []) {
          const at = Date.parse(e.at);
          if (e.event === 'transition' && at > killedAt && (first === undefined || at < first)) first = at;
        }
      }
      return first;
    },
    { timeoutMs: 180_000, intervalMs: 250 },
  );
  await cluster.restart(index);
  await cluster.ready(60_000);
  // A replica that has not caught up would make the next kill cost the quorum of its stream.
  await cluster.settled(120_000);
  return { node, resumedMs: resumed - killedAt, inFlight };
}

/** The tickets of `ids` not yet in an end state, as `id:state`. */
async function onTheirWay(store: TicketStore, ids: readonly string[]): Promise<string> {
  return [...(await states(store, ids))].filter(([, t]) => !t || !END_STATES.includes(t.state)).map(([id, t]) => `${id}:${t?.state ?? 'missing'}`).join(' ');
}

/** What the coordinators repaired, from their logs. */
function repairs(procs: readonly CliProcess[]): string[] {
  return procs.flatMap((p) => p.logs()).filter((l) => l.agent === 'coordinator' && l.level === 'warn' && /passed over|dispatched again/.test(String(l.msg))).map((l) => String(l.msg));
}

describeDocker('failover on a 3-node JetStream cluster', () => {
  it(
    `takes ${TICKETS} demo tickets through the real chain to one pull request each while the work stream's leader and then the tickets bucket's leader are killed`,
    async () => {
      await using cluster = await startNatsCluster({ size: 3 });
      const prefix = uniquePrefix();
      const workspaces = mkdtempSync(join(tmpdir(), 'ns-failover-ws-'));
      const origin = await createDemoRepo(mkdtempSync(join(tmpdir(), 'ns-failover-origin-')));
      const externalIds = Array.from({ length: TICKETS }, (_, i) => `FAILOVER-${prefix}-${i}`);
      const ids = externalIds.map(ticketIdForExternalId);
      const script = repeated(await loadMockScript(DEMO_SCRIPT));
      await using mock = await startMockLlm({ tickets: Object.fromEntries(ids.map((id) => [id, script])) });
      const settings: Record<string, string> = {
        NATS_URL: cluster.url,
        NIGHTSHIFT_PREFIX: prefix,
        NIGHTSHIFT_JS_REPLICAS: '3',
        NIGHTSHIFT_SWEEP_INTERVAL: '250ms',
        NIGHTSHIFT_LOST_WORK_CHECK: '10s',
        NIGHTSHIFT_ACK_WAIT: '30s',
        NIGHTSHIFT_RETRY_BACKOFF: '250ms',
        NIGHTSHIFT_RETRY_BACKOFF_MAX: '2s',
        NIGHTSHIFT_STAGE_TIMEOUT: '10m',
        NIGHTSHIFT_MODEL_RETRIES: '0',
        NIGHTSHIFT_WORKSPACES_DIR: workspaces,
        NIGHTSHIFT_LOG_LEVEL: 'info',
        OPENAI_BASE_URL: mock.url,
        OPENAI_API_KEY: 'sk-test-secret-never-in-a-sandbox',
      };
      const bus = await connectBus({ url: cluster.url, prefix, name: 'test', log: logSink().log });
      const procs: CliProcess[] = [];
      try {
        await provision(bus, provisionOptions(loadConfig({}, settings)));
        procs.push(spawnCli(['coordinator'], settings), spawnCli(['coordinator'], settings), ...ROLES.map((role) => spawnCli(['agent', role], settings)));
        for (const p of procs) await p.waitForLog('process ready', (l) => l.msg === 'coordinator started' || l.msg === 'agent started', 90_000);
        const store = new TicketStore(await bus.tickets());

        for (const externalId of externalIds) expect(await post(bus, { ...demoTicket(), externalId, repo: { path: origin } })).toBe(ticketIdForExternalId(externalId));
        // The kills come while tickets are on their way: some past their first stage, most not done.
        await waitFor(
          'tickets on their way',
          async () => [...(await states(store, ids)).values()].filter((t) => t && t.state !== 'received' && t.state !== 'refining').length >= 3 || undefined,
          { timeoutMs: 300_000, intervalMs: 500 },
        );
        const kills = [
          { what: 'the work stream', ...(await killLeader(cluster, bus.names.workStream, 'the work stream', store, ids)) },
          { what: 'the tickets bucket', ...(await killLeader(cluster, `KV_${bus.names.ticketsBucket}`, 'the tickets bucket', store, ids)) },
        ];

        for (const k of kills) expect(k.inFlight, `tickets on their way when ${k.node} was killed`).toBeGreaterThan(0);
        let behind = '';
        const final = await waitFor(
          `all ${TICKETS} tickets to reach an end state`,
          async () => {
            behind = await onTheirWay(store, ids);
            return behind === '' ? states(store, ids) : undefined;
          },
          { timeoutMs: 1_200_000, intervalMs: 1_000 },
        ).catch((err: unknown) => {
          throw new Error(`${(err as Error).message}; still on their way: ${behind}`);
        });
        for (const k of kills) {
          console.log(`failover: killed ${k.node}, the leader of ${k.what}, with ${k.inFlight} tickets on their way; the stack moved a ticket again ${(k.resumedMs / 1000).toFixed(1)} s later`);
        }
        console.log(`failover: the coordinators repaired ${repairs(procs).length} dispatches the bus lost`);

        // 0 accepted tickets lost: every one reached its pull request.
        const notOpen = [...final].filter(([, t]) => t!.state !== 'pr_open').map(([id, t]) => `${id}: ${t!.state} ${JSON.stringify(t!.failure ?? t!.parked)}`);
        expect(notOpen).toEqual([]);
        // 0 duplicate pull requests: one per ticket, each its own number.
        const prs = (await (await createPullRequestStore(bus)).list()).filter((pr) => ids.includes(pr.ticketId));
        expect(prs.map((pr) => pr.ticketId).sort()).toEqual([...ids].sort());
        expect(new Set(prs.map((pr) => pr.number)).size).toBe(TICKETS);
        for (const t of final.values()) expect((t!.artifacts.reviewing as { pullRequest?: { number: number } }).pullRequest?.number).toBe(prs.find((pr) => pr.ticketId === t!.id)!.number);
        expect(mock.failures).toEqual([]);
      } finally {
        for (const p of procs) await p[Symbol.asyncDispose]();
        await bus.close();
        rmSync(workspaces, { recursive: true, force: true });
        rmSync(origin, { recursive: true, force: true });
      }
    },
    1_800_000,
  );
});
