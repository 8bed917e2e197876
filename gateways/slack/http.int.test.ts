import { describe, expect, it } from 'vitest';
import { sendToApp, signRequest } from '../../test/fakes/slack.ts';
import { ADA, BOB, buttonLabels, CHANNEL, shownText, SIGNING_SECRET, SlackWorld } from '../../test/helpers/slack.ts';
import type { Question } from '../../shared/index.ts';
import { EVENTS_PATH } from './app.ts';

const FLAG: Question = { id: 'flag', text: 'Should the flag be -v or --verbose?', options: ['-v', '--verbose'], blocking: true };

const now = () => Math.floor(Date.now() / 1000);
const signed = (timestamp = now(), secret = SIGNING_SECRET) => (body: string) => signRequest(secret, body, timestamp);

/** Starts the gateway of `w` (in HTTP mode) and parks a ticket on FLAG: the gateway's events URL, the ticket and the message posted for it. */
async function escalated(w: SlackWorld) {
  await w.refiner([FLAG]);
  const gw = await w.gateway();
  const url = `http://127.0.0.1:${gw.port}${EVENTS_PATH}`;
  const id = await w.post();
  const { message } = await w.posted(id);
  return { url, id, message };
}

describe('slack gateway (HTTP Events API)', () => {
  it('accepts a correctly signed reply; forged, stale and unsigned requests get 401 and change nothing', async () => {
    await using w = await SlackWorld.start({ NIGHTSHIFT_SLACK_MODE: 'http' });
    const { url, id, message } = await escalated(w);
    const before = await w.answerState(id);

    const event = w.fake.reply({ channel: CHANNEL, threadTs: message.ts, user: ADA, text: '--verbose' });
    const refused = [
      await sendToApp(url, 'event', event, signed(now(), 'not-the-secret')),
      await sendToApp(url, 'event', event, signed(now() - 6 * 60)),
      await sendToApp(url, 'event', event, signed(now() + 6 * 60)),
      await sendToApp(url, 'event', event, () => ({})),
      await sendToApp(url, 'event', event, (body) => signRequest(SIGNING_SECRET, `${body} `)),
      await sendToApp(url, 'event', event, (body) => ({ ...signRequest(SIGNING_SECRET, body), 'x-slack-signature': 'v1=00' })),
      await sendToApp(url, 'event', event, (body) => ({ ...signRequest(SIGNING_SECRET, body), 'x-slack-request-timestamp': 'yesterday' })),
      await sendToApp(url, 'interactive', w.fake.click({ channel: CHANNEL, ts: message.ts, user: BOB, label: '-v' }), signed(now(), 'forged')),
    ];
    expect(refused.map((r) => r.status)).toEqual(refused.map(() => 401));
    expect(await w.answeredOnBus(id)).toBe(0);
    expect(await w.answerState(id)).toEqual(before);
    expect(w.logs('answer from slack published')).toEqual([]);

    // Slack's URL check, signed: answered with the challenge.
    const challenge = await sendToApp(url, 'event', { token: 'x', challenge: 'c-123', type: 'url_verification' }, signed());
    expect(challenge).toEqual({ status: 200, text: expect.stringContaining('c-123') });
    // An event the gateway does not act on: acknowledged.
    const other = { type: 'event_callback', event_id: 'Ev0OTHER01', event: { type: 'reaction_added', user: ADA, reaction: 'eyes' } };
    expect((await sendToApp(url, 'event', other, signed())).status).toBe(200);

    // Signed by Slack: taken, and on the bus before Slack gets its 200.
    const ok = await sendToApp(url, 'event', event, signed());
    expect(ok.status).toBe(200);
    expect(await w.answeredOnBus(id)).toBe(1);
    const resumed = await w.inState(id, 'writing_tests');
    expect(resumed.answers).toEqual([{ text: '--verbose', by: `slack:${ADA}`, at: expect.any(String) }]);
    const done = await w.resolved(id);
    expect(shownText(done.message)).toContain(`Answered by <@${ADA}>`);

    // Slack's retry of the same event (X-Slack-Retry-Num): acknowledged, changes nothing.
    const after = await w.answerState(id);
    const retry = await sendToApp(url, 'event', event, (body) => ({ ...signRequest(SIGNING_SECRET, body), 'x-slack-retry-num': '1', 'x-slack-retry-reason': 'http_timeout' }));
    expect(retry.status).toBe(200);
    expect(await w.answerState(id)).toEqual(after);
    expect(await w.answeredOnBus(id)).toBe(1);
    expect(w.fake.invalid).toEqual([]);
  });

  it('takes a signed button click', async () => {
    await using w = await SlackWorld.start({ NIGHTSHIFT_SLACK_MODE: 'http' });
    const { url, id, message } = await escalated(w);

    const res = await sendToApp(url, 'interactive', w.fake.click({ channel: CHANNEL, ts: message.ts, user: BOB, label: '--verbose' }), signed());
    expect(res.status).toBe(200);
    const resumed = await w.inState(id, 'writing_tests');
    expect(resumed.answers).toEqual([{ text: '--verbose', by: `slack:${BOB}`, at: expect.any(String) }]);
    const done = await w.resolved(id);
    expect(buttonLabels(done.message)).toEqual([]);
    expect(w.fake.invalid).toEqual([]);
  });
});
