import { describe, expect, it } from 'vitest';
import { IntakeReply } from '../../shared/index.ts';
import { envelope, publishEvent, StageCompleted, TicketStore, type Bus } from '../../bus/index.ts';
import { setup } from '../../test/helpers/env.ts';
import { makeRepo } from '../../test/helpers/git.ts';
import { Harness } from '../../test/helpers/harness.ts';
import { waitFor } from '../../test/helpers/wait.ts';
import { createAgentRuntime, type AgentHandler } from '../runtime/runtime.ts';
import { createCoordinator } from './coordinator.ts';

async function post(bus: Bus, payload: unknown): Promise<IntakeReply> {
  const data = typeof payload === 'string' ? payload : JSON.stringify(payload);
  const reply = await bus.nc.request(bus.subjects.ticketIntake, data, { timeout: 10_000 });
  return IntakeReply.parse(reply.json());
}

describe('coordinator', () => {
  it('accepts a ticket, stores it, and dispatches it to the refiner', async () => {
    await using env = await setup();
    const coordinator = createCoordinator({ bus: env.bus, config: env.config, log: env.sink.log });
    await coordinator.start();
    const repo = makeRepo();
    const reply = await post(env.bus, { title: 'Add a flag', body: 'details', repo: { path: repo } });
    expect(reply).toMatchObject({ ok: true, duplicate: false });
    const id = reply.ok ? reply.id : '';
    const store = new TicketStore(await env.bus.tickets());
    const t = await waitFor('dispatch to refining', async () => {
      const s = await store.get(id);
      return s && s.ticket.state === 'refining' && s.ticket.outbox.length === 0 ? s.ticket : undefined;
    });
    expect(t.timeline.map((e) => e.event)).toEqual(['received', 'transition', 'dispatched']);
    const info = await env.bus.jsm.streams.info(env.bus.names.workStream);
    expect(info.state.messages).toBe(1);
    await coordinator.stop();
  });

  it('drives a ticket through every stage with injected handlers', async () => {
    await using env = await setup();
    const coordinator = createCoordinator({ bus: env.bus, config: env.config, log: env.sink.log });
    await coordinator.start();
    const handler: AgentHandler = async (work) => ({ kind: 'advance', output: { did: work.stage } });
    const agents = (['refiner', 'test-author', 'coder', 'reviewer'] as const).map((role) =>
      createAgentRuntime({ bus: env.bus, role, handler, config: env.config, log: env.sink.log }),
    );
    for (const a of agents) await a.start();
    const reply = await post(env.bus, { title: 'x', body: 'y', repo: { path: makeRepo() } });
    const id = reply.ok ? reply.id : '';
    const store = new TicketStore(await env.bus.tickets());
    const t = await waitFor('pr_open', async () => {
      const s = await store.get(id);
      return s?.ticket.state === 'pr_open' ? s.ticket : undefined;
    });
    expect(Object.keys(t.artifacts).sort()).toEqual(['coding', 'refining', 'reviewing', 'writing_tests']);
    expect(t.timeline.filter((e) => e.event === 'transition').map((e) => e.to)).toEqual([
      'refining',
      'writing_tests',
      'coding',
      'reviewing',
      'pr_open',
    ]);
    for (const a of agents) await a.stop();
    await coordinator.stop();
  });

  it('refuses forged stage results: another role\'s stage, no causation, another dispatch', async () => {
    await using env = await setup();
    const coordinator = createCoordinator({ bus: env.bus, config: env.config, log: env.sink.log });
    await coordinator.start();
    const reply = await post(env.bus, { title: 'x', body: 'y', repo: { path: makeRepo() } });
    const id = reply.ok ? reply.id : '';
    const store = new TicketStore(await env.bus.tickets());
    const dispatched = await waitFor('dispatch to refining', async () => {
      const s = await store.get(id);
      return s?.ticket.state === 'refining' && s.ticket.work?.dispatchId ? s.ticket.work.dispatchId : undefined;
    });
    const result = (causationId: string | null) =>
      envelope(StageCompleted, { ticketId: id, stage: 'refining', attempt: 1, outcome: { kind: 'advance', output: {} } }, { source: 'agent:coder', correlationId: id, causationId });
    // The coder speaks for the refiner, with the right causation: refused by origin.
    await publishEvent(env.bus, 'coder', id, result(dispatched));
    // The refiner, without a causation, and with a made-up one: ignored as no dispatch's answer.
    await publishEvent(env.bus, 'refiner', id, result(null));
    await publishEvent(env.bus, 'refiner', id, result(`${dispatched}.forged`));
    const rejected = await waitFor('the refused event kept', async () => {
      const info = await env.bus.jsm.streams.info(env.bus.names.rejectedStream, { subjects_filter: env.bus.subjects.rejected('events') });
      return info.state.messages === 1 ? info : undefined;
    });
    expect(rejected.state.messages).toBe(1);
    const t = await waitFor('both stale results recorded', async () => {
      const s = await store.get(id);
      return s && s.ticket.timeline.filter((e) => e.event === 'ignored').length === 2 ? s.ticket : undefined;
    });
    expect(t.state).toBe('refining');
    // The real answer still moves it on.
    await publishEvent(env.bus, 'refiner', id, result(dispatched));
    await waitFor('writing_tests', async () => (await store.get(id))?.ticket.state === 'writing_tests');
    await coordinator.stop();
  });

  describe('repairs dispatched work the bus lost', () => {
    const advance: AgentHandler = async (work) => ({ kind: 'advance', output: { did: work.stage } });
    const workMessage = async (bus: Bus, id: string) => bus.jsm.streams.getMessage(bus.names.workStream, { last_by_subj: bus.subjects.work('refiner', id) });

    it('dispatches the attempt again when its work item is gone from the queue and no result came', async () => {
      await using env = await setup({ NIGHTSHIFT_LOST_WORK_CHECK: '300ms' });
      await using h = await Harness.start(env);
      const id = await h.post();
      const dispatched = await h.until(id, 'the refining dispatch published', (t) => t.state === 'refining' && t.outbox.length === 0);
      const first = dispatched.work!.dispatchId!;
      // The item leaves the queue as if an agent had taken it and its result were lost on the way.
      const item = await workMessage(env.bus, id);
      expect(await env.bus.jsm.streams.deleteMessage(env.bus.names.workStream, item!.seq)).toBe(true);
      const again = await h.until(id, 'a new dispatch', (t) => t.work?.dispatchId !== first);
      expect(again.work).toMatchObject({ stage: 'refining', attempt: 1 });
      expect(again.timeline.filter((e) => e.event === 'retry')).toEqual([
        expect.objectContaining({ stage: 'refining', attempt: 1, reason: expect.stringMatching(/gone from the queue but its result never arrived/) }),
      ]);
      await h.agent('refiner', advance);
      const t = await h.inState(id, 'writing_tests');
      expect(h.calls.map((c) => [c.stage, c.attempt, c.deliveries])).toEqual([['refining', 1, 1]]);
      expect(t.artifacts).toEqual({ refining: { did: 'refining' } });
    });

    it('fails the ticket when an agent keeps acking its work without ever reporting a result', async () => {
      await using env = await setup({ NIGHTSHIFT_LOST_WORK_CHECK: '200ms' });
      await using h = await Harness.start(env);
      const id = await h.post();
      // A hostile (or broken) refiner: it takes each work item and acks it, and says nothing.
      const consumer = await env.bus.js.consumers.get(env.bus.names.workStream, env.bus.names.roleConsumer('refiner'));
      const swallowed: string[] = [];
      const t = await waitFor(
        'the ticket to fail',
        async () => {
          const m = await consumer.next({ expires: 1_000 });
          if (m) {
            swallowed.push(m.headers?.get('Nats-Msg-Id') ?? '');
            await m.ackAck();
          }
          const cur = await h.ticket(id);
          return cur.state === 'failed' ? cur : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 10 },
      );
      expect(t.failure).toMatchObject({ code: 'work_lost', stage: 'refining' });
      // The first dispatch and three more, each under its own id: then no more.
      expect(swallowed).toHaveLength(4);
      expect(new Set(swallowed).size).toBe(4);
    });

    it('leaves a work item alone while it waits in the queue, however long', async () => {
      await using env = await setup({ NIGHTSHIFT_LOST_WORK_CHECK: '200ms' });
      await using h = await Harness.start(env);
      const id = await h.post();
      const dispatched = await h.until(id, 'the refining dispatch published', (t) => t.state === 'refining' && t.outbox.length === 0);
      const item = (await workMessage(env.bus, id))!;
      // No agent takes it while many checks go by (the checks are logged at debug when they fail).
      await new Promise((r) => setTimeout(r, 2_000));
      expect((await workMessage(env.bus, id))!.seq).toBe(item.seq);
      const waited = await h.ticket(id);
      expect(waited.work!.dispatchId).toBe(dispatched.work!.dispatchId);
      expect(waited.timeline.filter((e) => e.event === 'retry')).toEqual([]);
      expect(env.sink.lines.filter((l) => l.level === 'warn')).toEqual([]);
      await h.agent('refiner', advance);
      await h.inState(id, 'writing_tests');
      expect(h.calls.map((c) => [c.stage, c.attempt, c.deliveries])).toEqual([['refining', 1, 1]]);
    });
  });
});
