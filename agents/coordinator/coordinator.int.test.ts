import { describe, expect, it } from 'vitest';
import { IntakeReply, IntakeRequest, ticketIdForExternalId } from '../../shared/index.ts';
import { decodeEnvelope, encodeEnvelope, envelope, publishEvent, StageCompleted, StageStarted, TicketStore, WorkItem, workTicketOf, type Bus } from '../../bus/index.ts';
import { setup, type TestEnv } from '../../test/helpers/env.ts';
import { makeRepo } from '../../test/helpers/git.ts';
import { Harness } from '../../test/helpers/harness.ts';
import { waitFor } from '../../test/helpers/wait.ts';
import { createAgentRuntime, type AgentHandler } from '../runtime/runtime.ts';
import { createCoordinator } from './coordinator.ts';
import { COORDINATOR, newTicket, tick } from './reducer.ts';

async function post(bus: Bus, payload: unknown): Promise<IntakeReply> {
  const data = typeof payload === 'string' ? payload : JSON.stringify(payload);
  const reply = await bus.nc.request(bus.subjects.ticketIntake, data, { timeout: 10_000 });
  return IntakeReply.parse(reply.json());
}

/** Posts a ticket and waits until its refining work is dispatched and published. */
async function postedAndDispatched(h: Harness) {
  const id = await h.post();
  const dispatched = await h.until(id, 'the refining dispatch', (t) => t.state === 'refining' && t.outbox.length === 0);
  return { id, dispatched };
}

