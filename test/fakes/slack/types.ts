/* What the local Slack (test/fakes/slack.ts) records and the handle a test drives it through. */

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

