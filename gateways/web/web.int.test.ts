import { describe, expect, it } from 'vitest';
import { TicketStore } from '../../bus/index.ts';
import { startMockLlm } from '../../shared/llm/index.ts';
import { spawnCli } from '../../test/helpers/cli.ts';
import { setup } from '../../test/helpers/env.ts';
import { makeRepo } from '../../test/helpers/git.ts';
import { startStack } from '../../test/helpers/stack.ts';
import { postTicket, ticketWhen } from '../../test/helpers/tickets.ts';
import { waitFor } from '../../test/helpers/wait.ts';

/*
 * `nightshift web` as its own process on its own credentials (the `web` kind), against a private, locked-down
 * nats-server and a real coordinator: tickets posted on intake appear on the board, every change
 * reaches an open event stream, and a cancellation from the JSON API goes the CLI's way.
 */

const TOKEN = 'integration-token-0123456789';

/** Server-sent events read from `url` as they come, until `close`. */
function eventStream(url: string) {
  const events: { event: string; data: string }[] = [];
  const ac = new AbortController();
  const done = (async () => {
    const res = await fetch(url, { signal: ac.signal });
    if (!res.ok || !res.body) throw new Error(`events: HTTP ${res.status}`);
    let buf = '';
    const decoder = new TextDecoder();
    for await (const chunk of res.body) {
      buf += decoder.decode(chunk as Uint8Array, { stream: true });
      let end: number;
      while ((end = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, end);
        buf = buf.slice(end + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = [...block.matchAll(/^data: (.*)$/gm)].map((m) => m[1]).join('\n');
        if (event) events.push({ event, data });
      }
    }
  })().catch((err: unknown) => {
    if (!ac.signal.aborted) throw err;
  });
  return { events, close: () => (ac.abort(), done) };
}

describe('nightshift web', () => {
  it('shows posted tickets on the board, streams their changes, and cancels through the API', async () => {
    await using env = await setup({}, { secure: true });
    await using mock = await startMockLlm({ script: { version: 1, roles: {} } });
    await using stack = await startStack(env, mock, []);
    await using web = spawnCli(['web', '--port', '0'], { ...stack.childEnv, NATS_NKEY: env.seedOf('web'), NIGHTSHIFT_WEB_TOKEN: TOKEN, NIGHTSHIFT_LOG_LEVEL: 'info' });
    const url = (await web.waitForLog('the console to listen', (l) => l.msg === 'web console listening', 60_000)).url as string;
    const store = new TicketStore(await env.bus.tickets());

    const repo = makeRepo();
    const first = await postTicket(env.bus, repo, 'First <b>ticket</b>');
    const second = await postTicket(env.bus, repo, 'Second ticket');
    // No refiner runs: both wait in refining.
    for (const id of [first, second]) await ticketWhen(store, id, `${id} refining`, (t) => t.state === 'refining');
    const board = await waitFor('both tickets on the board', async () => {
      const text = await (await fetch(`${url}/`)).text();
      return text.includes(`id="t-${first}"`) && text.includes(`id="t-${second}"`) ? text : undefined;
    });
    expect(board).toContain('First &lt;b&gt;ticket&lt;/b&gt;');
    const column = board.slice(board.indexOf('id="col-refining"'));
    expect(column.slice(0, column.indexOf('</ol>'))).toContain(`t-${first}`);
    const api = (await (await fetch(`${url}/api/board?state=refining&q=second`)).json()) as { total: number; columns: { state: string; total: number; tickets: { id: string; stage: string }[] }[] };
    expect(api.total).toBe(2);
    expect(api.columns).toEqual([{ state: 'refining', total: 1, tickets: [expect.objectContaining({ id: second, stage: 'refining', attempt: 1 })] }]);

    const stream = eventStream(`${url}/events`);
    try {
      const hello = await waitFor('the stream to open', () => stream.events.find((e) => e.event === 'hello'));
      // The version a page is rendered at, which the stream's first event repeats so a stale page catches up.
      const version = (JSON.parse(hello.data) as { version: number }).version;
      expect(version).toBeGreaterThanOrEqual(4);
      expect(await (await fetch(`${url}/`)).text()).toContain(`data-version="${version}"`);
      const third = await postTicket(env.bus, repo, 'Third ticket');
      const row = await waitFor('the new ticket on the stream', () =>
        stream.events.map((e) => JSON.parse(e.data) as { id?: string; state?: string; html?: string | null }).find((m) => m.id === third && m.state === 'refining'),
      );
      expect(row.html).toContain(`href="/tickets/${third}"`);

      const refused = await fetch(`${url}/api/tickets/${third}/cancel`, { method: 'POST', body: '{}' });
      expect(refused.status).toBe(401);
      const cancelled = await fetch(`${url}/api/tickets/${third}/cancel`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ reason: 'posted by mistake' }),
      });
      expect(await cancelled.json()).toEqual({ ok: true, id: third, state: 'cancelled' });
      await waitFor('the cancellation on the stream', () => stream.events.some((e) => e.event === 'row' && (JSON.parse(e.data) as { id: string; state: string }).id === third && JSON.parse(e.data).state === 'cancelled'));
      const t = await ticketWhen(store, third, 'cancelled', (x) => x.state === 'cancelled');
      expect(t.timeline.find((e) => e.to === 'cancelled')).toMatchObject({ by: 'web', reason: 'posted by mistake' });
    } finally {
      await stream.close();
    }

    const page = await (await fetch(`${url}/tickets/${first}`)).text();
    expect(page).toContain('First &lt;b&gt;ticket&lt;/b&gt;');
    expect(page).toContain('refining #1');
    expect(page).not.toContain(TOKEN);
    expect((await fetch(`${url}/tickets/tk-0000000000`)).status).toBe(404);
  });
});
