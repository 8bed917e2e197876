import { describe, expect, it } from 'vitest';
import { ConflictError } from '../../shared/index.ts';
import { logSink } from '../../test/helpers/env.ts';
import { createClaimedPost, retryDelay, type Claim, type ClaimStore } from './claimed-post.ts';

/** The claim → post → adopt protocol on an in-memory compare-and-set store, with a clock the test moves. */

interface Rec extends Claim {
  message: string | null;
}

/** Records by ticket id with a revision, like a KV bucket's compare-and-set. */
function memoryStore() {
  const records = new Map<string, { value: Rec; revision: number }>();
  let seq = 0;
  const store: ClaimStore<Rec> = {
    async create(r) {
      if (records.has(r.ticketId)) return null;
      records.set(r.ticketId, { value: r, revision: ++seq });
      return seq;
    },
    async update(r, revision) {
      const cur = records.get(r.ticketId);
      if (cur?.revision !== revision) throw new ConflictError(`${r.ticketId} changed since revision ${revision}`);
      records.set(r.ticketId, { value: r, revision: ++seq });
      return seq;
    },
  };
  return { store, records };
}

const T0 = Date.parse('2030-01-01T00:00:00.000Z');
const LEASE = 60_000;
const RETRY = { retryMs: 1_000, retryMaxMs: 4_000 };

function world() {
  const { store, records } = memoryStore();
  const clock = { now: T0 };
  const sink = logSink();
  const wakes: [string, number][] = [];
  /** What is in the channel, and what the fakes were asked. */
  const channel: string[] = [];
  const calls: string[] = [];
  const failing = { posts: 0 };
  const lost: [Rec, string][] = [];
  /** Runs while a post is in flight (before it returns): lets a test act as another replica. */
  const during = { post: async (): Promise<void> => undefined };

  function replica(name: string) {
    return createClaimedPost<Rec, string>({
      store,
      replica: name,
      lease: LEASE,
      retry: RETRY,
      now: () => clock.now,
      wake: (id, at) => wakes.push([id, at]),
      log: sink.log,
      texts: { takenOver: 'taken over', adopted: 'adopted', failed: 'failed', posted: 'posted' },
      where: (r) => ({ ticketId: r.ticketId, replica: name }),
      about: (m) => ({ message: m }),
      find: async (r) => {
        calls.push(`find ${r.ticketId} by ${name}`);
        return channel.find((m) => m.startsWith(`${r.ticketId}:`)) ?? null;
      },
      post: async (r) => {
        calls.push(`post ${r.ticketId} by ${name}`);
        await during.post();
        if (failing.posts > 0) {
          failing.posts--;
          throw new Error('the chat service is down');
        }
        const m = `${r.ticketId}:${channel.length}`;
        channel.push(m);
        return m;
      },
      posted: async (r, m) => ({ ...r, state: 'posted', message: m, updatedAt: new Date(clock.now).toISOString() }),
      lost: async (r, m) => {
        lost.push([r, m]);
      },
    });
  }

  const record = (id: string) => records.get(id)!;
  const fresh = (p: ReturnType<typeof replica>, id: string): Rec => ({ ...p.fresh(), ticketId: id, askedAt: new Date(T0).toISOString(), message: null });
  return { store, records, record, clock, sink, wakes, channel, calls, failing, lost, during, replica, fresh };
}

