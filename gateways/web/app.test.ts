import { describe, expect, it } from 'vitest';
import { newTicket } from '../../agents/coordinator/reducer.ts';
import { createLogger, type Ticket } from '../../shared/index.ts';
import { createWebApp, type WebDeps } from './app.ts';
import { csrfValue, SESSION_COOKIE, sessionValue } from './auth.ts';
import { BoardIndex } from './board.ts';
import { escapeHtml, html, safeUrl } from './html.ts';

const XSS = `<script>alert("x")</script><img src=x onerror='alert(1)'>\`&`;
const TOKEN = 'a-test-token-of-some-length';

function ticket(id: string, patch: Partial<Ticket> = {}): Ticket {
  const t = newTicket(id, { title: `Ticket ${id}`, body: 'body', repo: { path: '/src/app' }, type: 'feature', labels: [] }, new Date('2026-01-01T00:00:00Z'), 'test');
  return { ...t, ...patch };
}

const parked = (id: string, extra: Partial<Ticket> = {}): Ticket =>
  ticket(id, {
    state: 'awaiting_human',
    parked: { from: 'refining', questions: [{ id: 'q1', text: `Which flag? ${XSS}`, blocking: true, to: XSS }], askedAt: '2026-01-01T00:00:00.000Z', deadline: '2026-01-04T00:00:00.000Z' },
    ...extra,
  });

interface Calls {
  answers: { id: string; text: string; by: string; budget?: number }[];
  cancels: { id: string; by: string; reason?: string }[];
}

function app(auth: Partial<WebDeps['auth']> = {}, tickets: Ticket[] = []) {
  const index = new BoardIndex();
  for (const t of tickets) index.apply(t);
  const calls: Calls = { answers: [], cancels: [] };
  const byId = new Map(tickets.map((t) => [t.id, t]));
  const a = createWebApp({
    index,
    ticket: async (id) => byId.get(id) ?? null,
    pullRequest: async () => null,
    answer: async (id, o) => {
      calls.answers.push({ id, ...o });
      return { ...byId.get(id)!, state: 'refining' };
    },
    cancel: async (id, o) => {
      calls.cancels.push({ id, ...o });
      return { ...byId.get(id)!, state: 'cancelled' };
    },
    auth: { token: TOKEN, proxyHeader: undefined, readOpen: true, ...auth },
    log: createLogger({ level: 'silent' }),
    now: () => Date.parse('2026-01-01T01:00:00Z'),
  });
  return { app: a, calls, index };
}

const form = (fields: Record<string, string>, headers: Record<string, string> = {}) => ({
  method: 'POST',
  body: new URLSearchParams(fields).toString(),
  headers: { 'Content-Type': 'application/x-www-form-urlencoded', Host: '127.0.0.1:4280', ...headers },
});
const session = { Cookie: `${SESSION_COOKIE}=${sessionValue(TOKEN)}`, Origin: 'http://127.0.0.1:4280' };

describe('escaping', () => {
  it('escapes every interpolated value, and nothing of a nested template', () => {
    expect(escapeHtml(XSS)).toBe('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=&#39;alert(1)&#39;&gt;&#96;&amp;');
    const inner = html`<b>${XSS}</b>`;
    expect(html`<p title="${XSS}">${inner}${[XSS, null, undefined, false]}</p>`.value).toBe(
      `<p title="${escapeHtml(XSS)}"><b>${escapeHtml(XSS)}</b>${escapeHtml(XSS)}</p>`,
    );
  });
  it('makes links of http(s) URLs only', () => {
    expect(safeUrl('javascript:alert(1)')).toBeNull();
    expect(safeUrl('https://github.com/a/b/pull/1')).toBe('https://github.com/a/b/pull/1');
  });
});

