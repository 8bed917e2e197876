import type { TicketStore } from '../../bus/index.ts';
import { isTerminal, type Logger, type Stage, type Ticket } from '../../shared/index.ts';

/** The work item a fence guards: its dispatch id (the envelope id), stage and attempt. */
export interface FencedWork {
  dispatchId: string;
  ticketId: string;
  stage: Stage;
  attempt: number;
  /** When the coordinator published the item (its envelope's `ts`). */
  publishedAt: string;
}

/**
 * Why the ticket no longer wants this work, or null while it does. The ticket wants it only while it
 * is in the work's stage and its current dispatch is this one: a cancelled, finished, parked or
 * re-dispatched ticket (a retry, a timeout, a send-back) has moved on.
 */
export function movedOn(t: Ticket | null, w: FencedWork): string | null {
  if (!t) return 'the ticket does not exist';
  if (isTerminal(t.state)) return `the ticket is ${t.state}`;
  const current = t.state === w.stage && t.work !== null && (t.work.dispatchId !== undefined ? t.work.dispatchId === w.dispatchId : t.work.stage === w.stage && t.work.attempt === w.attempt);
  if (current) return null;
  // A record last changed before the item was published cannot have moved past it: it is an older
  // revision (a KV read served by a lagging replica). The work goes on; the watch sees the newer one.
  if (Date.parse(t.updatedAt) < Date.parse(w.publishedAt)) return null;
  if (t.state !== w.stage || !t.work) return `the ticket is ${t.state}, not ${w.stage}`;
  return `the ticket moved on to ${t.work.dispatchId ?? `${t.work.stage} attempt ${t.work.attempt}`}`;
}

/** A running fence: aborts `signal` as soon as the ticket moves on, with the reason. */
export interface Fence {
  readonly signal: AbortSignal;
  /** Why the work was fenced off; null while it is not. */
  readonly reason: string | null;
  /** Stops watching the ticket. */
  stop(): void;
}

/**
 * Watches the ticket's record while its work runs (a KV watch of its one key, so a cancel reaches
 * the handler in about a round trip) and aborts the fence's signal when the ticket moves on. A watch
 * that fails is only logged: the coordinator refuses a stale result anyway, the fence saves its cost.
 */
export function watchFence(store: TicketStore, w: FencedWork, log: Logger): Fence {
  const fenced = new AbortController();
  const watching = new AbortController();
  let reason: string | null = null;
  void (async () => {
    try {
      for await (const t of store.watch(watching.signal, w.ticketId)) {
        if (watching.signal.aborted) break;
        const why = movedOn(t, w);
        if (why) {
          reason = why;
          fenced.abort(new Error(`work fenced off: ${why}`));
          break;
        }
      }
    } catch (err) {
      if (!watching.signal.aborted) log.warn({ err }, 'could not watch the ticket; its work is not fenced');
    }
  })();
  return {
    signal: fenced.signal,
    get reason() {
      return reason;
    },
    stop: () => watching.abort(),
  };
}