describe('claimed post', () => {
  it('lets one of two claims of a parking win: it alone posts, the other gets a ConflictError', async () => {
    const w = world();
    const [r1, r2] = [w.replica('r1'), w.replica('r2')];
    const results = await Promise.allSettled([r1.claim(w.fresh(r1, 'tk-a'), null), r2.claim(w.fresh(r2, 'tk-a'), null)]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    expect(results.find((r) => r.status === 'rejected')).toMatchObject({ reason: expect.any(ConflictError) });
    expect(w.channel).toEqual(['tk-a:0']);
    expect(w.record('tk-a').value).toMatchObject({ state: 'posted', message: 'tk-a:0', claims: 1, failures: 0 });
    // The first claim does not search: nobody can have posted before it.
    expect(w.calls.filter((c) => c.startsWith('find'))).toEqual([]);
  });

  it('leaves a live claim alone until it expires, then takes it over, searches, and adopts what it finds', async () => {
    const w = world();
    const dead = w.replica('dead');
    const r2 = w.replica('r2');
    // The dead replica claimed and posted, but died before recording the message.
    expect(await w.store.create(w.fresh(dead, 'tk-b'))).not.toBeNull();
    w.channel.push('tk-b:posted-by-dead');
    const { value: claimed, revision } = w.record('tk-b');
    expect(claimed).toMatchObject({ state: 'claimed', owner: 'dead', claims: 1 });

    // Still live: nothing is posted, the ticket is woken when the claim ends.
    w.wakes.length = 0;
    await r2.resume(claimed, revision);
    expect(w.wakes).toEqual([['tk-b', Date.parse(claimed.claimedUntil)]]);
    expect(w.record('tk-b').revision).toBe(revision);

    w.clock.now = Date.parse(claimed.claimedUntil);
    w.calls.length = 0;
    await r2.resume(claimed, revision);
    expect(w.calls).toEqual(['find tk-b by r2']);
    expect(w.channel).toEqual(['tk-b:posted-by-dead']);
    expect(w.record('tk-b').value).toMatchObject({ state: 'posted', owner: 'r2', claims: 2, message: 'tk-b:posted-by-dead' });
    expect(w.sink.lines.filter((l) => l.msg === 'taken over')).toMatchObject([{ level: 'warn', ticketId: 'tk-b', previousOwner: 'dead', claims: 2 }]);
    expect(w.sink.lines.filter((l) => l.msg === 'adopted')).toMatchObject([{ ticketId: 'tk-b', message: 'tk-b:posted-by-dead' }]);
  });

  it('retries a failed post after a delay that doubles per failure, bounded, searching first each time', async () => {
    const w = world();
    const r1 = w.replica('r1');
    w.failing.posts = 4;
    await r1.claim(w.fresh(r1, 'tk-c'), null);
    const delays: number[] = [];
    for (let i = 1; i <= 4; i++) {
      const { value, revision } = w.record('tk-c');
      expect(value).toMatchObject({ state: 'claimed', failures: i, lastError: 'the chat service is down', claims: i });
      const retryAt = Date.parse(value.claimedUntil);
      delays.push(retryAt - w.clock.now);
      expect(w.wakes.at(-1)).toEqual(['tk-c', retryAt]);
      // Not before the delay is over.
      w.clock.now = retryAt - 1;
      await r1.resume(value, revision);
      expect(w.record('tk-c').revision).toBe(revision);
      w.clock.now = retryAt;
      w.calls.length = 0;
      await r1.resume(value, revision);
      expect(w.calls).toEqual(['find tk-c by r1', 'post tk-c by r1']);
    }
    expect(delays).toEqual([1_000, 2_000, 4_000, 4_000]);
    expect(w.record('tk-c').value).toMatchObject({ state: 'posted', message: 'tk-c:0', claims: 5, failures: 4 });
    expect(w.sink.lines.filter((l) => l.msg === 'failed').map((l) => [l.level, l.failures])).toEqual([
      ['error', 1],
      ['error', 2],
      ['error', 3],
      ['error', 4],
    ]);
    // Retaking its own claim after a failure is no takeover.
    expect(w.sink.lines.filter((l) => l.msg === 'taken over')).toEqual([]);
  });

  it('hands the message to `lost` when another replica took the claim over while it posted', async () => {
    const w = world();
    const [slow, r2] = [w.replica('slow'), w.replica('r2')];
    w.during.post = async () => {
      w.during.post = async () => undefined;
      // The slow replica's claim expires while it posts; r2 takes it over.
      w.clock.now += LEASE;
      const { value, revision } = w.record('tk-d');
      await r2.resume(value, revision);
    };
    await slow.claim(w.fresh(slow, 'tk-d'), null);
    // r2 searched first but the slow post had not landed yet, so it posted its own; the slow one is handed over.
    expect(w.channel).toEqual(['tk-d:0', 'tk-d:1']);
    expect(w.record('tk-d').value).toMatchObject({ owner: 'r2', message: 'tk-d:0', claims: 2 });
    expect(w.lost).toEqual([[expect.objectContaining({ owner: 'slow', claims: 1 }), 'tk-d:1']]);
    expect(w.sink.lines.filter((l) => l.msg === 'posted').map((l) => l.replica)).toEqual(['r2']);
  });
});

describe('retryDelay', () => {
  it('doubles from the base per failure, bounded', () => {
    expect([1, 2, 3, 4, 5, 6, 1_000].map((n) => retryDelay(n, 1_000, 10_000))).toEqual([1_000, 2_000, 4_000, 8_000, 10_000, 10_000, 10_000]);
    expect(retryDelay(0, 1_000, 10_000)).toBe(1_000);
  });
});