describe('pages', () => {
  it('renders hostile titles, bodies and questions as text on the board and the ticket page', async () => {
    const { app: a } = app({}, [parked('tk-aaaaaaaaaa', { title: XSS, body: XSS, requester: XSS, labels: [] })]);
    for (const path of ['/', '/tickets/tk-aaaaaaaaaa']) {
      const r = await a.request(path);
      expect(r.status).toBe(200);
      const text = await r.text();
      expect(text).not.toContain('<script>alert');
      expect(text).not.toContain("onerror='");
      expect(text).toContain('&lt;script&gt;alert(&quot;x&quot;)');
      expect(r.headers.get('content-security-policy')).toContain("script-src 'self'");
    }
  });
  it('groups the board by state with filters, and refuses a bad filter', async () => {
    const { app: a } = app({}, [ticket('tk-aaaaaaaaaa', { state: 'coding', title: 'Flag' }), ticket('tk-bbbbbbbbbb', { state: 'done', title: 'Other' })]);
    const board = (await (await a.request('/api/board?state=coding&state=done&q=flag')).json()) as { columns: { state: string; total: number; tickets: { id: string }[] }[] };
    expect(board.columns.map((c) => [c.state, c.total, c.tickets.map((t) => t.id)])).toEqual([
      ['coding', 1, ['tk-aaaaaaaaaa']],
      ['done', 0, []],
    ]);
    const bad = await a.request('/api/board?state=sleeping');
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ ok: false, error: { code: 'invalid_filter', issues: [{ path: 'state.0' }] } });
    expect((await a.request('/api/board?limit=0')).status).toBe(400);
    expect((await a.request('/api/board?colour=red')).status).toBe(400);
  });
  it('answers 404 for an unknown ticket and 400 for a malformed id', async () => {
    const { app: a } = app();
    expect((await a.request('/api/tickets/tk-0000000000')).status).toBe(404);
    expect(await (await a.request('/api/tickets/nope')).json()).toMatchObject({ ok: false, error: { code: 'invalid_ticket_id' } });
  });
  it('never renders the token', async () => {
    const { app: a } = app({}, [parked('tk-aaaaaaaaaa')]);
    for (const path of ['/', '/tickets/tk-aaaaaaaaaa', '/login', '/api/board', '/api/tickets/tk-aaaaaaaaaa']) {
      const text = await (await a.request(path, { headers: session })).text();
      expect(text).not.toContain(TOKEN);
    }
  });
});

