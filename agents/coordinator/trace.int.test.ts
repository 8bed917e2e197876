import { expect, it } from 'vitest';
import { envelope, Headers, publishEvent, StageCompleted, TicketStore } from '../../bus/index.ts';
import { IntakeReply, loadConfig, startTracing } from '../../shared/index.ts';
import { setup } from '../../test/helpers/env.ts';
import { makeRepo } from '../../test/helpers/git.ts';
import { startOtlpReceiver } from '../../test/helpers/otlp.ts';
import { waitFor } from '../../test/helpers/wait.ts';
import { createCoordinator } from './coordinator.ts';

it('keeps a ticket in its trace across a coordinator restart and an event that carries no trace context', async () => {
  await using receiver = await startOtlpReceiver();
  await using env = await setup();
  const tracing = await startTracing({
    config: loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: '100' }),
    service: 'nightshift-coordinator',
    log: env.sink.log,
  });
  try {
    const first = createCoordinator({ bus: env.bus, config: env.config, log: env.sink.log });
    await first.start();
    const reply = IntakeReply.parse((await env.bus.nc.request(env.bus.subjects.ticketIntake, JSON.stringify({ title: 'x', body: 'y', repo: { path: makeRepo() } }), { timeout: 10_000 })).json());
    if (!reply.ok) throw new Error(reply.error.message);
    const store = new TicketStore(await env.bus.tickets());
    const refining = await waitFor('dispatch to refining', async () => {
      const t = (await store.get(reply.id))?.ticket;
      return t?.state === 'refining' && t.work?.dispatchId && t.outbox.length === 0 ? t : undefined;
    });
    const [, traceId, rootId] = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(refining.traceparent ?? '') ?? [];
    expect(traceId, 'the ticket keeps the traceparent of its intake span').toBeDefined();
    await first.stop();

    // Another coordinator, and a result published outside any span (no trace context in its headers).
    const second = createCoordinator({ bus: env.bus, config: env.config, log: env.sink.log });
    await second.start();
    const result = envelope(
      StageCompleted,
      { ticketId: reply.id, stage: 'refining', attempt: 1, outcome: { kind: 'advance', output: {} } },
      { source: 'agent:refiner', correlationId: reply.id, causationId: refining.work!.dispatchId! },
    );
    await publishEvent(env.bus, 'refiner', reply.id, result);
    await waitFor('writing_tests dispatched', async () => (await store.get(reply.id))?.ticket.state === 'writing_tests');
    await second.stop();

    const spans = await waitFor('the spans of the second coordinator', () => {
      const applied = receiver.spans.find((s) => s.name === 'apply stage.completed');
      const dispatched = receiver.spans.find((s) => s.name === 'dispatch writing_tests');
      return applied && dispatched ? { applied, dispatched } : undefined;
    });
    // The result is applied under the ticket's root, read back from its record, and what it dispatches under that.
    expect(spans.applied).toMatchObject({ traceId, parentSpanId: rootId, service: 'nightshift-coordinator' });
    expect(spans.dispatched).toMatchObject({ traceId, parentSpanId: spans.applied.spanId });
    expect(spans.applied.attributes).toMatchObject({ 'nightshift.ticket.id': reply.id, 'nightshift.event': 'stage.completed', 'nightshift.state': 'writing_tests' });
    // The work item carries the dispatch's context to its agent.
    const item = await env.bus.jsm.streams.getMessage(env.bus.names.workStream, { last_by_subj: env.bus.subjects.work('test-author', reply.id) });
    expect(item?.header.get(Headers.TraceParent)).toBe(`00-${traceId}-${spans.dispatched.spanId}-01`);
    expect(receiver.spans.filter((s) => s.name === 'intake').map((s) => [s.traceId, s.spanId, s.parentSpanId])).toEqual([[traceId, rootId, undefined]]);
  } finally {
    await tracing?.shutdown();
  }
});
