import { createServer } from 'node:http';
import { BodyTooLargeError, describeError, listenHttp, readBody, type Logger } from '../../shared/index.ts';
import type { WebhookRequest, WebhookResponse } from './handler.ts';

export interface WebhookServerOptions {
  handle(req: WebhookRequest): Promise<WebhookResponse>;
  host: string;
  port: number;
  log: Logger;
  /** Largest payload accepted (GitHub's pull request and review payloads are far smaller). */
  maxBytes?: number;
}

export interface WebhookServer extends AsyncDisposable {
  /** `http://host:port`; deliveries are POSTed to any path of it (e.g. `/github/webhook`). */
  readonly url: string;
  close(): Promise<void>;
}


/**
 * The webhook receiver's HTTP server: POST (any path) → the handler; `GET /healthz` → 200. Bodies
 * are bounded, requests time out, and a handler failure is answered 503 so the delivery shows as
 * failed in GitHub and can be redelivered.
 */
export async function startWebhookServer({ handle, host, port, log, maxBytes = 5 * 1024 * 1024 }: WebhookServerOptions): Promise<WebhookServer> {
  const server = createServer((req, res) => {
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'GET' && req.url === '/healthz') return reply(200, { ok: true });
    if (req.method !== 'POST') return reply(405, { ok: false, error: { code: 'method_not_allowed', message: 'webhook deliveries are POSTed' } });
    void (async () => {
      let body: Buffer;
      try {
        body = await readBody(req, maxBytes);
      } catch (err) {
        if (err instanceof BodyTooLargeError) {
          reply(413, { ok: false, error: { code: 'payload_too_large', message: `the limit is ${maxBytes} bytes` } });
          req.destroy();
        } else res.destroy();
        return;
      }
      try {
        const out = await handle({ headers: req.headers, body });
        reply(out.status, out.body);
      } catch (err) {
        log.error({ err, delivery: req.headers['x-github-delivery'] }, 'webhook delivery failed; GitHub may redeliver it');
        const { code, message } = describeError(err);
        reply(503, { ok: false, error: { code, message } });
      }
    })();
  });
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  const url = await listenHttp(server, host, port);
  log.info({ url }, 'github webhook receiver listening');
  const close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    });
  return { url, close, [Symbol.asyncDispose]: close };
}