describe('access', () => {
  it('takes an answer from a signed-in page with its anti-forgery field, on the same path as the CLI', async () => {
    const { app: a, calls } = app({}, [parked('tk-aaaaaaaaaa')]);
    const page = await (await a.request('/tickets/tk-aaaaaaaaaa', { headers: session })).text();
    expect(page).toContain(`name="csrf" value="${csrfValue(TOKEN)}"`);
    const r = await a.request('/tickets/tk-aaaaaaaaaa/answer', form({ text: 'Use -v', by: '', csrf: csrfValue(TOKEN) }, session));
    expect(r.status).toBe(303);
    await a.request('/tickets/tk-aaaaaaaaaa/answer', form({ text: 'And -q', by: ' ana ', csrf: csrfValue(TOKEN) }, session));
    expect(calls.answers).toEqual([
      { id: 'tk-aaaaaaaaaa', text: 'Use -v', by: 'web' },
      { id: 'tk-aaaaaaaaaa', text: 'And -q', by: 'web:ana' },
    ]);
    const bad = await a.request('/tickets/tk-aaaaaaaaaa/answer', form({ text: 'x', by: 'a\u0007b', csrf: csrfValue(TOKEN) }, session));
    expect(bad.status).toBe(400);
  });
  it('refuses changes without credentials (401), with a wrong token, from another origin or without the form field (403)', async () => {
    const { app: a, calls } = app({}, [parked('tk-aaaaaaaaaa')]);
    const none = await a.request('/api/tickets/tk-aaaaaaaaaa/answer', { method: 'POST', body: JSON.stringify({ text: 'x' }) });
    expect(none.status).toBe(401);
    expect(await none.json()).toMatchObject({ ok: false, error: { code: 'unauthenticated' } });
    const wrong = await a.request('/api/tickets/tk-aaaaaaaaaa/cancel', { method: 'POST', headers: { Authorization: `Bearer ${TOKEN}x` }, body: '{}' });
    expect(wrong.status).toBe(403);
    const forged = await a.request('/tickets/tk-aaaaaaaaaa/answer', form({ text: 'x', csrf: csrfValue(TOKEN) }, { ...session, Origin: 'http://evil.test' }));
    expect(forged.status).toBe(403);
    expect(await forged.text()).toContain('cross_origin');
    const noField = await a.request('/tickets/tk-aaaaaaaaaa/answer', form({ text: 'x' }, session));
    expect(noField.status).toBe(403);
    const stale = await a.request('/tickets/tk-aaaaaaaaaa/answer', form({ text: 'x', csrf: csrfValue(TOKEN) }, { ...session, Cookie: `${SESSION_COOKIE}=old` }));
    expect(stale.status).toBe(401);
    expect(calls.answers).toEqual([]);
  });
  it('takes a bearer token on the JSON API and validates the body', async () => {
    const { app: a, calls } = app({}, [parked('tk-aaaaaaaaaa')]);
    const headers = { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' };
    const bad = await a.request('/api/tickets/tk-aaaaaaaaaa/answer', { method: 'POST', headers, body: JSON.stringify({ text: 1 }) });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { code: 'invalid_request', issues: [{ path: 'text' }] } });
    const budget = await a.request('/api/tickets/tk-aaaaaaaaaa/answer', { method: 'POST', headers, body: JSON.stringify({ text: '', budget: 'lots' }) });
    expect(await budget.json()).toMatchObject({ error: { code: 'invalid_budget' } });
    const ok = await a.request('/api/tickets/tk-aaaaaaaaaa/cancel', { method: 'POST', headers, body: JSON.stringify({ reason: 'not needed' }) });
    expect(await ok.json()).toEqual({ ok: true, id: 'tk-aaaaaaaaaa', state: 'cancelled' });
    expect(calls.cancels).toEqual([{ id: 'tk-aaaaaaaaaa', by: 'web', reason: 'not needed' }]);
  });
  it('says clearly that changes are off when no token is configured', async () => {
    const { app: a } = app({ token: undefined }, [parked('tk-aaaaaaaaaa')]);
    const r = await a.request('/api/tickets/tk-aaaaaaaaaa/cancel', { method: 'POST', headers: { Authorization: 'Bearer anything' }, body: '{}' });
    expect(r.status).toBe(403);
    expect(await r.json()).toMatchObject({ error: { code: 'writes_disabled', message: expect.stringContaining('NIGHTSHIFT_WEB_TOKEN') } });
    expect(await (await a.request('/tickets/tk-aaaaaaaaaa')).text()).toContain('Answering from the console is off');
  });
  it('acts for the user a configured proxy header names, from the same origin only', async () => {
    const { app: a, calls } = app({ token: undefined, proxyHeader: 'X-Forwarded-User' }, [parked('tk-aaaaaaaaaa')]);
    const cross = await a.request('/tickets/tk-aaaaaaaaaa/cancel', form({}, { 'X-Forwarded-User': 'ana', Origin: 'http://evil.test' }));
    expect(cross.status).toBe(403);
    const r = await a.request('/tickets/tk-aaaaaaaaaa/cancel', form({ reason: 'dup' }, { 'X-Forwarded-User': 'ana', Origin: 'http://127.0.0.1:4280' }));
    expect(r.status).toBe(303);
    expect(calls.cancels).toEqual([{ id: 'tk-aaaaaaaaaa', by: 'web:ana', reason: 'dup' }]);
  });
  it('logs in with the token into a SameSite=Strict, HttpOnly cookie that is not the token', async () => {
    const { app: a } = app();
    const wrong = await a.request('/login', form({ token: 'nope', next: '/' }, { Origin: 'http://127.0.0.1:4280' }));
    expect(wrong.status).toBe(403);
    const r = await a.request('/login', form({ token: TOKEN, next: '//evil.test/' }, { Origin: 'http://127.0.0.1:4280' }));
    expect(r.status).toBe(303);
    expect(r.headers.get('location')).toBe('/');
    const cookie = r.headers.get('set-cookie')!;
    expect(cookie).toContain(`${SESSION_COOKIE}=${sessionValue(TOKEN)}`);
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect(cookie).not.toContain(TOKEN);
  });
  it('refuses a request naming another host while it listens on loopback (DNS rebinding)', async () => {
    const { app: a } = app({}, [parked('tk-aaaaaaaaaa')]);
    const r = await a.request('/api/board', { headers: { Host: 'evil.test:4280' } });
    expect(r.status).toBe(403);
    expect(await r.json()).toMatchObject({ error: { code: 'host_not_allowed' } });
    for (const host of ['localhost:4280', '[::1]:4280', '127.0.0.1']) expect((await a.request('/api/board', { headers: { Host: host } })).status).toBe(200);
  });
  it('needs credentials to read when it is not on loopback', async () => {
    const { app: a } = app({ readOpen: false }, [parked('tk-aaaaaaaaaa')]);
    expect((await a.request('/api/board')).status).toBe(401);
    const page = await a.request('/tickets/tk-aaaaaaaaaa');
    expect(page.status).toBe(303);
    expect(page.headers.get('location')).toBe('/login?next=%2Ftickets%2Ftk-aaaaaaaaaa');
    expect((await a.request('/api/board', { headers: { Authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
  });
});
