import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { z } from 'zod';
import { readBody } from '../../shared/index.ts';

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
 */
export interface FakeSlack extends AsyncDisposable {
  /** Base URL of the Web API, with its trailing `/api/` (WebClient's `slackApiUrl`). */
  readonly apiUrl: string;
  readonly botToken: string;
  readonly appToken: string;
  readonly teamId: string;
  readonly appId: string;
  readonly botId: string;
  readonly botUserId: string;
  /** Every Web API call, in order. */
  readonly calls: readonly ApiCall[];
  /** Calls refused because their arguments are not what Slack documents; tests expect none. */
  readonly invalid: readonly { method: string; issues: string[] }[];
  /** Every Socket Mode envelope sent, with whether it was acknowledged. */
  readonly envelopes: readonly SentEnvelope[];
  callsTo(method: string): ApiCall[];
  /** Messages of a channel (thread replies included), oldest first. */
  messages(channel: string): StoredMessage[];
  message(channel: string, ts: string): StoredMessage | undefined;
  /** Deletes a message, as a person with the rights to may. */
  deleteMessage(channel: string, ts: string): void;
  /** Stores a message as if the app had posted it earlier (e.g. by a replica that then died). */
  seedBotMessage(channel: string, m: { text: string; metadata?: unknown; blocks?: unknown[] }): StoredMessage;
  /** Open Socket Mode connections. */
  connections(): number;
  waitForConnections(n: number, timeoutMs?: number): Promise<void>;
  /**
   * Sends an envelope over Socket Mode (round-robin over the connections) and resolves with the
   * client's acknowledgement; without one within `ackTimeoutMs`, retries up to `retries` times with a
   * higher `retry_attempt`, then rejects.
   */
  deliver(type: 'events_api' | 'interactive', payload: unknown, opts?: DeliverOptions): Promise<SentEnvelope>;
  /** A person's reply in a message's thread: stored, and returned as the `event_callback` Slack sends. */
  reply(opts: { channel: string; threadTs: string; user: string; text: string }): EventCallback;
  /** A person's new message in a channel (outside any thread): stored, and returned as the `event_callback` Slack sends. */
  say(opts: { channel: string; user: string; text: string }): EventCallback;
  /** A click on a button of a posted message, as the `block_actions` payload Slack sends. */
  click(opts: { channel: string; ts: string; user: string; label: string }): Record<string, unknown>;
}

export interface ApiCall {
  method: string;
  args: Record<string, unknown>;
  token: string | null;
  /** The `error` Slack answered with, or null for `ok: true`. */
  error: string | null;
}

export interface StoredMessage {
  type: 'message';
  channel: string;
  ts: string;
  text: string;
  user: string;
  bot_id?: string;
  app_id?: string;
  blocks?: unknown[];
  metadata?: { event_type: string; event_payload: Record<string, unknown> };
  thread_ts?: string;
  edited?: { user: string; ts: string };
}

export interface DeliverOptions {
  retryAttempt?: number;
  retryReason?: string;
  ackTimeoutMs?: number;
  retries?: number;
}

export interface SentEnvelope {
  envelopeId: string;
  type: string;
  retryAttempt: number;
  acked: boolean;
  /** What the client sent back with its acknowledgement (`payload`), if anything. */
  response?: unknown;
}

export interface EventCallback extends Record<string, unknown> {
  event_id: string;
  event: StoredMessage & { event_ts: string; channel_type: string; client_msg_id?: string; parent_user_id?: string; team?: string };
}

export interface FakeSlackOptions {
  channels?: { id: string; name: string }[];
  users?: { id: string; name: string; realName?: string }[];
}

// ---- Slack's documented argument shapes ------------------------------------------------------------

const Ts = z.string().regex(/^\d+\.\d+$/, 'a message ts such as 1712345678.123456');
const ChannelId = z.string().regex(/^[CGD][A-Z0-9]+$/, 'a channel id');
const UserId = z.string().regex(/^[UW][A-Z0-9]+$/, 'a user id');
const Bool = z.enum(['true', 'false', '1', '0']);
const Num = z.string().regex(/^\d+$/);

const PlainText = z.object({ type: z.literal('plain_text'), text: z.string().min(1), emoji: z.boolean().optional() }).strict();
const Mrkdwn = z.object({ type: z.literal('mrkdwn'), text: z.string().min(1), verbatim: z.boolean().optional() }).strict();
const TextObject = z.discriminatedUnion('type', [PlainText, Mrkdwn]);
const BlockId = z.string().min(1).max(255).optional();

const Button = z
  .object({
    type: z.literal('button'),
    text: PlainText.refine((t) => t.text.length <= 75, 'button text is at most 75 characters'),
    action_id: z.string().min(1).max(255),
    value: z.string().max(2_000).optional(),
    url: z.string().max(3_000).optional(),
    style: z.enum(['primary', 'danger']).optional(),
    accessibility_label: z.string().max(75).optional(),
  })
  .strict();

const Block = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('header'),
      block_id: BlockId,
      text: PlainText.refine((t) => t.text.length <= 150, 'header text is at most 150 characters'),
    })
    .strict(),
  z
    .object({
      type: z.literal('section'),
      block_id: BlockId,
      text: TextObject.refine((t) => t.text.length <= 3_000, 'section text is at most 3000 characters').optional(),
      fields: z.array(TextObject.refine((t) => t.text.length <= 2_000)).max(10).optional(),
      accessory: Button.optional(),
    })
    .strict()
    .refine((b) => b.text !== undefined || b.fields !== undefined, 'a section needs text or fields'),
  z.object({ type: z.literal('actions'), block_id: BlockId, elements: z.array(Button).min(1).max(25) }).strict(),
  z.object({ type: z.literal('context'), block_id: BlockId, elements: z.array(TextObject).min(1).max(10) }).strict(),
  z.object({ type: z.literal('divider'), block_id: BlockId }).strict(),
]);

