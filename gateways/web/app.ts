import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { streamSSE, type SSEMessage } from 'hono/streaming';
import { z } from 'zod';
import { budgetAnswerText, describeError, fieldIssues, LIMITS, NightshiftError, parseBudget, TicketId, UserInputError, type FieldIssue, type Logger, type PullRequest, type Ticket } from '../../shared/index.ts';
import { authenticate, csrfValue, isLoopback, safeEqual, sameOrigin, SESSION_COOKIE, sessionValue, writesRefusal, type AuthSettings, type Principal, type Refusal } from './auth.ts';
import { BoardFilter, matches, rowOf, type BoardIndex } from './board.ts';
import { boardPage, cardHtml } from './board-view.ts';
import { html, type Html } from './html.ts';
import { page } from './layout.ts';
import { CONSOLE_CSS, CONSOLE_JS } from './static.ts';
import { ticketDetail, ticketPage, type TicketExtras } from './ticket-view.ts';

/** What the console reads and does; `main.ts` wires it to the bus, tests to what they need. */
export interface WebDeps {
  index: BoardIndex;
  /** The ticket record as stored now, or null. */
  ticket(id: string): Promise<Ticket | null>;
  /** The ticket's pull request, with its diff when the repository is local, or null. */
  pullRequest(id: string): Promise<{ pr: PullRequest; diff: string | null } | null>;
  /** The same paths as `nightshift answer` and `nightshift ticket cancel`. */
  answer(id: string, opts: { text: string; by: string; budget?: number }): Promise<Ticket>;
  cancel(id: string, opts: { by: string; reason?: string }): Promise<Ticket>;
  auth: AuthSettings;
  log: Logger;
  now?: () => number;
  /** Aborted when the server stops: open event streams end. */
  signal?: AbortSignal;
  /** Interval of the comment lines that keep an event stream open through proxies. */
  heartbeatMs?: number;
}

/** An error a request gets, as JSON on `/api/` paths and as a page otherwise. */
class HttpError extends NightshiftError {
  readonly status: 400 | 401 | 403 | 404 | 409 | 413 | 500 | 504;
  readonly code: string;
  readonly issues: readonly FieldIssue[];
  /** The server's own failures (5xx) may pass; the request's (4xx) fail again as they are. */
  readonly retryable: boolean;
  constructor(status: HttpError['status'], code: string, message: string, issues: readonly FieldIssue[] = []) {
    super(message);
    this.status = status;
    this.retryable = status >= 500;
    this.code = code;
    this.issues = issues;
  }
}

const STATUS_OF_CODE: Readonly<Record<string, HttpError['status']>> = {
  invalid_ticket_id: 400,
  empty_answer: 400,
  invalid_budget: 400,
  ticket_not_found: 404,
  not_awaiting_human: 409,
  ticket_finished: 409,
  answer_refused: 409,
  wait_timeout: 504,
};

function parse<S extends z.ZodType>(schema: S, value: unknown, code = 'invalid_request'): z.output<S> {
  const r = schema.safeParse(value);
  if (!r.success) throw new HttpError(400, code, 'the request is not valid', fieldIssues(r.error.issues));
  return r.data;
}

const IdParam = z.object({ id: TicketId }).strict();
/** Who answers, as `nightshift answer --by` names them: recorded as `web:<name>` (a proxy's user wins). */
const AnswerBy = z
  .string()
  .max(100)
  .regex(/^[^\u0000-\u001f\u007f-\u009f]*$/, 'control characters are not allowed')
  .transform((v) => v.trim() || undefined)
  .optional();
const AnswerForm = z
  .object({
    text: z.string().max(LIMITS.answer).default(''),
    budget: z.string().max(40).optional(),
    by: AnswerBy,
    csrf: z.string().max(200).optional(),
  })
  .strict();
const AnswerJson = z.object({ text: z.string().max(LIMITS.answer).default(''), budget: z.union([z.number(), z.string().max(40)]).optional(), by: AnswerBy }).strict();
const CancelForm = z.object({ reason: z.string().max(1_000).optional(), csrf: z.string().max(200).optional() }).strict();
const LoginForm = z.object({ token: z.string().min(1).max(1_000), next: z.string().max(2_000).optional() }).strict();
const EventsQuery = z.union([z.object({ ticket: TicketId }).strict(), BoardFilter]);

/** Query parameters as an object, repeated ones (`state`) as arrays; empty values left out. */
function queryOf(c: Context): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, vs] of Object.entries(c.req.queries())) {
    const values = vs.filter((v) => v !== '');
    if (values.length === 0) continue;
    out[k] = k === 'state' ? values.flatMap((v) => v.split(',')) : values.length === 1 ? values[0] : values;
  }
  return out;
}

