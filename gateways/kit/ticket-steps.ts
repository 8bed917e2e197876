import { ConflictError, delay, type Logger } from '../../shared/index.ts';

/**
 * Per-ticket work of a gateway that follows tickets (Slack escalations, questions on GitHub issues):
 * a ticket is enqueued on every change and woken at times (a reminder, a retry, a claim expiring); its
 * steps run one at a time, in order, and each reads everything afresh. A step that loses a
 * compare-and-set race is run again at once (ten times at most, then on the next sweep); one that fails
 * otherwise is woken again after `retryMs`.
 */
export interface TicketSteps {
  /** Runs a step for the ticket after those already queued (once, however often it is asked before it starts). */
  enqueue(id: string): void;
  /** Runs a step for the ticket at `at` (epoch ms), unless an earlier wake is set. */
  wake(id: string, at: number): void;
  /** When each ticket next has something due. */
  due(): ReadonlyMap<string, number>;
  /** Enqueues due tickets every `sweepIntervalMs` until the signal aborts. */
  sweep(): Promise<void>;
  /** Resolves when the steps in hand have finished. */
  drain(): Promise<void>;
}

export interface TicketStepsOptions {
  /** One step: bring whatever the gateway keeps for the ticket in line with the ticket. */
  step(id: string): Promise<void>;
  sweepIntervalMs: number;
  retryMs: number;
  signal: AbortSignal;
  log: Logger;
  /** What a step is, for logs: `escalation`, `issue question`. */
  what: string;
  now?: () => number;
}

export function createTicketSteps({ step, sweepIntervalMs, retryMs, signal, log, what, now = Date.now }: TicketStepsOptions): TicketSteps {
  const chains = new Map<string, Promise<void>>();
  const queued = new Set<string>();
  const wakes = new Map<string, number>();

  function wake(id: string, at: number): void {
    const cur = wakes.get(id);
    if (cur === undefined || at < cur) wakes.set(id, at);
  }

  async function run(id: string): Promise<void> {
    wakes.delete(id);
    for (let i = 0; i < 10; i++) {
      try {
        await step(id);
        return;
      } catch (err) {
        if (err instanceof ConflictError) continue;
        const retryAt = now() + retryMs;
        log.warn({ err, ticketId: id, retryAt: new Date(retryAt).toISOString() }, `${what} step failed; will retry`);
        wake(id, retryAt);
        return;
      }
    }
    wake(id, now());
  }

  function enqueue(id: string): void {
    if (queued.has(id) || signal.aborted) return;
    queued.add(id);
    const next = (chains.get(id) ?? Promise.resolve()).then(() => {
      queued.delete(id);
      return run(id);
    });
    chains.set(id, next);
    void next.finally(() => {
      if (chains.get(id) === next) chains.delete(id);
    });
  }

  return {
    enqueue,
    wake,
    due: () => new Map(wakes),
    async sweep() {
      while (!signal.aborted) {
        await delay(sweepIntervalMs, signal);
        const n = now();
        for (const [id, at] of [...wakes]) {
          if (at > n) continue;
          wakes.delete(id);
          enqueue(id);
        }
      }
    },
    async drain() {
      await Promise.allSettled([...chains.values()]);
    },
  };
}
