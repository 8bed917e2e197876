import { describe, expect, it } from 'vitest';
import { cancelTicket } from '../../bus/index.ts';
import { setup } from '../../test/helpers/env.ts';
import { Harness } from '../../test/helpers/harness.ts';
import { waitFor } from '../../test/helpers/wait.ts';
import type { AgentHandler } from './runtime.ts';

const advance: AgentHandler = async (work) => ({ kind: 'advance', output: { did: work.stage } });

/** The runtime's log lines about dropped work, with their reasons. */
function dropped(h: Harness): { msg: unknown; reason: unknown; ticketId: unknown }[] {
  return h.env.sink.lines
    .filter((l) => l.msg === 'work dropped before it started: the ticket moved on' || l.msg === 'work aborted: the ticket moved on')
    .map((l) => ({ msg: l.msg, reason: l.reason, ticketId: l.ticketId }));
}

describe('work fenced by the ticket state', () => {
  it('drops the queued work of a cancelled ticket without calling the handler', async () => {
    await using env = await setup();
    await using h = await Harness.start(env);
    const id = await h.post();
    await h.until(id, 'dispatched', (t) => t.state === 'refining' && t.outbox.length === 0);
    await cancelTicket(h.bus, id, { by: 'cli:bob', timeoutMs: 10_000 });
    await h.agent('refiner', advance);
    await h.consumerIdle('refiner');
    expect(h.calls).toEqual([]);
    expect(dropped(h)).toEqual([{ msg: 'work dropped before it started: the ticket moved on', reason: 'the ticket is cancelled', ticketId: id }]);
    const t = await h.ticket(id);
    expect(t.timeline.map((e) => e.event)).not.toContain('started');
  });

  it('drops a queued attempt the ticket has moved past, and runs the one it waits for', async () => {
    // Nobody starts attempt 1 within the queue timeout: attempt 2 is dispatched behind it.
    await using env = await setup({ NIGHTSHIFT_QUEUE_TIMEOUT: '1s', NIGHTSHIFT_STAGE_ATTEMPTS: '2' });
    await using h = await Harness.start(env);
    const id = await h.post();
    await h.until(id, 'attempt 2 dispatched', (t) => t.work?.attempt === 2 && t.outbox.length === 0);
    await h.agent('refiner', advance);
    const t = await h.inState(id, 'writing_tests');
    await h.consumerIdle('refiner');
    expect(h.calls.map((c) => [c.stage, c.attempt])).toEqual([['refining', 2]]);
    expect(dropped(h)).toEqual([
      { msg: 'work dropped before it started: the ticket moved on', reason: `the ticket moved on to ${id}.refining.2`, ticketId: id },
    ]);
    expect(t.timeline.find((e) => e.event === 'timeout')?.reason).toBe('refining attempt 1 was not started within the queue timeout of 1000ms');
  });

  it('aborts the handler when the ticket is cancelled mid-work, reports no result, and counts the tokens spent', async () => {
    await using env = await setup();
    await using h = await Harness.start(env);
    const spent = { inputTokens: 500, outputTokens: 50, totalTokens: 550, calls: 1 };
    const never = h.gate();
    await h.agent('refiner', async (work, ctx) => {
      ctx.trackUsage(() => spent);
      await never.wait(ctx.signal);
      if (ctx.signal.aborted) throw ctx.signal.reason;
      return advance(work, ctx);
    });
    const id = await h.post();
    await h.callCount(1);
    await h.until(id, 'the start recorded', (t) => t.timeline.some((e) => e.event === 'started'));
    await cancelTicket(h.bus, id, { by: 'cli:bob', reason: 'no longer needed', timeoutMs: 10_000 });
    const t = await h.until(id, 'the spent tokens counted', (c) => c.usage.refiner?.calls === 1);
    expect(h.calls[0]!.ctx.signal.aborted).toBe(true);
    expect(t.state).toBe('cancelled');
    expect(t.usage.refiner).toEqual(spent);
    await h.consumerIdle('refiner');
    expect(dropped(h)).toEqual([{ msg: 'work aborted: the ticket moved on', reason: 'the ticket is cancelled', ticketId: id }]);
    // No result was published (the tokens came as stage.usage): nothing stale to ignore, no failure.
    expect(t.timeline.filter((e) => e.event === 'ignored')).toEqual([]);
    expect(t.failure).toBeNull();
  });

  it('is not fenced off by a write the server refused: a coordinator that lost a compare-and-set published a state the ticket never had', async () => {
    await using env = await setup();
    await using h = await Harness.start(env);
    const go = h.gate();
    await h.agent('refiner', async (work, ctx) => {
      await go.wait(ctx.signal);
      if (ctx.signal.aborted) throw ctx.signal.reason;
      return advance(work, ctx);
    });
    const id = await h.post();
    await h.callCount(1);
    const started = await h.until(id, 'the start recorded', (t) => t.timeline.some((e) => e.event === 'started'));
    // A stale writer cancels the ticket on a revision long gone: every follower sees the write, the
    // bucket refuses it.
    const kv = await h.bus.tickets();
    const stale = { revision: (await kv.get(id))!.revision - 1 };
    const cancelled = { ...started, state: 'cancelled', work: null, updatedAt: new Date(Date.now() + 60_000).toISOString() };
    await expect(kv.update(id, JSON.stringify(cancelled), stale.revision)).rejects.toThrow();
    await waitFor('the fence to find the write never stored', () =>
      env.sink.lines.some((l) => l.ticketId === id && typeof l.msg === 'string' && l.msg.includes('was never stored')),
    );
    expect(h.calls[0]!.ctx.signal.aborted).toBe(false);
    go.open();
    const t = await h.inState(id, 'writing_tests');
    expect(dropped(h)).toEqual([]);
    expect(t.timeline.filter((e) => e.event === 'ignored')).toEqual([]);
  });

  it('runs the stage timeout from the start, not from the dispatch', async () => {
    await using env = await setup({ NIGHTSHIFT_STAGE_TIMEOUTS: 'refining=2s', NIGHTSHIFT_QUEUE_TIMEOUT: '1h' });
    await using h = await Harness.start(env);
    const id = await h.post();
    const queued = await h.until(id, 'dispatched', (t) => t.state === 'refining' && t.outbox.length === 0);
    const dispatchedAt = Date.parse(queued.work!.dispatchedAt);
    expect(Date.parse(queued.work!.deadline) - dispatchedAt).toBe(3_600_000);
    // Queued for longer than the stage timeout before an agent takes it.
    await waitFor('the work to have queued past the stage timeout', () => Date.now() > dispatchedAt + 2_500, { intervalMs: 100 });
    // Still running when its start is due to be reported; it ends once the start is recorded.
    const go = h.gate();
    await h.agent('refiner', async (work, ctx) => {
      await go.wait(ctx.signal);
      return advance(work, ctx);
    });
    const running = await h.until(id, 'the start recorded', (t) => t.timeline.some((e) => e.event === 'started'));
    expect(Date.parse(running.work!.deadline) - Date.parse(running.work!.startedAt!)).toBe(2_000);
    go.open();
    const t = await h.inState(id, 'writing_tests');
    const started = t.timeline.filter((e) => e.event === 'started');
    expect(started).toEqual([expect.objectContaining({ by: 'agent:refiner', stage: 'refining', attempt: 1, cause: `${id}.refining.1.started.1` })]);
    expect(Date.parse(started[0]!.at)).toBeGreaterThan(dispatchedAt + 2_500);
    expect(t.timeline.filter((e) => e.event === 'timeout')).toEqual([]);
    expect(h.calls.map((c) => [c.attempt, c.deliveries])).toEqual([[1, 1]]);
  });

  it('reports no start for an attempt that ends at once: its result alone', async () => {
    await using env = await setup();
    await using h = await Harness.start(env);
    const id = await h.post();
    await h.agent('refiner', advance);
    const t = await h.inState(id, 'writing_tests');
    await h.consumerIdle('refiner');
    expect(t.timeline.filter((e) => e.event === 'started')).toEqual([]);
    expect(t.timeline.filter((e) => e.event === 'ignored')).toEqual([]);
  });
});
