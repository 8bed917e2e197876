import { expect, it } from 'vitest';
import { setup } from '../test/helpers/env.ts';
import { TicketStore } from './tickets.ts';

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
