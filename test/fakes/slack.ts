import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { z } from 'zod';
import { readBody } from '../../shared/index.ts';
import { Blocks, decodeJsonFields, Metadata, METHODS, safeJson } from './slack/schemas.ts';
import type { ApiCall, DeliverOptions, EventCallback, FakeSlack, FakeSlackOptions, SentEnvelope, StoredMessage } from './slack/types.ts';

export { Blocks } from './slack/schemas.ts';
export { sendToApp, signRequest } from './slack/http.ts';
export type * from './slack/types.ts';

/**
 * A local Slack for tests, speaking the real protocols:
 *
 * - the Web API (`POST /api/<method>`, form-encoded arguments, `Authorization: Bearer` tokens, JSON
 *   replies with `ok`): `auth.test`, `apps.connections.open`, `chat.postMessage`, `chat.update`,
 *   `conversations.history`, `users.info`. Every call is recorded with its arguments and checked against
 *   the arguments Slack documents for the method (required fields, types, Block Kit shapes and limits);
 *   a call that does not fit is answered `invalid_arguments` and listed in `invalid`.
 * - Socket Mode: `apps.connections.open` (app-level token) returns a one-time `ws://` URL to this server;
 *   a connection gets `hello`, then `events_api` / `interactive` envelopes with an `envelope_id`, which
 *   the client must acknowledge with `{ envelope_id }`. Unacknowledged envelopes can be retried with
 *   `retry_attempt` / `retry_reason`, as Slack does.
 *
 * It also builds the payloads Slack would send (a message, a thread reply, a button click) from what was posted,
 * and signs requests for apps in HTTP mode (`signRequest`, `sendToApp`).
 *
 * This file is the server (the Web API and Socket Mode); the arguments it checks calls against are in
 * test/fakes/slack/schemas.ts, what Slack sends an app in HTTP mode in slack/http.ts, and the types a
 * test sees in slack/types.ts.
 */

// ---- the server -------------------------------------------------------------------------------------

