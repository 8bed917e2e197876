import { describe, expect, it } from 'vitest';
import { AgentError, delay } from '../../shared/index.ts';
import { answerTicket } from '../../bus/index.ts';
import { setup } from '../../test/helpers/env.ts';
import { Harness } from '../../test/helpers/harness.ts';
import { waitFor } from '../../test/helpers/wait.ts';
import type { AgentHandler } from './runtime.ts';

const advance: AgentHandler = async (work) => ({ kind: 'advance', output: { did: work.stage } });

describe('agent runtime', () => {
  it('retries a retryable failure with backoff until the handler succeeds', async () => {
    await using env = await setup();
    await using h = await Harness.start(env);
    await h.agent('refiner', async (work, ctx) => {
      if (ctx.deliveries < 3) throw new AgentError('model_unavailable', `try ${ctx.deliveries} failed`, { retryable: true });
      return advance(work, ctx);
    });
    const id = await h.post();
    const t = await h.inState(id, 'writing_tests');
    expect(h.calls.map((c) => [c.stage, c.attempt, c.deliveries])).toEqual([
      ['refining', 1, 1],
      ['refining', 1, 2],
      ['refining', 1, 3],
    ]);
    expect(t.artifacts).toEqual({ refining: { did: 'refining' } });
    expect(t.timeline.filter((e) => e.event === 'retry')).toEqual([]);
    const info = await h.consumerIdle('refiner');
    expect(info.num_redelivered).toBe(0);
  });

  it('counts the tokens of a delivery that failed and was retried, once each', async () => {
    await using env = await setup();
    await using h = await Harness.start(env);
    const spent = { inputTokens: 1_000, outputTokens: 100, totalTokens: 1_100, calls: 1 };
    await h.agent('refiner', async (work, ctx) => {
      ctx.trackUsage(() => spent);
      if (ctx.deliveries < 3) throw new AgentError('model_unavailable', `try ${ctx.deliveries} failed after a model call`, { retryable: true });
      return advance(work, ctx);
    });
    const id = await h.post();
    const t = await h.until(id, 'three deliveries counted', (c) => c.state === 'writing_tests' && c.usage.refiner?.calls === 3);
    expect(t.usage.refiner).toEqual({ inputTokens: 3_000, outputTokens: 300, totalTokens: 3_300, calls: 3 });
    expect(t.timeline.filter((e) => e.event === 'transition').map((e) => e.to)).toEqual(['refining', 'writing_tests']);
  });

  it('reports a result the bus refuses for a while once it takes it, without doing the work again or counting a failed delivery', async () => {
    await using env = await setup({ NIGHTSHIFT_MAX_DELIVER: '2', NIGHTSHIFT_RETRY_BACKOFF: '50ms', NIGHTSHIFT_RETRY_BACKOFF_MAX: '200ms' });
    await using h = await Harness.start(env);
    const hold = h.gate();
    await h.agent('refiner', async (work, ctx) => {
      await hold.wait(ctx.signal);
      return advance(work, ctx);
    });
    const id = await h.post();
    await h.callCount(1);
    // No stream takes events now (as while a cluster elects a leader): publishing answers "no responders".
    const events = env.bus.names.eventsStream;
    const { config } = await env.bus.jsm.streams.info(events);
    await env.bus.jsm.streams.update(events, { subjects: [`${env.config.NIGHTSHIFT_PREFIX}.nowhere.>`] });
    hold.open();
    await waitFor('the agent to fail reporting its result', () => env.sink.lines.some((l) => l.msg === 'could not report the result; retrying until the bus takes it' && l.ticketId === id));
    // Longer than the two allowed deliveries with their backoff would last: none is spent.
    await waitFor('several tries', () => env.sink.lines.filter((l) => l.msg === 'could not report the result; retrying' && l.ticketId === id).length >= 4);
    await env.bus.jsm.streams.update(events, { subjects: config.subjects });
    const t = await h.inState(id, 'writing_tests');
    expect(h.calls.map((c) => [c.stage, c.deliveries])).toEqual([['refining', 1]]);
    expect(t.artifacts).toEqual({ refining: { did: 'refining' } });
    expect(t.timeline.filter((e) => e.event === 'retry' || e.event === 'ignored')).toEqual([]);
    expect(env.sink.lines.filter((l) => l.msg === 'work failed; will retry' || l.msg === 'work failed for good')).toEqual([]);
    expect(env.sink.lines.some((l) => l.msg === 'reported the result once the bus took it' && l.ticketId === id)).toBe(true);
    const info = await h.consumerIdle('refiner');
    expect(info.num_redelivered).toBe(0);
  });

  it('fails the ticket at once on a non-retryable error', async () => {
    await using env = await setup();
    await using h = await Harness.start(env);
    await h.agent('refiner', async () => {
      throw new AgentError('bad_spec', 'the ticket names no acceptance criteria', { retryable: false });
    });
    const id = await h.post();
    const t = await h.inState(id, 'failed');
    expect(t.failure).toEqual({ code: 'bad_spec', message: 'the ticket names no acceptance criteria', stage: 'refining' });
    expect(t.work).toBeNull();
    expect(t.outbox).toEqual([]);
    await h.consumerIdle('refiner');
    expect(h.calls.map((c) => c.deliveries)).toEqual([1]);
  });

  it('fails the ticket when retryable errors use up the deliveries', async () => {
    await using env = await setup({ NIGHTSHIFT_MAX_DELIVER: '3', NIGHTSHIFT_STAGE_ATTEMPTS: '1' });
    await using h = await Harness.start(env);
    await h.agent('refiner', async (_work, ctx) => {
      throw new AgentError('tool_crashed', `crash on delivery ${ctx.deliveries}`, { retryable: true });
    });
    const id = await h.post();
    const t = await h.inState(id, 'failed');
    expect(t.failure).toEqual({ code: 'tool_crashed', message: 'crash on delivery 3', stage: 'refining' });
    await h.consumerIdle('refiner');
    expect(h.calls.map((c) => [c.attempt, c.deliveries])).toEqual([
      [1, 1],
      [1, 2],
      [1, 3],
    ]);
    expect(t.timeline.filter((e) => e.event === 'dispatched')).toHaveLength(1);
  });

  it('keeps a long piece of work alive with in-progress acks instead of letting it be redelivered', async () => {
    await using env = await setup({ NIGHTSHIFT_ACK_WAIT: '1s' });
    await using h = await Harness.start(env);
    const release = h.gate();
    const handler: AgentHandler = async (work, ctx) => {
      await release.wait(ctx.signal);
      return advance(work, ctx);
    };
    // Two replicas: a redelivery would reach the idle one.
    await h.agent('refiner', handler);
    await h.agent('refiner', handler);
    const id = await h.post();
    await h.callCount(1);
    const heldSince = Date.now();
    await waitFor('3.5 s (three and a half ack waits) with the work held', () => {
      if (h.calls.length > 1) throw new Error(`work redelivered while held: ${h.calls.length} calls`);
      return Date.now() - heldSince >= 3_500;
    }, { intervalMs: 20 });
    release.open();
    await h.inState(id, 'writing_tests');
    const info = await h.consumerIdle('refiner');
    expect(h.calls.map((c) => c.deliveries)).toEqual([1]);
    expect(info.num_redelivered).toBe(0);
    expect(info.delivered.consumer_seq).toBe(1);
  });

  it('times a stage out, dispatches the next attempt, and fails after the last one', async () => {
    await using env = await setup({ NIGHTSHIFT_STAGE_TIMEOUTS: 'refining=1s', NIGHTSHIFT_STAGE_ATTEMPTS: '2' });
    await using h = await Harness.start(env);
    const never = h.gate();
    const handler: AgentHandler = async (work, ctx) => {
      await never.wait(ctx.signal);
      return advance(work, ctx);
    };
    await h.agent('refiner', handler);
    await h.agent('refiner', handler);
    const id = await h.post();
    const t = await h.inState(id, 'failed');
    expect(t.failure).toMatchObject({ code: 'stage_timeout', stage: 'refining' });
    expect(t.failure?.message).toMatch(/refining attempt 2 timed out after 1000ms/);
    const steps = t.timeline
      .filter((e) => ['dispatched', 'timeout', 'transition'].includes(e.event))
      .map((e) => (e.event === 'transition' ? `${e.event}:${e.to}` : `${e.event}:${e.stage}.${e.attempt}`));
    expect(steps).toEqual([
      'transition:refining',
      'dispatched:refining.1',
      'timeout:refining.1',
      'dispatched:refining.2',
      'timeout:refining.2',
      'transition:failed',
    ]);
    // The second attempt really reached an agent (the idle replica).
    await h.callCount(2);
    expect(h.calls.map((c) => [c.stage, c.attempt])).toEqual([
      ['refining', 1],
      ['refining', 2],
    ]);
  });

  it('parks an escalated ticket and resumes it with the answer', async () => {
    await using env = await setup();
    await using h = await Harness.start(env);
    await h.agent('refiner', async (work, ctx) => {
      if (work.ticket.answers.length === 0) {
        return { kind: 'escalate', questions: [{ id: 'flag', text: 'Should the flag be -v or --verbose?', blocking: true }] };
      }
      return advance(work, ctx);
    });
    const id = await h.post();
    const parked = await h.inState(id, 'awaiting_human');
    expect(parked.parked).toMatchObject({ from: 'refining', questions: [{ id: 'flag', text: 'Should the flag be -v or --verbose?' }] });
    const answered = await answerTicket(h.bus, id, 'Both: -v and --verbose', { by: 'human:alice', timeoutMs: 10_000 });
    expect(answered.state).toBe('refining');
    expect(answered.work).toMatchObject({ stage: 'refining', attempt: 1 });
    expect(answered.answers).toEqual([{ text: 'Both: -v and --verbose', by: 'human:alice', at: expect.any(String) }]);
    const t = await h.inState(id, 'writing_tests');
    expect(h.calls.map((c) => [c.stage, c.attempt, c.answers.map((a) => [a.text, a.by])])).toEqual([
      ['refining', 1, []],
      ['refining', 1, [['Both: -v and --verbose', 'human:alice']]],
    ]);
    expect(t.timeline.filter((e) => e.event === 'transition').map((e) => e.to)).toEqual([
      'refining',
      'awaiting_human',
      'refining',
      'writing_tests',
    ]);
  });

  // With failed lookups: the coordinator's lookup of the exhausted item fails at first (a stream leader
  // election); the advisory must come back until one succeeds, not be dropped.
  it.each([0, 3])('fails the ticket when the server gives up redelivering work that is never acknowledged (%i failed lookups of the item)', async (failedLookups) => {
    await using env = await setup({ NIGHTSHIFT_ACK_WAIT: '1s', NIGHTSHIFT_MAX_DELIVER: '2' });
    await using h = await Harness.start(env);
    const streams = h.bus.jsm.streams;
    const getMessage = streams.getMessage.bind(streams);
    let failed = 0;
    streams.getMessage = async (stream, query) => {
      if (query && 'seq' in query && failed < failedLookups) {
        failed += 1;
        throw new Error('timeout: the stream leader did not answer');
      }
      return getMessage(stream, query);
    };
    const consumer = await h.bus.js.consumers.get(h.bus.names.workStream, h.bus.names.roleConsumer('refiner'));
    const id = await h.post();
    const deliveries: number[] = [];
    const t = await waitFor('deliveries_exhausted', async () => {
      // A crashing agent: takes the work and never answers.
      const m = await consumer.next({ expires: 1_000 });
      if (m) deliveries.push(m.info.deliveryCount);
      const cur = await h.ticket(id);
      return cur.state === 'failed' ? cur : undefined;
    }, { intervalMs: 10 });
    expect(t.failure).toEqual({ code: 'deliveries_exhausted', message: 'work item delivered 2 times without completing', stage: 'refining' });
    expect(deliveries).toEqual([1, 2]);
    expect(failed).toBe(failedLookups);
    const failedBy = t.timeline.find((e) => e.event === 'transition' && e.to === 'failed');
    expect(failedBy).toMatchObject({ by: 'coordinator', cause: expect.stringMatching(/^advisory\./) });
    await waitFor('the exhausted item removed from the work stream', async () => {
      const info = await h.bus.jsm.streams.info(h.bus.names.workStream);
      return info.state.messages === 0;
    });
  });

  it('waits for work with one long-lived pull instead of a pull a second, takes work through it, and stops at once while it waits', async () => {
    await using env = await setup();
    await using h = await Harness.start(env);
    const pulls: number[] = [];
    const next = `$JS.API.CONSUMER.MSG.NEXT.${env.bus.names.workStream}.${env.bus.names.roleConsumer('refiner')}`;
    const sub = env.bus.nc.subscribe(next, { callback: () => void pulls.push(Date.now()) });
    try {
      const runtime = await h.agent('refiner', advance);
      await waitFor('the first pull', () => pulls.length >= 1);
      // An observation window, not a wait for a condition: a pull renewed every second shows here
      // three times or more, however slow the machine.
      await delay(3_500);
      expect(pulls).toHaveLength(1);
      const id = await h.post();
      await h.inState(id, 'writing_tests');
      expect(h.calls).toHaveLength(1);
      // Asking for exactly one item, it pulls again after the work and waits again.
      await waitFor('the pull after the work', () => pulls.length >= 2);
      const stopAt = Date.now();
      await runtime.stop();
      // Far less than the pull's 30 s expiry: the stop ends the pull.
      expect(Date.now() - stopAt).toBeLessThan(10_000);
    } finally {
      sub.unsubscribe();
    }
  });

  it('lets the work in hand finish when stopped within the shutdown grace', async () => {
    await using env = await setup();
    await using h = await Harness.start(env);
    const release = h.gate();
    const runtime = await h.agent('refiner', async (work, ctx) => {
      await release.wait(ctx.signal);
      return advance(work, ctx);
    });
    const id = await h.post();
    await h.callCount(1);
    const stopped = runtime.stop();
    release.open();
    await stopped;
    expect(h.calls[0]!.ctx.signal.aborted).toBe(false);
    await h.inState(id, 'writing_tests');
    await h.consumerIdle('refiner');
    expect(h.calls).toHaveLength(1);
  });

  it('hands the work back when the shutdown grace runs out, and another replica completes it', async () => {
    // A long ack wait: the item can only come back this fast if it was handed back (nak).
    await using env = await setup({ NIGHTSHIFT_SHUTDOWN_GRACE: '300ms', NIGHTSHIFT_ACK_WAIT: '60s' });
    await using h = await Harness.start(env);
    const never = h.gate();
    const first = await h.agent('refiner', async (work, ctx) => {
      await never.wait(ctx.signal);
      if (ctx.signal.aborted) throw new Error('handed back');
      return advance(work, ctx);
    });
    const id = await h.post();
    await h.callCount(1);
    const stopAt = Date.now();
    await first.stop();
    expect(Date.now() - stopAt).toBeLessThan(10_000);
    expect(h.calls[0]!.ctx.signal.aborted).toBe(true);
    expect((await h.ticket(id)).state).toBe('refining');
    await h.agent('refiner', advance);
    const t = await h.inState(id, 'writing_tests', 15_000);
    expect(h.calls.map((c) => [c.attempt, c.deliveries])).toEqual([
      [1, 1],
      [1, 2],
    ]);
    expect(t.timeline.filter((e) => e.event === 'dispatched')).toHaveLength(2);
    await h.consumerIdle('refiner');
  });
});
