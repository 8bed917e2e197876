import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { cancelTicket, createPullRequestStore, createTranscriptSink } from '../../bus/index.ts';
import { createRefiner } from '../../agents/refiner/handler.ts';
import { createDemoRepo, DEMO_SCRIPT, demoTicket } from '../../cli/demo.ts';
import { DockerSandbox } from '../../sandbox/index.ts';
import { forgesFromConfig } from '../../shared/forge/index.ts';
import { IntakeReply } from '../../shared/index.ts';
import { MockScript, startMockLlm } from '../../shared/llm/index.ts';
import { setup } from '../helpers/env.ts';
import { Harness } from '../helpers/harness.ts';
import { postTicket } from '../helpers/tickets.ts';
import { scaled, waitFor } from '../helpers/wait.ts';
import { testLabels } from '../helpers/leftovers.ts';

const CANCELLED = 100;

/**
 * Issue 10's done-when: a hundred cancelled tickets queued ahead of a valid one spend no model call
 * and delay it by no stage's work. A real coordinator, the real refiner (the real @langchain/openai
 * client against mock-llm, scripted for exactly one refinement) in the agent runtime, a real
 * nats-server.
 */
it(`drops the queued work of ${CANCELLED} cancelled tickets without a model call, then refines the valid ticket behind them`, async () => {
  const demo = MockScript.parse(JSON.parse(readFileSync(DEMO_SCRIPT, 'utf8')));
  await using mock = await startMockLlm({ script: { version: 1, roles: { refiner: demo.roles.refiner! } } });
  const dir = mkdtempSync(join(tmpdir(), 'ns-fence-'));
  try {
    await using env = await setup({
      OPENAI_BASE_URL: mock.url,
      OPENAI_API_KEY: 'sk-test',
      NIGHTSHIFT_MODEL_RETRIES: '0',
      NIGHTSHIFT_WORKSPACES_DIR: join(dir, 'workspaces'),
    }, { secure: true });
    await using h = await Harness.start(env);
    const origin = await createDemoRepo(join(dir, 'origin'));
    const { names, jsm } = h.bus;
    const queued = async (n: number) => (await jsm.streams.info(names.workStream)).state.messages >= n;

    // No refiner runs: every ticket's refine work waits in the queue, and each ticket is cancelled.
    const cancelled: string[] = [];
    for (let i = 0; i < CANCELLED; i += 10) {
      cancelled.push(...(await Promise.all(Array.from({ length: 10 }, (_, j) => postTicket(h.bus, origin, `Not wanted after all ${i + j}`)))));
    }
    await waitFor(`${CANCELLED} work items queued`, () => queued(CANCELLED), { timeoutMs: 60_000 });
    for (let i = 0; i < CANCELLED; i += 10) {
      await Promise.all(cancelled.slice(i, i + 10).map((id) => cancelTicket(h.bus, id, { by: 'cli:bob', timeoutMs: 30_000 })));
    }
    const reply = IntakeReply.parse(
      (await h.bus.nc.request(h.bus.subjects.ticketIntake, JSON.stringify({ ...demoTicket(), repo: { path: origin } }), { timeout: 15_000 })).json(),
    );
    if (!reply.ok) throw new Error(`intake refused the demo ticket: ${reply.error.message}`);
    const valid = reply.id;
    await waitFor('the valid ticket queued behind them', () => queued(CANCELLED + 1));

    const refinerBus = await env.connectAs('refiner');
    const refiner = createRefiner({
      config: env.config,
      log: env.sink.log,
      sandbox: new DockerSandbox({ labels: testLabels() }),
      forges: forgesFromConfig({ config: env.config, store: await createPullRequestStore(refinerBus), log: env.sink.log }),
      transcript: createTranscriptSink(refinerBus, env.sink.log),
      clock: () => new Date(),
    });
    const startedAt = Date.now();
    await h.agent('refiner', refiner);
    const t = await h.inState(valid, 'writing_tests', 60_000);
    env.sink.log.info({ elapsedMs: Date.now() - startedAt, cancelled: CANCELLED }, 'valid ticket refined behind the cancelled ones');
    await h.consumerIdle('refiner');

    // One stage's work in all: the handler ran once, for the valid ticket.
    expect(h.calls.map((c) => [c.ticketId, c.stage])).toEqual([[valid, 'refining']]);
    // Every cancelled item was dropped before the valid one started, none of them started.
    const lines = env.sink.lines.filter((l) => l.msg === 'work dropped before it started: the ticket moved on' || l.msg === 'work started');
    expect(lines.map((l) => l.ticketId)).toEqual([...lines.slice(0, CANCELLED).map((l) => l.ticketId), valid]);
    expect(new Set(lines.slice(0, CANCELLED).map((l) => l.ticketId))).toEqual(new Set(cancelled));
    expect(lines.slice(0, CANCELLED).every((l) => l.reason === 'the ticket is cancelled')).toBe(true);

    // The token counters: mock-llm saw the valid ticket's two scripted calls and nothing else…
    expect(mock.calls.map((c) => c.ticket)).toEqual([valid, valid]);
    expect(mock.unused()).toEqual([]);
    expect(mock.failures).toEqual([]);
    // …the valid ticket carries them, and no cancelled ticket spent or started anything.
    expect(t.usage.refiner).toEqual({ inputTokens: 612 + 731, outputTokens: 24 + 210, totalTokens: 612 + 731 + 24 + 210, calls: 2 });
    for (const id of cancelled) {
      const c = await h.ticket(id);
      expect(c.usage).toEqual({});
      expect(c.timeline.filter((e) => e.event === 'started' || e.event === 'ignored')).toEqual([]);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, scaled(180_000));
