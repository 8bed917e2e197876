import { headers as natsHeaders, type MsgHdrs } from '@nats-io/transport-node';
import { extractTrace, injectTrace, tracing, type TraceContext } from '../shared/index.ts';
import { Headers } from './subjects.ts';

/**
 * The trace context of the active span in NATS headers (`traceparent`, `tracestate`), added to
 * `into` when given: what a work item or an event carries so that its receiver continues the ticket's
 * trace. Undefined (or `into` untouched) when this process does not trace.
 */
export function traceHeaders(into?: MsgHdrs, ctx?: TraceContext): MsgHdrs | undefined {
  if (!tracing()) return into;
  const h = into ?? natsHeaders();
  injectTrace(h, ctx);
  return h.has(Headers.TraceParent) || into ? h : undefined;
}

/** The trace context a message's headers carry, or undefined when none (or this process does not trace). */
export function traceContextOf(h: MsgHdrs | undefined): TraceContext | undefined {
  return tracing() ? extractTrace(h) : undefined;
}
