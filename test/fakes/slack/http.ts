import { createHmac } from 'node:crypto';

/* What Slack sends an app in HTTP mode (rather than over Socket Mode): signed requests. */

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
