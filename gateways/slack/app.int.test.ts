import { describe, expect, it } from 'vitest';
import { sendToApp, signRequest, startFakeSlack, type FakeSlack } from '../../test/fakes/slack.ts';
import { logSink } from '../../test/helpers/env.ts';
import { ADA, BOB, CHANNEL, SIGNING_SECRET } from '../../test/helpers/slack.ts';
import { EVENTS_PATH, SlackAuthError, startSlackApp, type SlackApp } from './app.ts';
import type { Handled } from './gateway.ts';
import type { Inbound } from './payloads.ts';
import { escalationMessage } from './render.ts';

/** A gateway whose first answer cannot reach the bus (NATS down), and whose later ones can. */
function flakyGateway() {
  const seen: Inbound[] = [];
  return {
    seen,
    async handle(inbound: Inbound): Promise<Handled> {
      seen.push(inbound);
      if (seen.length === 1) throw new Error('nats: connection refused');
      return { status: 'published', ticketId: 'tk-0123456789', id: inbound.id, duplicate: false };
    },
  };
}

function escalation(fake: FakeSlack) {
  const message = escalationMessage({
    ticketId: 'tk-0123456789',
    title: 'Add a verbose flag',
    askedAt: '2026-01-05T10:00:00.000Z',
    deadline: '2026-01-08T10:00:00.000Z',
    questions: [{ id: 'flag', text: 'Which flag?', options: ['-v', '--verbose'], blocking: true }],
  });
  return fake.seedBotMessage(CHANNEL, message);
}

describe('slack app (Bolt wiring)', () => {
  it('refuses to start with a token Slack refuses, naming it', async () => {
    await using fake = await startFakeSlack();
    const gateway = flakyGateway();
    const base = { mode: 'socket' as const, botToken: fake.botToken, appToken: fake.appToken, port: 0, apiUrl: fake.apiUrl };
    await expect(startSlackApp({ settings: { ...base, botToken: 'xoxb-revoked' }, gateway, log: logSink().log })).rejects.toThrow(
      new SlackAuthError('Slack refused SLACK_BOT_TOKEN: invalid_auth'),
    );
    await expect(startSlackApp({ settings: { ...base, appToken: 'xapp-1-revoked' }, gateway, log: logSink().log })).rejects.toThrow(
      new SlackAuthError('Slack refused SLACK_APP_TOKEN: invalid_auth'),
    );
    expect(fake.connections()).toBe(0);
  });

  it('Socket Mode: leaves an answer that could not reach the bus unacknowledged, so Slack sends it again', async () => {
    await using fake = await startFakeSlack();
    const sink = logSink();
    const gateway = flakyGateway();
    const app: SlackApp = await startSlackApp({
      settings: { mode: 'socket', botToken: fake.botToken, appToken: fake.appToken, port: 0, apiUrl: fake.apiUrl },
      gateway,
      log: sink.log,
    });
    try {
      await fake.waitForConnections(1);
      expect(fake.callsTo('apps.connections.open').map((c) => c.token)).toEqual([fake.appToken]);
      const m = escalation(fake);
      const sent = await fake.deliver('interactive', fake.click({ channel: CHANNEL, ts: m.ts, user: BOB, label: '--verbose' }), {
        ackTimeoutMs: 1_000,
        retries: 1,
      });
      expect(sent.retryAttempt).toBe(1);
      expect(fake.envelopes.map((e) => e.acked)).toEqual([false, true]);
      expect(gateway.seen.map((i) => i.kind)).toEqual(['button', 'button']);
      expect(sink.lines.find((l) => l.msg === 'slack payload not handled')).toBeDefined();
      expect(fake.invalid).toEqual([]);
    } finally {
      await app.stop();
    }
  });

  it('HTTP: answers 500 when the answer could not reach the bus, then 200 to Slack’s retry', async () => {
    await using fake = await startFakeSlack();
    const gateway = flakyGateway();
    const app = await startSlackApp({
      settings: { mode: 'http', botToken: fake.botToken, signingSecret: SIGNING_SECRET, port: 0, apiUrl: fake.apiUrl },
      gateway,
      log: logSink().log,
    });
    try {
      const url = `http://127.0.0.1:${app.port}${EVENTS_PATH}`;
      const event = fake.reply({ channel: CHANNEL, threadTs: escalation(fake).ts, user: ADA, text: '-v' });
      const sign = (retry?: string) => (body: string) => ({ ...signRequest(SIGNING_SECRET, body), ...(retry && { 'x-slack-retry-num': retry }) });
      expect((await sendToApp(url, 'event', event, sign())).status).toBe(500);
      expect((await sendToApp(url, 'event', event, sign('1'))).status).toBe(200);
      expect(gateway.seen.map((i) => i.id)).toEqual([`slack.event.${event.event_id}`, `slack.event.${event.event_id}`]);
      expect(fake.invalid).toEqual([]);
    } finally {
      await app.stop();
    }
  });
});