/** A message's blocks: at most 50, block ids unique, action ids unique within the message. */
export const Blocks = z
  .array(Block)
  .min(1)
  .max(50)
  .superRefine((blocks, ctx) => {
    const blockIds = new Set<string>();
    const actionIds = new Set<string>();
    for (const b of blocks) {
      if (b.block_id !== undefined) {
        if (blockIds.has(b.block_id)) ctx.addIssue({ code: 'custom', message: `duplicate block_id ${b.block_id}` });
        blockIds.add(b.block_id);
      }
      const buttons = b.type === 'actions' ? b.elements : b.type === 'section' && b.accessory ? [b.accessory] : [];
      for (const el of buttons) {
        if (actionIds.has(el.action_id)) ctx.addIssue({ code: 'custom', message: `duplicate action_id ${el.action_id}` });
        actionIds.add(el.action_id);
      }
    }
  });

const Metadata = z.object({ event_type: z.string().regex(/^[A-Za-z0-9_]+$/).max(255), event_payload: z.record(z.string(), z.unknown()) }).strict();

const common = { team_id: z.string().optional() };
const messageContent = {
  text: z.string().max(40_000).optional(),
  blocks: Blocks.optional(),
  attachments: z.array(z.unknown()).optional(),
  metadata: Metadata.optional(),
  mrkdwn: Bool.optional(),
  parse: z.enum(['full', 'none']).optional(),
  link_names: Bool.optional(),
};
const hasContent = (a: { text?: string | undefined; blocks?: unknown; attachments?: unknown }) =>
  a.text !== undefined || a.blocks !== undefined || a.attachments !== undefined;

/** Arguments of each method, as its reference page lists them. Fields holding JSON arrive as JSON strings. */
const METHODS: Record<string, { schema: z.ZodType; json: string[]; token: 'bot' | 'app' }> = {
  'auth.test': { schema: z.object(common).strict(), json: [], token: 'bot' },
  'apps.connections.open': { schema: z.object(common).strict(), json: [], token: 'app' },
  'chat.postMessage': {
    schema: z
      .object({
        ...common,
        ...messageContent,
        channel: z.string().min(1),
        thread_ts: Ts.optional(),
        reply_broadcast: Bool.optional(),
        unfurl_links: Bool.optional(),
        unfurl_media: Bool.optional(),
        icon_emoji: z.string().optional(),
        icon_url: z.string().optional(),
        username: z.string().optional(),
      })
      .strict()
      .refine(hasContent, 'one of text, blocks or attachments is required')
      .refine((a) => a.blocks === undefined || a.text !== undefined, 'text is required with blocks (the notification fallback)'),
    json: ['blocks', 'attachments', 'metadata'],
    token: 'bot',
  },
  'chat.update': {
    schema: z
      .object({ ...common, ...messageContent, channel: ChannelId, ts: Ts, as_user: Bool.optional(), file_ids: z.array(z.string()).optional(), reply_broadcast: Bool.optional() })
      .strict()
      .refine(hasContent, 'one of text, blocks or attachments is required'),
    json: ['blocks', 'attachments', 'metadata', 'file_ids'],
    token: 'bot',
  },
  'conversations.history': {
    schema: z
      .object({
        ...common,
        channel: ChannelId,
        oldest: z.string().regex(/^\d+(\.\d+)?$/).optional(),
        latest: z.string().regex(/^\d+(\.\d+)?$/).optional(),
        inclusive: Bool.optional(),
        limit: Num.optional(),
        cursor: z.string().optional(),
        include_all_metadata: Bool.optional(),
      })
      .strict(),
    json: [],
    token: 'bot',
  },
  'users.info': { schema: z.object({ ...common, user: UserId, include_locale: Bool.optional() }).strict(), json: [], token: 'bot' },
};

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

/** `X-Slack-Request-Timestamp` and `X-Slack-Signature` for a request body, as Slack signs it. */
export function signRequest(secret: string, body: string, timestampSec = Math.floor(Date.now() / 1000)): Record<string, string> {
  const signature = `v0=${createHmac('sha256', secret).update(`v0:${timestampSec}:${body}`).digest('hex')}`;
  return { 'x-slack-request-timestamp': String(timestampSec), 'x-slack-signature': signature };
}

/**
 * Sends a payload to an app in HTTP mode as Slack does: an Events API body as JSON, an interactive
 * payload form-encoded as `payload=<json>`, with the given headers (see `signRequest`).
 */
export async function sendToApp(
  url: string,
  kind: 'event' | 'interactive',
  payload: unknown,
  sign: (body: string) => Record<string, string>,
): Promise<{ status: number; text: string }> {
  const body = kind === 'event' ? JSON.stringify(payload) : new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': kind === 'event' ? 'application/json' : 'application/x-www-form-urlencoded', ...sign(body) },
    body,
  });
  return { status: res.status, text: await res.text() };
}

function decodeJsonFields(args: Record<string, unknown>, fields: string[]): Record<string, unknown> {
  const out = { ...args };
  for (const f of fields) {
    if (typeof out[f] !== 'string') continue;
    const parsed = safeJson(out[f]);
    out[f] = parsed === undefined ? out[f] : parsed;
  }
  return out;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}


function slackEscape(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}
