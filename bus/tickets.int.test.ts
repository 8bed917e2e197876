import { expect, it } from 'vitest';
import { setup } from '../test/helpers/env.ts';
import { newTicket, tick } from '../agents/coordinator/reducer.ts';
import { IntakeRequest, ticketIdForExternalId } from '../shared/index.ts';
import { followTicket, TicketStore } from './tickets.ts';

const POLICY = { stageTimeoutMs: () => 60_000, queueTimeoutMs: 3_600_000, stageAttempts: 3, humanTimeoutMs: 3_600_000 };

/** A new ticket for `key` (its external id, and its title unless given), as the reducer builds it and ticks it once. */
const make = (key: string, title = key) =>
  tick(newTicket(ticketIdForExternalId(key), IntakeRequest.parse({ title, body: 'b', repo: { path: '/srv/repo' } }), new Date(), 'intake:test'), new Date(), POLICY)!;

it('ends a ticket watch aborted while the watch is being set up, and one aborted while it waits', async () => {
  await using env = await setup();
  const store = new TicketStore(await env.bus.tickets());

  // Aborted before the server has answered the watch request: an abort listener added afterwards would
  // never fire, and the watch would wait for a change for ever.
  for (let i = 0; i < 20; i++) {
    const early = new AbortController();
    const watching = store.watch(early.signal).next();
    early.abort();
    expect(await watching).toEqual({ done: true, value: undefined });
  }

  const late = new AbortController();
  const waiting = store.watch(late.signal).next();
  await env.bus.nc.flush();
  late.abort();
  expect(await waiting).toEqual({ done: true, value: undefined });
});

it('validates a ticket once per revision: one read again at the same revision is not parsed again, a new one is', async () => {
  await using env = await setup();
  const kv = await env.bus.tickets();
  const store = new TicketStore(kv);
  const t = make('parsed-once', 't');
  // Written through the store: validated on the way in, and known at its revision.
  expect(await store.create(t)).toBe(true);
  const first = (await store.get(t.id))!;
  expect(first.ticket).toEqual(t);
  expect((await store.get(t.id))!.ticket).toBe(first.ticket);
  // A record another writer left invalid, at a new revision: refused on read, by get and by watch.
  await kv.put(t.id, JSON.stringify({ ...t, state: 'nonsense' }));
  await expect(store.get(t.id)).rejects.toThrow();
  // The store refuses to write an invalid ticket.
  await expect(store.update({ ...t, state: 'nonsense' } as never, first.revision)).rejects.toThrow();
  // Valid again: read, parsed once, and the watch yields that same parsed record.
  await kv.put(t.id, JSON.stringify({ ...t, title: 'renamed' }));
  const again = (await store.get(t.id))!;
  expect(again.ticket.title).toBe('renamed');
  const stop = new AbortController();
  for await (const seen of store.watch(stop.signal, t.id)) {
    expect(seen).toBe(again.ticket);
    stop.abort();
  }
  // A fresh store (another process) parses what it reads: equal, not the same object.
  expect((await new TicketStore(kv).get(t.id))!.ticket).toEqual(again.ticket);
});

it('mutates from the revision it knows without reading, and decides again on a fresh read when another writer moved on', async () => {
  await using env = await setup();
  const kv = await env.bus.tickets();
  const mine = new TicketStore(kv);
  const other = new TicketStore(kv);
  const t = make('stale-mutate', 't');
  expect(await mine.create(t)).toBe(true);
  // Another coordinator writes: `mine` still knows the first revision.
  await other.mutate(t.id, (x) => ({ ...x, title: 'by the other' }));
  const seen: string[] = [];
  const written = await mine.mutate(t.id, (x) => {
    seen.push(x.title);
    return { ...x, body: `${x.body}+` };
  });
  // Decided on what it knew, refused by compare-and-set, decided again on the fresh record.
  expect(seen).toEqual(['t', 'by the other']);
  expect(written!.ticket).toMatchObject({ title: 'by the other', body: 'b+' });
  expect((await other.get(t.id))!.ticket).toMatchObject({ title: 'by the other', body: 'b+' });
  // "No change" is only trusted on a fresh read.
  await other.mutate(t.id, (x) => ({ ...x, title: 'changed again' }));
  const looked: string[] = [];
  const none = await mine.mutate(t.id, (x) => {
    looked.push(x.title);
    return x.title === 'changed again' ? { ...x, body: 'seen' } : null;
  });
  expect(looked).toEqual(['by the other', 'changed again']);
  expect(none!.ticket.body).toBe('seen');
});

it('follows one ticket\'s writes (their heads) from the moment it resolves: updates, a bad record skipped, a delete as null, no other ticket\'s', async () => {
  await using env = await setup();
  const kv = await env.bus.tickets();
  const store = new TicketStore(kv);
  const t = make('followed');
  const other = make('not-followed');
  expect(await store.create(t)).toBe(true);
  expect(await store.create(other)).toBe(true);
  const following = new AbortController();
  const writes = (await followTicket(env.bus, t.id, following.signal))[Symbol.asyncIterator]();
  // Written right after it resolved: seen (the subscription was on the server before).
  const rev = (await store.get(t.id))!.revision;
  const later = new Date(Date.parse(t.updatedAt) + 1_000).toISOString();
  await store.update({ ...t, title: 'renamed', updatedAt: later }, rev);
  await store.update({ ...other, title: 'other renamed' }, (await store.get(other.id))!.revision);
  await kv.put(t.id, JSON.stringify({ ...t, state: 'nonsense' }));
  await kv.delete(t.id);
  expect((await writes.next()).value).toMatchObject({ id: t.id, updatedAt: later });
  expect((await writes.next()).value).toBeNull();
  following.abort();
  expect(await writes.next()).toEqual({ done: true, value: undefined });
});

it('watches and reads tickets by their head: its own writes as written, others\' checked on the head alone, a bad head skipped or refused', async () => {
  await using env = await setup();
  const kv = await env.bus.tickets();
  const store = new TicketStore(kv);
  const mine = make('head-mine');
  const theirs = make('head-theirs');
  expect(await store.create(mine)).toBe(true);
  // Another writer: a whole record, one whose body is off-schema but whose head is sound, one with a bad head.
  await kv.put(theirs.id, JSON.stringify(theirs));
  const badHead = make('head-bad');
  await kv.put(badHead.id, JSON.stringify({ ...badHead, state: 'nonsense' }));
  const offBody = make('head-off-body');
  await kv.put(offBody.id, JSON.stringify({ ...offBody, title: 42 }));
  const stop = new AbortController();
  const seen: unknown[] = [];
  for await (const h of store.watchHeads(stop.signal)) {
    seen.push(h);
    if (seen.length === 3) stop.abort();
  }
  expect(seen[0]).toBe((await store.get(mine.id))!.ticket);
  expect(seen[1]).toEqual({ id: theirs.id, state: theirs.state, work: theirs.work, parked: theirs.parked, outbox: theirs.outbox, createdAt: theirs.createdAt, updatedAt: theirs.updatedAt });
  expect(seen[2]).toMatchObject({ id: offBody.id, state: offBody.state });
  // Read by its head alone: the same record the whole of which does not parse.
  expect(await store.getHead(offBody.id)).toMatchObject({ id: offBody.id, state: offBody.state, work: offBody.work });
  await expect(store.get(offBody.id)).rejects.toThrow();
  await expect(store.getHead(badHead.id)).rejects.toThrow();
  expect(await store.getHead(mine.id)).toBe((await store.get(mine.id))!.ticket);
  expect(await store.getHead('tk-0000000000')).toBeNull();
});
