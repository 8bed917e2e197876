import type { App, Logger as SlackLogger, Receiver, ReceiverEvent } from '@slack/bolt';
import { SocketModeClient } from '@slack/socket-mode';
import type { WebClientOptions } from '@slack/web-api';

export interface AckAfterReceiverOptions {
  appToken: string;
  logger: SlackLogger;
  clientOptions?: Omit<WebClientOptions, 'logLevel' | 'logger'>;
  /** Whether a payload whose handling failed should be left unacknowledged, for Slack to send again. */
  retryLater(error: unknown): boolean;
}

/** What the Socket Mode client hands a `slack_event` listener. */
interface SocketEvent {
  body: ReceiverEvent['body'];
  ack(response?: Record<string, unknown>): Promise<void>;
  retry_num?: number;
  retry_reason?: string;
}

/**
 * Socket Mode whose acknowledgement goes to Slack after the app has handled the payload, not before.
 * Bolt's own SocketModeReceiver acknowledges an Events API payload before any listener runs, so a
 * gateway killed at that moment loses the answer or report in hand; here Bolt's early `ack()` is only
 * noted, and the envelope is acknowledged once `processEvent` has finished (with the response a
 * listener gave, if any). A payload whose handling failed so that Slack should send it again is left
 * unacknowledged: Slack redelivers it, and the gateway's handling is idempotent.
 */
export class AckAfterSocketModeReceiver implements Receiver {
  readonly client: SocketModeClient;
  readonly #retryLater: (error: unknown) => boolean;
  #app: App | undefined;

  constructor({ appToken, logger, clientOptions, retryLater }: AckAfterReceiverOptions) {
    this.client = new SocketModeClient({ appToken, logger, ...(clientOptions && { clientOptions }) });
    this.#retryLater = retryLater;
    this.client.on('slack_event', (args: SocketEvent) => this.#handle(args));
  }

  init(app: App): void {
    this.#app = app;
  }

  start(): Promise<unknown> {
    return this.client.start();
  }

  stop(): Promise<unknown> {
    return this.client.disconnect();
  }

  async #handle({ body, ack, retry_num, retry_reason }: SocketEvent): Promise<void> {
    let acked = false;
    let response: Record<string, unknown> | undefined;
    const event: ReceiverEvent = {
      body,
      ...(retry_num !== undefined && { retryNum: retry_num }),
      ...(retry_reason !== undefined && { retryReason: retry_reason }),
      ack: async (r?: unknown) => {
        if (acked) return;
        acked = true;
        if (r !== undefined && r !== null && typeof r === 'object') response = r as Record<string, unknown>;
      },
    };
    try {
      await this.#app?.processEvent(event);
    } catch (err) {
      if (this.#retryLater(err)) return;
    }
    await ack(response);
  }
}