/** Holds the lookup of the events consumer on `bus` until the returned function is called. */
function holdEvents(bus: Bus): () => void {
  const consumers = bus.js.consumers;
  const get = consumers.get.bind(consumers);
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  consumers.get = (async (stream: string, name?: string) => {
    if (stream === bus.names.eventsStream) await held;
    return get(stream, name);
  }) as typeof consumers.get;
  return release;
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
    // The dispatch is published right after the write that records it.
    const info = await waitFor('the work item queued', async () => {
      const i = await env.bus.jsm.streams.info(env.bus.names.workStream);
      return i.state.messages > 0 ? i : undefined;
    });
    expect(info.state.messages).toBe(1);
    expect(t.outbox).toEqual([]);
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

  it('stops when told to while its events consumer is still being looked up (a slow bus at start)', async () => {
    await using env = await setup();
    const bus = await env.connect('slow-start');
    const release = holdEvents(bus);
    const coordinator = createCoordinator({ bus, config: env.config, log: env.sink.log });
    await coordinator.start();
    const stopped = coordinator.stop();
    // The lookup answers after the stop: the pull it sets up must end at once, not serve forever.
    release();
    await stopped;
    expect(env.sink.lines.some((l) => l.msg === 'coordinator stopped')).toBe(true);
  });

  describe('publishes a dispatch whose coordinator died between the write and the publish', () => {
    const advance: AgentHandler = async (work) => ({ kind: 'advance', output: { did: work.stage } });

    /** A ticket dispatched to refining by a write nobody published, as a coordinator killed right after it leaves it. */
    async function writtenNotPublished(env: Awaited<ReturnType<typeof setup>>, outbox: 'emptied' | 'filled'): Promise<{ id: string; store: TicketStore }> {
      const store = new TicketStore(await env.bus.tickets());
      const id = ticketIdForExternalId(`unpublished-${outbox}`);
      const policy = { stageTimeoutMs: () => 60_000, queueTimeoutMs: 3_600_000, stageAttempts: 3, humanTimeoutMs: 3_600_000 };
      const t = tick(newTicket(id, IntakeRequest.parse({ title: 'x', body: 'y', repo: { path: makeRepo() } }), new Date(), 'intake:test'), new Date(), policy)!;
      // `emptied`: as this coordinator writes a dispatch; `filled`: as a coordinator before it did.
      expect(await store.create(outbox === 'emptied' ? { ...t, outbox: [] } : t)).toBe(true);
      return { id, store };
    }

    it.each(['emptied', 'filled'] as const)('publishes it once, under its own id, when the outbox was %s', async (outbox) => {
      await using env = await setup();
      const { id, store } = await writtenNotPublished(env, outbox);
      expect((await env.bus.jsm.streams.info(env.bus.names.workStream)).state.messages).toBe(0);
      await using h = await Harness.start(env);
      await h.agent('refiner', advance);
      const t = await h.inState(id, 'writing_tests');
      expect(h.calls.map((c) => [c.stage, c.attempt, c.deliveries])).toEqual([['refining', 1, 1]]);
      expect(t.timeline.filter((e) => e.event === 'retry')).toEqual([]);
      expect(t.timeline.filter((e) => e.event === 'dispatched').map((e) => e.stage)).toEqual(['refining', 'writing_tests']);
      expect((await store.get(id))!.ticket.outbox).toEqual([]);
    });

    it('does not publish again a dispatch whose work item waits in the queue', async () => {
      await using env = await setup();
      const { id } = await writtenNotPublished(env, 'emptied');
      // Published before the crash: only the write that recorded it had landed in the ticket.
      const t = (await new TicketStore(await env.bus.tickets()).get(id))!.ticket;
      const item = envelope(WorkItem, { stage: 'refining', attempt: 1, round: 1, ticket: workTicketOf(t) }, { id: t.work!.dispatchId!, source: COORDINATOR, correlationId: id });
      await env.bus.js.publish(env.bus.subjects.work('refiner', id), encodeEnvelope(item), { msgID: item.id });
      await using h = await Harness.start(env);
      await waitFor('the sweeper to have looked', () => env.sink.lines.some((l) => l.msg === 'coordinator started') && Date.now() > Date.parse(t.work!.dispatchedAt) + 3_000, { intervalMs: 100 });
      expect((await env.bus.jsm.streams.info(env.bus.names.workStream)).state.messages).toBe(1);
      expect(env.sink.lines.filter((l) => l.msg === 'dispatched')).toEqual([]);
      await h.agent('refiner', advance);
      await h.inState(id, 'writing_tests');
      expect(h.calls.map((c) => [c.stage, c.attempt, c.deliveries])).toEqual([['refining', 1, 1]]);
    });
  });

  describe('repairs dispatched work the bus lost', () => {
    const advance: AgentHandler = async (work) => ({ kind: 'advance', output: { did: work.stage } });
    const workMessage = async (bus: Bus, id: string) => bus.jsm.streams.getMessage(bus.names.workStream, { last_by_subj: bus.subjects.work('refiner', id) });

    it('dispatches the attempt again when its work item is gone from the queue and no result came', async () => {
      await using env = await setup({ NIGHTSHIFT_LOST_WORK_CHECK: '300ms' });
      await using h = await Harness.start(env);
      const { id, dispatched } = await postedAndDispatched(h);
      const first = dispatched.work!.dispatchId!;
      // The item leaves the queue as if an agent had taken it and its result were lost on the way.
      const item = await waitFor('the refining work item queued', async () => (await workMessage(env.bus, id).catch(() => null)) ?? undefined);
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

    it('counts a failed lookup of the work stream as nothing, never as lost work (a leader election under load)', async () => {
      await using env = await setup({ NIGHTSHIFT_LOST_WORK_CHECK: '200ms' });
      await using h = await Harness.start(env);
      const { id, dispatched } = await postedAndDispatched(h);
      await waitFor('the refining work item queued', async () => (await workMessage(env.bus, id).catch(() => null)) ?? undefined);
      // Every lookup of a message fails for a while, as JetStream API requests do while a stream's
      // leader is being elected on a loaded cluster. The coordinator shares this connection.
      const streams = env.bus.jsm.streams;
      const getMessage = streams.getMessage.bind(streams);
      let failed = 0;
      streams.getMessage = async () => {
        failed += 1;
        throw new Error('timeout: the stream leader did not answer');
      };
      try {
        await waitFor('many failed checks', () => failed >= 20, { timeoutMs: 60_000 });
      } finally {
        streams.getMessage = getMessage;
      }
      const waited = await h.ticket(id);
      expect(waited.state).toBe('refining');
      expect(waited.work!.dispatchId).toBe(dispatched.work!.dispatchId);
      expect(waited.timeline.filter((e) => e.event === 'retry')).toEqual([]);
      await h.agent('refiner', advance);
      await h.inState(id, 'writing_tests');
      expect(h.calls.map((c) => [c.stage, c.attempt, c.deliveries])).toEqual([['refining', 1, 1]]);
    });

    /**
     * Plays the refiner's part by hand up to a reported start: takes the ticket's work item (and holds
     * it, unacked), reports the attempt started, and waits until the ticket knows.
     */
    const startByHand = async (env: TestEnv, h: Harness, id: string) => {
      const consumer = await env.bus.js.consumers.get(env.bus.names.workStream, env.bus.names.roleConsumer('refiner'));
      const m = await waitFor('the refining work item delivered', async () => (await consumer.next({ expires: 1_000 })) ?? undefined);
      const item = decodeEnvelope(m.data, [WorkItem]);
      const meta = { source: 'agent:refiner', correlationId: id, causationId: item.id };
      const started = envelope(StageStarted, { ticketId: id, stage: 'refining', attempt: 1, deliveries: 1, startedAt: new Date().toISOString() }, { ...meta, id: `${item.id}.started.1` });
      await publishEvent(env.bus, 'refiner', id, started);
      await h.until(id, 'the start applied', (t) => t.work?.startedAt !== undefined);
      return { m, item, meta };
    };
    /** Makes `bus` see the refiner's consumer's ack floor at or past `seq`: it counts the item done. */
    const passedOverOn = (bus: Bus, seq: number) => {
      const consumers = bus.jsm.consumers;
      const info = consumers.info.bind(consumers);
      let asked = 0;
      consumers.info = async (stream, name) => {
        const real = await info(stream, name);
        if (stream !== bus.names.workStream || name !== bus.names.roleConsumer('refiner')) return real;
        asked += 1;
        return { ...real, ack_floor: { ...real.ack_floor, stream_seq: Math.max(seq, real.ack_floor.stream_seq) } };
      };
      return { asked: () => asked };
    };

    it('leaves started work its consumer passed over alone while its result waits to be applied (an ack landing before its delete)', async () => {
      // A loaded cluster shows this for a moment after every completed attempt: the agent published its
      // result and acked, the consumer's ack floor moved past the item, the queue's delete is not in
      // yet, and the coordinators have yet to apply the result. Here the coordinator that would apply it
      // is held, so the moment lasts as long as the test wants.
      await using env = await setup({ NIGHTSHIFT_LOST_WORK_CHECK: '200ms', NIGHTSHIFT_ACK_WAIT: '60s' });
      await using h = await Harness.start(env);
      const { id } = await postedAndDispatched(h);
      const { m, item, meta } = await startByHand(env, h, id);
      await h[Symbol.asyncDispose]();
      await publishEvent(env.bus, 'refiner', id, envelope(StageCompleted, { ticketId: id, stage: 'refining', attempt: 1, outcome: { kind: 'advance', output: { did: 'refining' } } }, { ...meta, id: `${item.id}.completed` }));
      // A second coordinator whose events wait behind a gate, on a bus that sees the item passed over.
      const bus = await env.connect('held-coordinator');
      const passed = passedOverOn(bus, m.seq);
      const release = holdEvents(bus);
      const coordinator = createCoordinator({ bus, config: env.config, log: env.sink.log });
      await coordinator.start();
      try {
        await waitFor('many checks of the passed-over item', () => passed.asked() >= 10, { timeoutMs: 60_000 });
        const waiting = await h.ticket(id);
        expect(waiting.state).toBe('refining');
        expect(waiting.failure).toBeNull();
        release();
        const t = await h.inState(id, 'writing_tests');
        expect(t.artifacts).toEqual({ refining: { did: 'refining' } });
        expect(t.timeline.filter((e) => e.event === 'retry')).toEqual([]);
        expect(env.sink.lines.filter((l) => /passed over/.test(String(l.msg)))).toEqual([]);
      } finally {
        release();
        await coordinator.stop();
      }
      m.ack();
    });

    it('fails a started attempt its consumer passed over only once two checks saw it so', async () => {
      await using env = await setup({ NIGHTSHIFT_LOST_WORK_CHECK: '200ms', NIGHTSHIFT_ACK_WAIT: '60s' });
      await using h = await Harness.start(env);
      const { id } = await postedAndDispatched(h);
      const { m } = await startByHand(env, h, id);
      // The coordinator shares this connection: from now on the consumer counts the item done, and no
      // result ever comes (its deliveries ran out, and the advisory saying so was lost).
      const passed = passedOverOn(env.bus, m.seq);
      const t = await h.until(id, 'the attempt failed', (x) => x.state !== 'refining', 60_000);
      expect(t.state).toBe('failed');
      expect(t.failure).toMatchObject({ code: 'deliveries_exhausted', stage: 'refining', message: expect.stringMatching(/passed over by its consumer after it started \(its 5 deliveries ran out\)/) });
      expect(passed.asked()).toBeGreaterThanOrEqual(2);
      expect(env.sink.lines.filter((l) => /started work passed over/.test(String(l.msg)))).toHaveLength(1);
      // Its item left the queue with the failure.
      await waitFor('the item deleted', async () => ((await env.bus.jsm.streams.getMessage(env.bus.names.workStream, { seq: m.seq })) === null ? true : undefined));
    });

    it('queues again, under a new id, an item its consumer passed over before any agent started it', async () => {
      await using env = await setup({ NIGHTSHIFT_LOST_WORK_CHECK: '200ms' });
      await using h = await Harness.start(env);
      const { id, dispatched } = await postedAndDispatched(h);
      const item = await waitFor('the refining work item queued', async () => (await workMessage(env.bus, id).catch(() => null)) ?? undefined);
      const passed = passedOverOn(env.bus, item.seq);
      const again = await waitFor('the item queued again', async () => {
        const cur = await workMessage(env.bus, id).catch(() => null);
        return cur && cur.seq !== item.seq ? cur : undefined;
      });
      expect(passed.asked()).toBeGreaterThanOrEqual(2);
      expect(again.header?.get('Nats-Msg-Id')).toBe(`${dispatched.work!.dispatchId}.requeued.${item.seq}`);
      expect(decodeEnvelope(again.data, [WorkItem]).id).toBe(dispatched.work!.dispatchId);
      expect(await env.bus.jsm.streams.getMessage(env.bus.names.workStream, { seq: item.seq })).toBeNull();
    });

    it('leaves a work item alone while it waits in the queue, however long', async () => {
      await using env = await setup({ NIGHTSHIFT_LOST_WORK_CHECK: '200ms' });
      await using h = await Harness.start(env);
      const { id, dispatched } = await postedAndDispatched(h);
      const item = await waitFor('the refining work item queued', async () => (await workMessage(env.bus, id).catch(() => null)) ?? undefined);
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
