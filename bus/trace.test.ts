import { headers as natsHeaders } from '@nats-io/transport-node';
import { trace } from '@opentelemetry/api';
import { expect, it } from 'vitest';
import { inSpan, loadConfig, startTracing } from '../shared/index.ts';
import { logSink } from '../test/helpers/env.ts';
import { startOtlpReceiver } from '../test/helpers/otlp.ts';
import { Headers } from './subjects.ts';
import { traceContextOf, traceHeaders } from './trace.ts';

it('puts no trace headers on messages, and reads none, in a process that does not trace', async () => {
  await inSpan('untraced', {}, async () => {
    expect(traceHeaders()).toBeUndefined();
    const h = natsHeaders();
    expect(traceHeaders(h)).toBe(h);
    expect(h.has(Headers.TraceParent)).toBe(false);
  });
  const h = natsHeaders();
  h.set(Headers.TraceParent, '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
  expect(traceContextOf(h)).toBeUndefined();
});

it('carries the active span in NATS headers, beside the others, and gives it back to the receiver', async () => {
  await using receiver = await startOtlpReceiver();
  const t = await startTracing({ config: loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url }), service: 'test', log: logSink().log });
  try {
    await inSpan('sender', {}, async (span) => {
      const h = traceHeaders()!;
      const { traceId, spanId } = span.spanContext();
      expect(h.get(Headers.TraceParent)).toBe(`00-${traceId}-${spanId}-01`);
      expect(trace.getSpanContext(traceContextOf(h)!)).toMatchObject({ traceId, spanId, isRemote: true });
      const withId = natsHeaders();
      withId.set(Headers.MsgId, 'm-1');
      expect(traceHeaders(withId)).toBe(withId);
      expect(withId.get(Headers.MsgId)).toBe('m-1');
      expect(withId.get(Headers.TraceParent)).toBe(`00-${traceId}-${spanId}-01`);
    });
    expect(traceContextOf(undefined)).toBeUndefined();
    expect(traceContextOf(natsHeaders())).toBeUndefined();
  } finally {
    await t?.shutdown();
  }
});
