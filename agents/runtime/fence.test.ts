import { describe, expect, it } from 'vitest';
import { IntakeRequest, type Ticket } from '../../shared/index.ts';
import { newTicket } from '../coordinator/reducer.ts';
import { waitFor } from '../../test/helpers/wait.ts';
import { movedOn, startFence, type FencedWork, type TicketSource } from './fence.ts';
import { createLogger } from '../../shared/index.ts';

const ID = 'tk-0123456789';
const T0 = Date.parse('2030-01-01T00:00:00.000Z');
const iso = (ms: number) => new Date(T0 + ms).toISOString();
const base = newTicket(ID, IntakeRequest.parse({ title: 't', body: 'b', repo: { path: '/r' } }), new Date(T0), 'intake:test');

/** A ticket at `dispatchId` of refining attempt `attempt`, last changed at `updated` (ms after T0). */
function at(state: Ticket['state'], dispatchId: string | null, updated: number, attempt = 1): Ticket {
  const work = dispatchId === null ? null : { stage: 'refining' as const, attempt, dispatchId, dispatchedAt: iso(updated), deadline: iso(updated + 60_000) };
  return { ...base, state, work, updatedAt: iso(updated) };
}

const item: FencedWork = { dispatchId: `${ID}.refining.1`, ticketId: ID, stage: 'refining', attempt: 1, publishedAt: iso(10) };

describe('movedOn', () => {
  it('lets the current dispatch run', () => {
    expect(movedOn(at('refining', `${ID}.refining.1`, 5), item)).toBeNull();
  });

  it.each(['cancelled', 'done', 'failed', 'duplicate'] as const)('fences off work of a %s ticket, however old the record looks', (state) => {
    expect(movedOn(at(state, null, 5), item)).toBe(`the ticket is ${state}`);
  });

  it('fences off an attempt the ticket has replaced, and work of a parked ticket', () => {
    expect(movedOn(at('refining', `${ID}.refining.2`, 20, 2), item)).toBe(`the ticket moved on to ${ID}.refining.2`);
    expect(movedOn(at('awaiting_human', null, 20), item)).toBe('the ticket is awaiting_human, not refining');
    expect(movedOn(at('writing_tests', `${ID}.writing_tests.1`, 20), item)).toBe('the ticket is writing_tests, not refining');
  });

  it('takes a record older than the item for a lagging read, not for a ticket that moved on', () => {
    // Read from a replica that has not seen the dispatch yet: the record predates the item.
    expect(movedOn(at('received', null, 0), item)).toBeNull();
    expect(movedOn(at('refining', `${ID}.refining.0`, 5), item)).toBeNull();
  });

  it('fences off work of a ticket that does not exist', () => {
    expect(movedOn(null, item)).toBe('the ticket does not exist');
  });
});

/** A ticket record by hand: writes published to followers, and the record stored, set apart. */
function fakeRecord(stored: Ticket | null) {
  const followers: ((t: Ticket | null) => void)[] = [];
  let reads = 0;
  const afterRead: ((reads: number) => void)[] = [];
  const source: TicketSource = {
    async follow(signal) {
      const queue: (Ticket | null)[] = [];
      let wake: (() => void) | undefined;
      followers.push((t) => {
        queue.push(t);
        wake?.();
      });
      signal.addEventListener('abort', () => wake?.(), { once: true });
      return (async function* () {
        while (!signal.aborted) {
          if (queue.length > 0) yield queue.shift()!;
          else await new Promise<void>((r) => (wake = r));
        }
      })();
    },
    async read() {
      reads += 1;
      const now = stored;
      for (const f of afterRead) f(reads);
      return now;
    },
  };
  return {
    source,
    get reads() {
      return reads;
    },
    /** Called after each read, with the number of reads so far. */
    afterRead(f: (reads: number) => void) {
      afterRead.push(f);
    },
    /** A write published; stored too unless the server refuses it. */
    publish(t: Ticket | null, { refused = false } = {}) {
      if (!refused) stored = t;
      for (const f of followers) f(t);
    },
    store(t: Ticket | null) {
      stored = t;
    },
  };
}

describe('startFence', () => {
  const log = createLogger({ level: 'silent' });
  const current = at('refining', `${ID}.refining.1`, 5);

  it('fences off the work when a write that moves the ticket on is stored', async () => {
    const rec = fakeRecord(current);
    const fence = await startFence(rec.source, item, log, [0, 5, 10]);
    rec.publish(at('cancelled', null, 20));
    await waitFor('the fence', () => fence.signal.aborted);
    expect(fence.reason).toBe('the ticket is cancelled');
    fence.stop();
  });

  it('is not fenced off by a write the server refused (a lost compare-and-set), and still by a later one that lands', async () => {
    const rec = fakeRecord(current);
    const fence = await startFence(rec.source, item, log, [0, 5, 10]);
    // A coordinator that lost the race re-dispatched the stage: published, never stored.
    rec.publish(at('refining', `${ID}.refining.2`, 20, 2), { refused: true });
    await waitFor('every confirming read', () => rec.reads === 3);
    expect(fence.signal.aborted).toBe(false);
    expect(fence.reason).toBeNull();
    rec.publish(at('cancelled', null, 30));
    await waitFor('the fence', () => fence.signal.aborted);
    expect(fence.reason).toBe('the ticket is cancelled');
    fence.stop();
  });

  it('stops confirming once the stored record is as new as the write and still wants the work', async () => {
    const rec = fakeRecord(current);
    const fence = await startFence(rec.source, item, log, [0, 5, 10]);
    // The loser's write is older than the record the winner stored (which kept the work current).
    const winner = { ...current, updatedAt: iso(40), title: 'renamed' };
    rec.store(winner);
    rec.publish(at('refining', `${ID}.refining.2`, 30, 2), { refused: true });
    await waitFor('the confirming read', () => rec.reads === 1);
    rec.publish(winner);
    rec.publish(at('done', null, 50));
    await waitFor('the fence', () => fence.signal.aborted);
    expect(rec.reads).toBe(2);
    expect(fence.reason).toBe('the ticket is done');
    fence.stop();
  });

  it('fences off the work when the write is stored only after a first confirming read', async () => {
    const rec = fakeRecord(current);
    const fence = await startFence(rec.source, item, log, [0, 5, 10]);
    const cancelled = at('cancelled', null, 20);
    // Seen before it is stored: it lands just after the first confirming read.
    rec.afterRead((n) => n === 1 && rec.store(cancelled));
    rec.publish(cancelled, { refused: true });
    await waitFor('the fence', () => fence.signal.aborted);
    expect(rec.reads).toBe(2);
    expect(fence.reason).toBe('the ticket is cancelled');
    fence.stop();
  });
});