/** A redirect target that stays on this site. */
function localPath(next: string | undefined): string {
  return next && next.startsWith('/') && !next.startsWith('//') && !next.includes('\\') ? next : '/';
}

/** The host name of a Host header: without its port, and without the brackets of an IPv6 address. */
function hostnameOf(host: string): string {
  const m = /^\[([^\]]+)\](?::\d+)?$/.exec(host) ?? /^([^:]+)(?::\d+)?$/.exec(host);
  return (m?.[1] ?? host).toLowerCase();
}

const isApi = (c: Context) => c.req.path.startsWith('/api/');

/**
 * The console as a Hono app: the board, ticket pages, the event streams that keep them live, the
 * answer and cancel forms and their JSON twins under `/api/`, and the login that allows them.
 */
export function createWebApp(deps: WebDeps): Hono {
  const now = deps.now ?? Date.now;
  const app = new Hono();

  const credentialsOf = (c: Context) =>
    authenticate(
      {
        authorization: c.req.header('authorization'),
        session: getCookie(c, SESSION_COOKIE),
        proxyUser: deps.auth.proxyHeader ? c.req.header(deps.auth.proxyHeader) : undefined,
      },
      deps.auth,
    );
  const principalOf = (c: Context): Principal | null => {
    const p = credentialsOf(c);
    return p && 'by' in p ? p : null;
  };
  const refuse = (r: Refusal): never => {
    throw new HttpError(r.status, r.code, r.message);
  };

  /** Who may change things: checks credentials, the origin of ambient ones, and a session's anti-forgery field. */
  const writer = (c: Context, csrf: string | undefined): Principal => {
    const off = writesRefusal(deps.auth);
    if (off) refuse(off);
    const p = credentialsOf(c);
    if (p === null) refuse({ status: 401, code: 'unauthenticated', message: 'log in at /login, or send Authorization: Bearer <NIGHTSHIFT_WEB_TOKEN>' });
    if ('status' in p!) refuse(p);
    const principal = p as Principal;
    if (principal.via !== 'bearer') {
      if (!sameOrigin({ origin: c.req.header('origin'), host: c.req.header('host'), fetchSite: c.req.header('sec-fetch-site') })) {
        refuse({ status: 403, code: 'cross_origin', message: 'a change must come from the console itself (Origin does not match)' });
      }
      const expected = deps.auth.token === undefined ? undefined : csrfValue(deps.auth.token);
      if (principal.via === 'session' && (expected === undefined || csrf === undefined || !safeEqual(csrf, expected))) {
        refuse({ status: 403, code: 'csrf', message: 'the form is missing its anti-forgery field: reload the page' });
      }
    }
    return principal;
  };

  app.use('*', async (c, next) => {
    await next();
    c.header('Content-Security-Policy', "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('Referrer-Policy', 'same-origin');
    c.header('X-Frame-Options', 'DENY');
  });
  app.use('*', bodyLimit({ maxSize: 64 * 1024, onError: () => { throw new HttpError(413, 'payload_too_large', 'the request body is over 64 KiB'); } }));
  // On loopback, a request must name a loopback host: a page of another site that a DNS rebinding
  // points at 127.0.0.1 sends its own host name, and is refused.
  app.use('*', async (c, next) => {
    const host = c.req.header('host');
    if (deps.auth.readOpen && host !== undefined && !isLoopback(hostnameOf(host))) {
      throw new HttpError(403, 'host_not_allowed', `this console answers to a loopback address only, not ${host}`);
    }
    return next();
  });
  // Reads are open on loopback; elsewhere they need the same credentials as changes.
  app.use('*', async (c, next) => {
    const path = c.req.path;
    if (deps.auth.readOpen || path === '/login' || path.startsWith('/static/') || c.req.method === 'POST' || principalOf(c)) return next();
    if (isApi(c)) throw new HttpError(401, 'unauthenticated', 'this console needs credentials to read: Authorization: Bearer <NIGHTSHIFT_WEB_TOKEN>');
    return c.redirect(`/login?next=${encodeURIComponent(c.req.path)}`, 303);
  });

  app.onError((err, c) => {
    const e =
      err instanceof HttpError
        ? err
        : err instanceof UserInputError
          ? new HttpError(STATUS_OF_CODE[err.code] ?? 400, err.code, err.message, err.issues)
          : (deps.log.error({ err, path: c.req.path }, 'web request failed'), new HttpError(500, 'internal_error', describeError(err).message));
    if (isApi(c) || c.req.path === '/events') {
      return c.json({ ok: false, error: { code: e.code, message: e.message, ...(e.issues.length && { issues: e.issues }) } }, e.status);
    }
    const body = html`<main><section class="error"><h1>${e.status} ${e.code}</h1><p>${e.message}</p>${
      e.issues.length ? html`<ul>${e.issues.map((i) => html`<li><code>${i.path}</code> ${i.message}</li>`)}</ul>` : ''
    }<p><a href="/">back to the board</a></p></section></main>`;
    return c.html(page('error', body, { user: principalOf(c) ? 'yes' : null }).value, e.status);
  });
  app.notFound((c) => {
    throw new HttpError(404, 'not_found', `nothing at ${c.req.path}`);
  });

  app.get('/static/console.js', (c) => c.body(CONSOLE_JS, 200, { 'Content-Type': 'text/javascript; charset=utf-8', 'Cache-Control': 'no-cache' }));
  app.get('/static/console.css', (c) => c.body(CONSOLE_CSS, 200, { 'Content-Type': 'text/css; charset=utf-8', 'Cache-Control': 'no-cache' }));

  const userOf = (c: Context) => (principalOf(c) ? 'yes' : null);
  const extras = async (t: Ticket, c: Context | null, user: string | null): Promise<TicketExtras> => ({
    pr: await deps.pullRequest(t.id),
    duplicates: deps.index.duplicatesOf(t.id),
    now: now(),
    user,
    csrf: user && c && deps.auth.token !== undefined && principalOf(c)?.via === 'session' ? csrfValue(deps.auth.token) : null,
    writable: writesRefusal(deps.auth) === null,
    version: deps.index.version,
  });
  const load = async (id: string): Promise<Ticket> => {
    const t = await deps.ticket(id);
    if (!t) throw new HttpError(404, 'ticket_not_found', `no ticket ${id}`);
    return t;
  };

  app.get('/', (c) => {
    const f = parse(BoardFilter, queryOf(c), 'invalid_filter');
    return c.html(boardPage(deps.index.query(f), f, { repos: deps.index.repos(), total: deps.index.size, now: now(), user: userOf(c), version: deps.index.version }).value);
  });
  app.get('/api/board', (c) => {
    const f = parse(BoardFilter, queryOf(c), 'invalid_filter');
    const columns = deps.index.query(f).map(({ state, total, rows }) => ({ state, total, tickets: rows.map(({ search: _search, ...r }) => r) }));
    return c.json({ ok: true, total: deps.index.size, columns });
  });
  app.get('/tickets/:id', async (c) => {
    const { id } = parse(IdParam, c.req.param(), 'invalid_ticket_id');
    const t = await load(id);
    return c.html(ticketPage(t, await extras(t, c, userOf(c))).value);
  });
  app.get('/api/tickets/:id', async (c) => {
    const { id } = parse(IdParam, c.req.param(), 'invalid_ticket_id');
    const t = await load(id);
    const { applied: _applied, outbox: _outbox, ...ticket } = t;
    return c.json({ ok: true, ticket, pullRequest: await deps.pullRequest(id), duplicates: deps.index.duplicatesOf(id) });
  });

  const answer = async (id: string, input: { text: string; budget?: string | number; by?: string | undefined }, p: Principal) => {
    let budget: number | undefined;
    if (input.budget !== undefined && String(input.budget).trim() !== '') {
      const b = parseBudget(String(input.budget));
      if (!b.ok) throw new HttpError(400, 'invalid_budget', `budget: ${b.message}`, [{ path: 'budget', message: b.message }]);
      budget = b.value;
    }
    if (input.text.trim() === '' && budget !== undefined) input = { ...input, text: budgetAnswerText(budget) };
    const by = p.via === 'proxy' || input.by === undefined ? p.by : `web:${input.by}`;
    deps.log.info({ ticketId: id, by, via: p.via }, 'answer from the web console');
    return deps.answer(id, { text: input.text, by, ...(budget !== undefined && { budget }) });
  };
  app.post('/tickets/:id/answer', async (c) => {
    const { id } = parse(IdParam, c.req.param(), 'invalid_ticket_id');
    const form = parse(AnswerForm, await c.req.parseBody());
    const p = writer(c, form.csrf);
    await answer(id, form, p);
    return c.redirect(`/tickets/${id}`, 303);
  });
  app.post('/api/tickets/:id/answer', async (c) => {
    const { id } = parse(IdParam, c.req.param(), 'invalid_ticket_id');
    const p = writer(c, c.req.header('x-csrf-token'));
    const body = parse(AnswerJson, await c.req.json().catch(() => { throw new HttpError(400, 'invalid_json', 'the body is not JSON'); }));
    const t = await answer(id, body, p);
    return c.json({ ok: true, id, state: t.state });
  });
  app.post('/tickets/:id/cancel', async (c) => {
    const { id } = parse(IdParam, c.req.param(), 'invalid_ticket_id');
    const form = parse(CancelForm, await c.req.parseBody());
    const p = writer(c, form.csrf);
    await deps.cancel(id, { by: p.by, ...(form.reason?.trim() && { reason: form.reason.trim() }) });
    return c.redirect(`/tickets/${id}`, 303);
  });
  app.post('/api/tickets/:id/cancel', async (c) => {
    const { id } = parse(IdParam, c.req.param(), 'invalid_ticket_id');
    const p = writer(c, c.req.header('x-csrf-token'));
    const body = parse(z.object({ reason: z.string().max(1_000).optional() }).strict(), await c.req.json().catch(() => ({})));
    const t = await deps.cancel(id, { by: p.by, ...(body.reason && { reason: body.reason }) });
    return c.json({ ok: true, id, state: t.state });
  });

  app.get('/login', (c) => {
    const next = localPath(c.req.query('next'));
    const off = writesRefusal(deps.auth);
    const body = off
      ? html`<main><section><h1>Log in</h1><p>${off.message}</p></section></main>`
      : html`<main><section><h1>Log in</h1><form method="post" action="/login"><input type="hidden" name="next" value="${next}">
<label>token <input type="password" name="token" autocomplete="current-password" required></label> <button>log in</button></form></section></main>`;
    return c.html(page('log in', body).value);
  });
  app.post('/login', async (c) => {
    const off = writesRefusal(deps.auth);
    if (off || deps.auth.token === undefined) refuse(off ?? { status: 403, code: 'writes_disabled', message: 'no NIGHTSHIFT_WEB_TOKEN is configured' });
    const form = parse(LoginForm, await c.req.parseBody());
    if (!sameOrigin({ origin: c.req.header('origin'), host: c.req.header('host'), fetchSite: c.req.header('sec-fetch-site') })) {
      refuse({ status: 403, code: 'cross_origin', message: 'log in from the console itself' });
    }
    if (!safeEqual(form.token, deps.auth.token!)) refuse({ status: 403, code: 'invalid_token', message: 'that is not NIGHTSHIFT_WEB_TOKEN' });
    setCookie(c, SESSION_COOKIE, sessionValue(deps.auth.token!), { httpOnly: true, sameSite: 'Strict', path: '/', secure: new URL(c.req.url).protocol === 'https:', maxAge: 7 * 86_400 });
    return c.redirect(localPath(form.next), 303);
  });
  app.post('/logout', (c) => {
    if (!sameOrigin({ origin: c.req.header('origin'), host: c.req.header('host'), fetchSite: c.req.header('sec-fetch-site') })) {
      refuse({ status: 403, code: 'cross_origin', message: 'log out from the console itself' });
    }
    deleteCookie(c, SESSION_COOKIE, { path: '/' });
    return c.redirect('/', 303);
  });

  app.get('/events', (c) => {
    const q = parse(EventsQuery, queryOf(c), 'invalid_filter');
    const user = userOf(c);
    return streamSSE(c, async (stream) => {
      const queue: Ticket[] = [];
      let wake: (() => void) | null = null;
      const poke = () => {
        const w = wake;
        wake = null;
        w?.();
      };
      const unsubscribe = deps.index.subscribe((t) => {
        if ('ticket' in q && t.id !== q.ticket) return;
        queue.push(t);
        poke();
      });
      stream.onAbort(poke);
      deps.signal?.addEventListener('abort', poke, { once: true });
      try {
        await stream.writeSSE({ event: 'hello', data: JSON.stringify({ version: deps.index.version }) });
        while (!stream.aborted && !stream.closed && !deps.signal?.aborted) {
          if (queue.length === 0) {
            await new Promise<void>((resolve) => {
              const timer = setTimeout(resolve, deps.heartbeatMs ?? 15_000);
              wake = () => {
                clearTimeout(timer);
                resolve();
              };
            });
            if (queue.length === 0) {
              if (!stream.aborted) await stream.write(': keep-alive\n\n');
              continue;
            }
          }
          // Only the latest record of each ticket matters.
          const latest = new Map(queue.splice(0).map((t) => [t.id, t]));
          for (const t of latest.values()) {
            const msg: SSEMessage =
              'ticket' in q
                ? { event: 'ticket', data: JSON.stringify({ id: t.id, state: t.state, html: ticketDetail(t, await extras(t, c, user)).value }) }
                : { event: 'row', data: JSON.stringify({ ...rowMessage(t, q, now()), total: deps.index.size }) };
            await stream.writeSSE(msg);
          }
        }
      } finally {
        unsubscribe();
        deps.signal?.removeEventListener('abort', poke);
      }
    });
  });
  return app;
}

function rowMessage(t: Ticket, f: BoardFilter, now: number): { id: string; state: string; html: string | null } {
  const row = rowOf(t);
  const html: Html | null = matches(row, f) ? cardHtml(row, now) : null;
  return { id: t.id, state: t.state, html: html?.value ?? null };
}