export async function startFakeSlack(opts: FakeSlackOptions = {}): Promise<FakeSlack> {
  const ids = {
    teamId: 'T0FAKE0001',
    appId: 'A0FAKE0001',
    botId: 'B0FAKE0001',
    botUserId: 'U0NIGHTBOT',
    botToken: `xoxb-${randomBytes(8).toString('hex')}`,
    appToken: `xapp-1-${randomBytes(8).toString('hex')}`,
  };
  const channels = new Map((opts.channels ?? [{ id: 'C0ESCALATE', name: 'escalations' }]).map((c) => [c.id, c]));
  const users = new Map(
    [{ id: ids.botUserId, name: 'nightshift' }, ...(opts.users ?? [])].map((u) => [u.id, u]),
  );
  const calls: ApiCall[] = [];
  const invalid: { method: string; issues: string[] }[] = [];
  const stored: StoredMessage[] = [];
  const envelopes: SentEnvelope[] = [];
  const tickets = new Set<string>();
  const sockets = new Set<Socket>();
  const conns: WebSocket[] = [];
  const pendingAcks = new Map<string, (response: unknown) => void>();
  let robin = 0;
  let lastMicros = 0n;
  let baseUrl = '';

  const nextTs = () => {
    const micros = BigInt(Date.now()) * 1000n;
    lastMicros = micros > lastMicros ? micros : lastMicros + 1n;
    return `${lastMicros / 1_000_000n}.${String(lastMicros % 1_000_000n).padStart(6, '0')}`;
  };
  const micros = (ts: string) => {
    const [s, f = ''] = ts.split('.');
    return BigInt(s!) * 1_000_000n + BigInt(f.padEnd(6, '0').slice(0, 6));
  };
  const find = (channel: string, ts: string) => stored.find((m) => m.channel === channel && m.ts === ts);

  function api(method: string, args: Record<string, unknown>, token: string | null): Record<string, unknown> {
    const spec = METHODS[method];
    if (!spec) return { ok: false, error: 'unknown_method' };
    if (token === null) return { ok: false, error: 'not_authed' };
    const want = spec.token === 'app' ? ids.appToken : ids.botToken;
    if (token !== want) return { ok: false, error: token === ids.appToken || token === ids.botToken ? 'not_allowed_token_type' : 'invalid_auth' };
    const parsed = spec.schema.safeParse(decodeJsonFields(args, spec.json));
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
      invalid.push({ method, issues });
      return { ok: false, error: 'invalid_arguments', response_metadata: { messages: issues.map((m) => `[ERROR] ${m}`) } };
    }
    const a = parsed.data as Record<string, string | undefined> & { blocks?: unknown[]; metadata?: StoredMessage['metadata'] };
    switch (method) {
      case 'auth.test':
        return { ok: true, url: 'https://fake.slack.test/', team: 'Fake', user: 'nightshift', team_id: ids.teamId, user_id: ids.botUserId, bot_id: ids.botId, is_enterprise_install: false };
      case 'apps.connections.open': {
        const ticket = randomUUID();
        tickets.add(ticket);
        return { ok: true, url: `${baseUrl.replace(/^http/, 'ws')}/link/?ticket=${ticket}&app_id=${ids.appId}` };
      }
      case 'chat.postMessage': {
        const channel = a.channel!;
        if (!channels.has(channel)) return { ok: false, error: 'channel_not_found' };
        if (a.thread_ts !== undefined && !find(channel, a.thread_ts)) return { ok: false, error: 'thread_not_found' };
        const m: StoredMessage = {
          type: 'message',
          channel,
          ts: nextTs(),
          text: a.text ?? '',
          user: ids.botUserId,
          bot_id: ids.botId,
          app_id: ids.appId,
          ...(a.blocks && { blocks: a.blocks }),
          ...(a.metadata && { metadata: a.metadata }),
          ...(a.thread_ts !== undefined && { thread_ts: a.thread_ts }),
        };
        stored.push(m);
        return { ok: true, channel, ts: m.ts, message: view(m, true) };
      }
      case 'chat.update': {
        const m = find(a.channel!, a.ts!);
        if (!m) return { ok: false, error: 'message_not_found' };
        if (m.bot_id !== ids.botId) return { ok: false, error: 'cant_update_message' };
        m.text = a.text ?? '';
        if (a.blocks) m.blocks = a.blocks;
        else delete m.blocks;
        if (a.metadata) m.metadata = a.metadata;
        m.edited = { user: ids.botUserId, ts: nextTs() };
        return { ok: true, channel: m.channel, ts: m.ts, text: m.text, message: view(m, true) };
      }
      case 'conversations.history': {
        if (!channels.has(a.channel!)) return { ok: false, error: 'channel_not_found' };
        const inclusive = a.inclusive === 'true' || a.inclusive === '1';
        const oldest = a.oldest === undefined ? undefined : micros(a.oldest);
        const latest = a.latest === undefined ? undefined : micros(a.latest);
        const withMeta = a.include_all_metadata === 'true' || a.include_all_metadata === '1';
        const limit = Math.min(Number(a.limit ?? 100), 999);
        const offset = a.cursor ? Number(Buffer.from(a.cursor, 'base64url').toString()) : 0;
        const all = stored
          .filter((m) => m.channel === a.channel && (m.thread_ts === undefined || m.thread_ts === m.ts))
          .filter((m) => oldest === undefined || (inclusive ? micros(m.ts) >= oldest : micros(m.ts) > oldest))
          .filter((m) => latest === undefined || (inclusive ? micros(m.ts) <= latest : micros(m.ts) < latest))
          .reverse();
        const page = all.slice(offset, offset + limit);
        const more = offset + limit < all.length;
        return {
          ok: true,
          messages: page.map((m) => view(m, withMeta)),
          has_more: more,
          pin_count: 0,
          response_metadata: { next_cursor: more ? Buffer.from(String(offset + limit)).toString('base64url') : '' },
        };
      }
      case 'users.info': {
        const u = users.get(a.user!);
        if (!u) return { ok: false, error: 'user_not_found' };
        const real = 'realName' in u && u.realName ? u.realName : u.name;
        return { ok: true, user: { id: u.id, team_id: ids.teamId, name: u.name, real_name: real, profile: { display_name: u.name, real_name: real } } };
      }
    }
    return { ok: false, error: 'unknown_method' };
  }

  const server = createServer((req, res) => {
    void handleHttp(req, res).catch((err: unknown) => {
      res.writeHead(500).end(String(err));
    });
  });

  async function handleHttp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', baseUrl);
    const m = /^\/api\/([A-Za-z.]+)$/.exec(url.pathname);
    if (req.method !== 'POST' || !m) {
      res.writeHead(404).end();
      return;
    }
    const raw = (await readBody(req)).toString('utf8');
    const type = req.headers['content-type'] ?? '';
    let args: Record<string, unknown>;
    if (type.startsWith('application/json')) args = JSON.parse(raw || '{}') as Record<string, unknown>;
    else args = Object.fromEntries(new URLSearchParams(raw));
    const auth = req.headers.authorization;
    const token = auth?.startsWith('Bearer ') ? auth.slice(7) : typeof args.token === 'string' ? args.token : null;
    delete args.token;
    const reply = api(m[1]!, args, token);
    calls.push({ method: m[1]!, args, token, error: reply.ok ? null : String(reply.error) });
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(reply));
  }

  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', baseUrl);
    const ticket = url.searchParams.get('ticket');
    if (url.pathname !== '/link/' || ticket === null || !tickets.delete(ticket)) {
      socket.end('HTTP/1.1 401 Unauthorized\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      conns.push(ws);
      ws.on('message', (data) => {
        const ack = z.object({ envelope_id: z.string(), payload: z.unknown().optional() }).strict().safeParse(safeJson(data.toString()));
        if (!ack.success) {
          invalid.push({ method: 'socket-mode ack', issues: ack.error.issues.map((i) => i.message) });
          return;
        }
        pendingAcks.get(ack.data.envelope_id)?.(ack.data.payload);
      });
      ws.on('close', () => conns.splice(conns.indexOf(ws), 1));
      ws.send(
        JSON.stringify({
          type: 'hello',
          num_connections: conns.length,
          debug_info: { host: 'fake-slack', build_number: 1, approximate_connection_time: 3_600 },
          connection_info: { app_id: ids.appId },
        }),
      );
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  function view(m: StoredMessage, withMeta: boolean): Record<string, unknown> {
    const { channel: _channel, metadata, ...rest } = m;
    return { ...rest, team: ids.teamId, ...(withMeta && metadata && { metadata }) };
  }

  /** Stores a person's message (a thread reply with `threadTs`) and returns the `message` event Slack sends for it. */
  function personSays({ channel, user, text, threadTs }: { channel: string; user: string; text: string; threadTs?: string }): EventCallback {
    const ts = nextTs();
    const m: StoredMessage = { type: 'message', channel, ts, text: slackEscape(text), user, ...(threadTs !== undefined && { thread_ts: threadTs }) };
    stored.push(m);
    return {
      token: 'fake-verification-token',
      team_id: ids.teamId,
      context_team_id: ids.teamId,
      context_enterprise_id: null,
      api_app_id: ids.appId,
      event: {
        ...m,
        client_msg_id: randomUUID(),
        ...(threadTs !== undefined && { parent_user_id: find(channel, threadTs)?.user ?? ids.botUserId }),
        team: ids.teamId,
        event_ts: ts,
        channel_type: 'channel',
      },
      type: 'event_callback',
      event_id: `Ev${randomBytes(6).toString('hex').toUpperCase()}`,
      event_time: Math.floor(Date.now() / 1000),
      authorizations: [{ enterprise_id: null, team_id: ids.teamId, user_id: ids.botUserId, is_bot: true, is_enterprise_install: false }],
      is_ext_shared_channel: false,
      event_context: `4-${randomBytes(12).toString('base64url')}`,
    };
  }

  async function deliver(type: 'events_api' | 'interactive', payload: unknown, o: DeliverOptions = {}): Promise<SentEnvelope> {
    const open = conns.filter((c) => c.readyState === WebSocket.OPEN);
    if (open.length === 0) throw new Error('fake slack: no Socket Mode connection to deliver to');
    const ws = open[robin++ % open.length]!;
    const sent: SentEnvelope = { envelopeId: randomUUID(), type, retryAttempt: o.retryAttempt ?? 0, acked: false };
    envelopes.push(sent);
    const acked = new Promise<unknown>((resolve) => pendingAcks.set(sent.envelopeId, resolve));
    ws.send(
      JSON.stringify({
        envelope_id: sent.envelopeId,
        payload,
        type,
        accepts_response_payload: false,
        ...(type === 'events_api' && { retry_attempt: sent.retryAttempt, retry_reason: o.retryReason ?? '' }),
      }),
    );
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), o.ackTimeoutMs ?? 5_000)));
    const result = await Promise.race([acked, timeout]);
    clearTimeout(timer);
    pendingAcks.delete(sent.envelopeId);
    if (result === 'timeout') {
      if ((o.retries ?? 0) > 0) {
        return deliver(type, payload, { ...o, retries: o.retries! - 1, retryAttempt: sent.retryAttempt + 1, retryReason: 'timeout' });
      }
      throw new Error(`fake slack: envelope ${sent.envelopeId} (${type}) was not acknowledged`);
    }
    sent.acked = true;
    if (result !== undefined) sent.response = result;
    return sent;
  }

  return {
    apiUrl: `${baseUrl}/api/`,
    ...ids,
    calls,
    invalid,
    envelopes,
    callsTo: (method) => calls.filter((c) => c.method === method),
    messages: (channel) => stored.filter((m) => m.channel === channel),
    message: (channel, ts) => find(channel, ts),
    deleteMessage(channel, ts) {
      const i = stored.findIndex((m) => m.channel === channel && m.ts === ts);
      if (i >= 0) stored.splice(i, 1);
    },
    seedBotMessage(channel, m) {
      const msg: StoredMessage = {
        type: 'message',
        channel,
        ts: nextTs(),
        text: m.text,
        user: ids.botUserId,
        bot_id: ids.botId,
        app_id: ids.appId,
        ...(m.blocks && { blocks: m.blocks }),
        ...(m.metadata !== undefined && { metadata: Metadata.parse(m.metadata) }),
      };
      stored.push(msg);
      return msg;
    },
    connections: () => conns.filter((c) => c.readyState === WebSocket.OPEN).length,
    async waitForConnections(n, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (conns.filter((c) => c.readyState === WebSocket.OPEN).length < n) {
        if (Date.now() > deadline) throw new Error(`fake slack: ${n} Socket Mode connection(s) expected`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    deliver,
    reply({ channel, threadTs, user, text }) {
      return personSays({ channel, user, text, threadTs });
    },
    say({ channel, user, text }) {
      return personSays({ channel, user, text });
    },
    click({ channel, ts, user, label }) {
      const m = find(channel, ts);
      if (!m) throw new Error(`fake slack: no message ${channel}/${ts}`);
      const blocks = Blocks.parse(m.blocks ?? []);
      for (const b of blocks) {
        if (b.type !== 'actions') continue;
        const button = b.elements.find((e) => e.text.text === label);
        if (!button) continue;
        const u = users.get(user);
        return {
          type: 'block_actions',
          user: { id: user, username: u?.name ?? 'someone', name: u?.name ?? 'someone', team_id: ids.teamId },
          api_app_id: ids.appId,
          token: 'fake-verification-token',
          container: { type: 'message', message_ts: ts, channel_id: channel, is_ephemeral: false },
          trigger_id: `${Date.now()}.${randomBytes(4).readUInt32BE()}.${randomBytes(16).toString('hex')}`,
          team: { id: ids.teamId, domain: 'fake' },
          enterprise: null,
          is_enterprise_install: false,
          channel: { id: channel, name: channels.get(channel)?.name ?? 'channel' },
          message: view(m, false),
          state: { values: {} },
          response_url: `${baseUrl}/actions/${randomUUID()}`,
          actions: [
            {
              action_id: button.action_id,
              block_id: b.block_id,
              text: button.text,
              ...(button.value !== undefined && { value: button.value }),
              type: 'button',
              action_ts: nextTs(),
            },
          ],
        };
      }
      throw new Error(`fake slack: no button "${label}" on ${channel}/${ts}`);
    },
    async [Symbol.asyncDispose]() {
      for (const ws of conns) ws.terminate();
      wss.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

function slackEscape(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}
