import { delay, isTerminal, type Logger, type Stage, type TicketHead } from '../../shared/index.ts';

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
export function movedOn(t: TicketHead | null, w: FencedWork): string | null {
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
  /** Stops following the ticket. */
  stop(): void;
}

/** Why a fence stops following: one value, so stopping builds no DOMException per work item. */
const STOPPED = new Error('the fence was stopped');

/** Where a fence learns of the ticket: the writes of its record as they are published, and the record as stored. */
export interface TicketSource {
  /**
   * The writes of the ticket's record from now on (`followTicket`), until the signal aborts: every
   * write published, including one the server then refuses (a compare-and-set on a stale revision).
   */
  follow(signal: AbortSignal): Promise<AsyncIterable<TicketHead | null>>;
  /** The ticket (its head) as the bucket stores it now. */
  read(): Promise<TicketHead | null>;
}

/**
 * How long after a write that would fence the work the stored record is read to confirm it: at once,
 * then again while the write may still be on its way into the stream. A write never stored by then
 * was refused (or superseded), and fences nothing.
 */
export const CONFIRM_DELAYS_MS: readonly number[] = [0, 50, 250, 1_000];

/**
 * Follows the ticket's record while its work runs and aborts the fence's signal when the ticket moves
 * on, so a cancel reaches the handler in about a round trip. Resolves once it follows, so a read of the
 * ticket made after it sees what it missed: start the fence, then check the ticket. Following costs a
 * core subscription, no consumer on the server.
 *
 * A write published is not a write stored: a coordinator that lost a compare-and-set published a
 * state the ticket never had. So a write that would fence the work is only a cue: the fence aborts
 * when the record as stored says the ticket moved on, read at once and again over about a second
 * (CONFIRM_DELAYS_MS) while the write may still be landing. A fence that cannot follow or read is only
 * logged: the coordinator refuses a stale result anyway, the fence saves its cost.
 */
export async function startFence(source: TicketSource, w: FencedWork, log: Logger, confirmDelaysMs: readonly number[] = CONFIRM_DELAYS_MS): Promise<Fence> {
  const fenced = new AbortController();
  const following = new AbortController();
  let reason: string | null = null;
  let writes: AsyncIterable<TicketHead | null> | null = null;
  try {
    writes = await source.follow(following.signal);
  } catch (err) {
    log.warn({ err }, 'could not follow the ticket; its work is not fenced');
  }
  /** Why the stored record says the ticket moved on, read until it reflects `write`; null if it never does. */
  const confirm = async (write: TicketHead | null): Promise<string | null> => {
    for (const wait of confirmDelaysMs) {
      if (wait > 0) await delay(wait, following.signal);
      if (following.signal.aborted) return null;
      const stored = await source.read();
      const why = movedOn(stored, w);
      if (why) return why;
      // The record stored is as new as the write or newer, and the work still current: the write
      // was refused, or another came after it. Nothing to wait for.
      if (stored && write && Date.parse(stored.updatedAt) >= Date.parse(write.updatedAt)) break;
    }
    return null;
  };
  if (writes) {
    const iterable = writes;
    void (async () => {
      try {
        for await (const t of iterable) {
          if (!movedOn(t, w)) continue;
          const why = await confirm(t);
          if (why) {
            reason = why;
            fenced.abort(new Error(`work fenced off: ${why}`));
            break;
          }
          if (!following.signal.aborted) log.debug({ seen: t ? `${t.state} ${t.work?.dispatchId ?? ''}`.trim() : 'deleted' }, 'a write of the ticket that would fence the work was never stored (refused by the server); the work goes on');
        }
      } catch (err) {
        if (!following.signal.aborted) log.warn({ err }, 'lost the ticket it followed; its work is no longer fenced');
      }
    })();
  }
  return {
    signal: fenced.signal,
    get reason() {
      return reason;
    },
    stop: () => following.abort(STOPPED),
  };
}
