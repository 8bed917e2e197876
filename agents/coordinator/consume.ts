/**
 * How a coordinator consumes a stream (its events, the server's advisories): one long-lived pull on
 * the coordinators' shared durable consumer, many messages in hand at once, those of one ticket one
 * after another. What a message means is the caller's `handle`; this holds only the flow.
 */
import type { Consumer, JsMsg } from '@nats-io/jetstream';
import type { Bus } from '../../bus/index.ts';
import { delay, type Logger } from '../../shared/index.ts';

/**
 * Messages one coordinator handles at once per stream (and asks the server for in one pull). Events of
 * one ticket are still applied one at a time, in arrival order.
 */
const MAX_IN_FLIGHT = 64;

/**
 * Consumes `stream` through the shared durable consumer with one long-lived pull, handling up to
 * MAX_IN_FLIGHT messages at once. Messages with the same key (`keyOf`: the ticket of an event) are
 * handled one after another in arrival order; others run concurrently, which compare-and-set makes
 * safe, here as across coordinator replicas. Ends once `signal` aborts and what is in hand is done;
 * messages buffered but not started are handed back (nak) for any coordinator to take.
 */
export async function consumeLoop(
  { bus, signal, log }: { bus: Bus; signal: AbortSignal; log: Logger },
  stream: string,
  handle: (m: JsMsg) => Promise<void>,
  keyOf: (m: JsMsg) => string | undefined,
): Promise<void> {
  const chains = new Map<string, Promise<void>>();
  const active = new Set<Promise<void>>();
  let freed: (() => void) | undefined;
  const run = async (m: JsMsg): Promise<void> => {
    try {
      await handle(m);
    } catch (err) {
      log.error({ err, subject: m.subject }, 'handling failed; will be redelivered');
      m.nak(1_000);
    }
  };
  let consumer: Consumer | undefined;
  while (!signal.aborted) {
    try {
      consumer ??= await bus.js.consumers.get(stream, bus.names.coordinatorConsumer);
      const messages = await consumer.consume({ max_messages: MAX_IN_FLIGHT });
      const close = () => void messages.close();
      signal.addEventListener('abort', close, { once: true });
      // Stopped while the consumer was being looked up or the pull set up: the listener comes too late.
      if (signal.aborted) close();
      try {
        for await (const m of messages) {
          if (signal.aborted) {
            m.nak();
            continue;
          }
          while (active.size >= MAX_IN_FLIGHT) await new Promise<void>((r) => (freed = r));
          const key = keyOf(m);
          const before = key === undefined ? undefined : chains.get(key);
          const p = before ? before.then(() => run(m)) : run(m);
          active.add(p);
          if (key !== undefined) chains.set(key, p);
          void p.finally(() => {
            active.delete(p);
            if (key !== undefined && chains.get(key) === p) chains.delete(key);
            const wake = freed;
            freed = undefined;
            wake?.();
          });
        }
      } finally {
        signal.removeEventListener('abort', close);
      }
      // The pull ended without a stop (the client gave up on it): start another.
      if (!signal.aborted) await delay(500, signal);
    } catch (err) {
      if (signal.aborted) break;
      consumer = undefined;
      log.debug({ err, stream }, 'consumer unavailable; retrying');
      await delay(500, signal);
    }
  }
  await Promise.allSettled([...active]);
}
