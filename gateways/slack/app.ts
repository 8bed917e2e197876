import type { AddressInfo } from 'node:net';
import {
  App,
  HTTPReceiver,
  type AllMiddlewareArgs,
  type AnyMiddlewareArgs,
  type Logger as SlackLogger,
} from '@slack/bolt';
import { WebAPIPlatformError, WebClient, type WebClientOptions } from '@slack/web-api';
import { z } from 'zod';
import { NightshiftError, type Logger } from '../../shared/index.ts';
import type { Handled, SlackGateway } from './gateway.ts';
import { screen } from './payloads.ts';
import { slackLogger } from './slack-api.ts';
import { AckAfterSocketModeReceiver } from './socket-receiver.ts';

export interface SlackAppSettings {
  mode: 'socket' | 'http';
  botToken: string;
  /** Socket Mode's app-level token. */
  appToken?: string | undefined;
  /** HTTP mode's signing secret. */
  signingSecret?: string | undefined;
  /** HTTP mode's port (0: any free port). */
  port: number;
  apiUrl?: string | undefined;
  /** The triage channel: its new top-level messages go to the gateway as bug reports. */
  triageChannel?: string | undefined;
}

export interface SlackApp {
  /** HTTP mode: the port requests are served on (POST /slack/events); null in Socket Mode. */
  readonly port: number | null;
  stop(): Promise<void>;
}

/** The path Slack posts events and interactions to in HTTP mode. */
export const EVENTS_PATH = '/slack/events';

/**
 * The Bolt app that receives Slack's events and interactions — over a Socket Mode connection, or as
 * HTTP requests whose `X-Slack-Signature` Bolt verifies (HMAC-SHA256 of `v0:<timestamp>:<body>` with
 * the signing secret, timestamp within five minutes; anything else gets 401 before it is parsed) — and
 * hands what matters to the gateway. Every payload is acknowledged, those the gateway does not act on
 * logged and dropped; only an answer (or a bug report) that could not reach the bus is left for Slack
 * to send again.
 */
export async function startSlackApp({
  settings,
  gateway,
  log,
}: {
  settings: SlackAppSettings;
  gateway: Pick<SlackGateway, 'handle'>;
  log: Logger;
}): Promise<SlackApp> {
  const logger = slackLogger(log);
  const clientOptions = settings.apiUrl ? { slackApiUrl: settings.apiUrl } : {};
  /**
   * Whether Slack should send a payload that failed again: only when its answer could not reach the bus.
   * One that Bolt itself could not process (malformed) is acknowledged, so that it is not sent again.
   */
  const retryLater = (error: unknown) => {
    if (error instanceof AnswerNotTakenError) return true;
    log.warn({ err: error }, 'slack payload Bolt could not process: acknowledged and ignored');
    return false;
  };
  const receiver =
    settings.mode === 'socket'
      ? new AckAfterSocketModeReceiver({ appToken: settings.appToken ?? '', logger, clientOptions, retryLater })
      : new HTTPReceiver({
          signingSecret: settings.signingSecret ?? '',
          signatureVerification: true,
          endpoints: EVENTS_PATH,
          port: settings.port,
          logger,
          // Answer Slack only once the answer is on the bus; if it cannot get there, a 500 makes Slack retry.
          processBeforeResponse: true,
          processEventErrorHandler: async ({ error, response }) => {
            const retry = retryLater(error);
            if (!response.headersSent) response.writeHead(retry ? 500 : 200).end();
            return false;
          },
        });
  if (receiver instanceof HTTPReceiver) {
    // Bolt refuses a timestamp more than five minutes old but not one from the future; Slack's rule is
    // five minutes either way, so that no signed request can be replayed for longer than that.
    const verified = receiver.requestListener;
    receiver.requestListener = (req, res) => {
      const stamp = req.headers['x-slack-request-timestamp'];
      if (typeof stamp === 'string' && !withinReplayWindow(stamp, Date.now())) {
        log.warn({ timestamp: stamp }, 'slack request outside the five-minute window refused');
        res.writeHead(401).end();
        return;
      }
      verified(req, res);
    };
  }
  const me = await whoAmI(settings.botToken, clientOptions, logger);
  const app = new App({ token: settings.botToken, ...me, receiver, logger, clientOptions, convoStore: false, ignoreSelf: true });
  app.use(async (args) => dispatch(args, gateway, log, settings.triageChannel));
  app.error(async (err) => {
    log.error({ err }, 'slack payload not handled');
    throw err;
  });
  let port: number | null = null;
  if (settings.mode === 'http') {
    const server = await app.start(settings.port);
    port = (server.address() as AddressInfo).port;
    log.info({ port, path: EVENTS_PATH }, 'slack gateway listening (HTTP mode)');
  } else {
    try {
      await app.start();
    } catch (err) {
      if (err instanceof WebAPIPlatformError) throw new SlackAuthError(`Slack refused SLACK_APP_TOKEN: ${err.data.error}`, { cause: err });
      throw err;
    }
    log.info('slack gateway connected (Socket Mode)');
  }
  return { port, stop: async () => void (await app.stop()) };
}

