import { LogLevel, type Logger as SlackLogger } from '@slack/bolt';
import { WebAPIPlatformError, WebClient } from '@slack/web-api';
import { z } from 'zod';
import { PostedMessage } from '../../bus/index.ts';
import type { Logger } from '../../shared/index.ts';
import type { EscalationRef, SlackApi } from './gateway.ts';

/** The `event_type` of the metadata on every escalation message: how a replica finds one after a crash. */
export const ESCALATION_EVENT = 'nightshift_escalation';

/** `chat.update` errors that mean the message will never be updated: it, or its channel, is gone. */
const GONE = new Set(['message_not_found', 'cant_update_message', 'channel_not_found', 'is_archived', 'edit_window_closed']);

const PostResult = z.object({ channel: z.string(), ts: z.string() });

const HistoryPage = z.object({
  messages: z.array(
    z.object({
      ts: z.string(),
      metadata: z
        .object({ event_type: z.string(), event_payload: z.record(z.string(), z.unknown()).optional() })
        .optional(),
    }),
  ),
  response_metadata: z.object({ next_cursor: z.string().optional() }).optional(),
});

export interface SlackApiOptions {
  botToken: string;
  /** Slack's Web API base URL (tests: a local fake). */
  apiUrl?: string | undefined;
  log: Logger;
}

/**
 * The gateway's Slack calls over the Web API. Each call is bounded (10 s, two retries), so that a post
 * ends well within a claim's lease; every response used is validated.
 */
export function createSlackApi({ botToken, apiUrl, log }: SlackApiOptions): SlackApi {
  const client = new WebClient(botToken, {
    ...(apiUrl && { slackApiUrl: apiUrl }),
    logger: slackLogger(log),
    timeout: 10_000,
    retryConfig: { retries: 2, factor: 2, minTimeout: 500, maxTimeout: 5_000 },
  });
  return {
    async post(channel, message, opts = {}) {
      const res = await client.chat.postMessage({
        channel,
        text: message.text,
        ...('blocks' in message && { blocks: message.blocks }),
        ...(opts.threadTs !== undefined && { thread_ts: opts.threadTs }),
        ...(opts.escalation && {
          metadata: { event_type: ESCALATION_EVENT, event_payload: payloadOf(opts.escalation) },
        }),
        unfurl_links: false,
        unfurl_media: false,
      });
      const posted = PostResult.parse(res);
      return PostedMessage.parse({ channel: posted.channel, ts: posted.ts });
    },
    async update(at, message) {
      try {
        await client.chat.update({ channel: at.channel, ts: at.ts, text: message.text, blocks: message.blocks });
        return true;
      } catch (err) {
        if (err instanceof WebAPIPlatformError && GONE.has(err.data.error)) return false;
        throw err;
      }
    },
    async findEscalation(channel, since, ref) {
      const want = payloadOf(ref);
      let cursor: string | undefined;
      for (let page = 0; page < 20; page++) {
        const res = HistoryPage.parse(
          await client.conversations.history({
            channel,
            oldest: (since.getTime() / 1000).toFixed(6),
            include_all_metadata: true,
            limit: 200,
            ...(cursor && { cursor }),
          }),
        );
        const found = res.messages.find(
          (m) =>
            m.metadata?.event_type === ESCALATION_EVENT &&
            m.metadata.event_payload?.ticket_id === want.ticket_id &&
            m.metadata.event_payload.asked_at === want.asked_at,
        );
        if (found) return PostedMessage.parse({ channel, ts: found.ts });
        cursor = res.response_metadata?.next_cursor || undefined;
        if (!cursor) break;
      }
      return null;
    },
  };
}

function payloadOf(ref: EscalationRef): { ticket_id: string; asked_at: string } {
  return { ticket_id: ref.ticketId, asked_at: ref.askedAt };
}

/**
 * The Slack SDK's logger interface over pino. The SDK's debug lines (whole payloads, user text) go to
 * pino's `trace`.
 */
export function slackLogger(log: Logger): SlackLogger {
  const sdk = log.child({ component: 'slack-sdk' });
  let level: LogLevel = LogLevel.INFO;
  const line = (parts: unknown[]) =>
    parts
      .map((p) => {
        if (typeof p === 'string') return p;
        if (p instanceof Error) return p.message;
        try {
          return JSON.stringify(p);
        } catch {
          return String(p);
        }
      })
      .join(' ');
  return {
    debug: (...m: unknown[]) => sdk.trace(line(m)),
    info: (...m: unknown[]) => sdk.info(line(m)),
    warn: (...m: unknown[]) => sdk.warn(line(m)),
    error: (...m: unknown[]) => sdk.error(line(m)),
    setLevel: (l: LogLevel) => {
      level = l;
    },
    getLevel: () => level,
    setName: () => undefined,
  };
}