const AuthTest = z.object({ user_id: z.string().min(1), bot_id: z.string().min(1) });

/** The bot's identity (`auth.test`), which also proves the token; Bolt uses it to ignore the bot's own messages. */
async function whoAmI(token: string, clientOptions: WebClientOptions, logger: SlackLogger): Promise<{ botId: string; botUserId: string }> {
  const client = new WebClient(token, { ...clientOptions, logger, retryConfig: { retries: 0 }, timeout: 10_000 });
  try {
    const me = AuthTest.parse(await client.auth.test());
    return { botId: me.bot_id, botUserId: me.user_id };
  } catch (err) {
    if (err instanceof WebAPIPlatformError) throw new SlackAuthError(`Slack refused SLACK_BOT_TOKEN: ${err.data.error}`, { cause: err });
    throw err;
  }
}

/** Slack refused a token: retrying will not help. */
export class SlackAuthError extends NightshiftError {
  readonly code = 'slack_auth_failed';
  readonly retryable = false;
}

/** Whether an `X-Slack-Request-Timestamp` (seconds) is within five minutes of `nowMs`, either way. */
export function withinReplayWindow(timestamp: string, nowMs: number): boolean {
  const sec = /^\d{1,12}$/.test(timestamp) ? Number(timestamp) : Number.NaN;
  return Number.isFinite(sec) && Math.abs(nowMs / 1000 - sec) <= 5 * 60;
}

/** The answer (or bug report) in a Slack payload could not be put on the bus: Slack should send it again. */
export class AnswerNotTakenError extends NightshiftError {
  readonly code = 'answer_not_taken';
  readonly retryable = true;
}

async function dispatch(
  args: AnyMiddlewareArgs & AllMiddlewareArgs,
  gateway: Pick<SlackGateway, 'handle'>,
  log: Logger,
  triageChannel: string | undefined,
): Promise<void> {
  const ack = 'ack' in args && typeof args.ack === 'function' ? (args.ack as () => Promise<void>) : null;
  const screened = screen(args.body, { triageChannel });
  if (!screened.ok) {
    const fields = { reason: screened.reason, issues: screened.issues, retryNum: args.context.retryNum };
    if (screened.malformed) log.warn(fields, 'malformed slack payload ignored');
    else log.debug(fields, 'slack payload ignored');
    await ack?.();
    return;
  }
  let result: Handled;
  try {
    result = await gateway.handle(screened.inbound);
  } catch (err) {
    // Slack gets no acknowledgement (over HTTP, a 500) and sends it again; a click stays
    // unacknowledged and Slack tells the user it failed.
    const what = screened.inbound.kind === 'report' ? 'bug report' : 'answer';
    throw new AnswerNotTakenError(`the ${what} in ${screened.inbound.id} could not be taken`, { cause: err });
  }
  await ack?.();
  if (result.status === 'ignored') log.info({ ...result, kind: screened.inbound.kind, id: screened.inbound.id }, 'slack answer ignored');
}
