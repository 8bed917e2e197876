import { cpSync, rmSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createCoordinator } from '../../agents/coordinator/coordinator.ts';
import { sendToApp, signRequest } from '../../test/fakes/slack.ts';
import { ADA, BOB, CHANNEL, SIGNING_SECRET, SlackWorld, TRIAGE } from '../../test/helpers/slack.ts';
import { makeRepo } from '../../test/helpers/git.ts';
import { waitFor } from '../../test/helpers/wait.ts';
import { EVENTS_PATH } from './app.ts';

/** The ticket id a thread reply names. */
function ticketIdIn(text: string): string {
  const id = /`(tk-[0-9a-z]{10})`/.exec(text)?.[1];
  if (!id) throw new Error(`no ticket id in "${text}"`);
  return id;
}

/** How many refused bug reports were kept for audit. */
async function rejectedBugs(w: SlackWorld): Promise<number> {
  const subject = w.bus.subjects.rejected('bugs');
  const info = await w.bus.jsm.streams.info(w.bus.names.rejectedStream, { subjects_filter: subject });
  return info.state.subjects?.[subject] ?? 0;
}

const signed = (body: string) => signRequest(SIGNING_SECRET, body);

describe('slack triage channel (Socket Mode)', () => {
  it('files a person’s message as a bug ticket and names it in the thread; a repeated delivery is the same ticket', async () => {
    await using w = await SlackWorld.start({}, { triage: true });
    await w.gateway();
    await w.fake.waitForConnections(1);

    const text = '  Export crashes on an empty CSV  \nRun `export --csv` on a file with a header only: "TypeError: <undefined> & co".\ncc <@U0BOB00001>';
    const event = w.fake.say({ channel: TRIAGE, user: ADA, text });
    const ts = event.event.ts;
    expect((await w.fake.deliver('events_api', event)).acked).toBe(true);
    const [reply] = await w.threadReplies(TRIAGE, ts);
    expect(reply).toContain('Reported as bug ticket');
    expect(reply).toContain(`<#${CHANNEL}>`);
    const id = ticketIdIn(reply!);

    const externalId = `slack:${w.fake.teamId}:${TRIAGE}:${ts}`;
    const t = await w.ticket(id);
    expect(t).toMatchObject({
      type: 'bug',
      title: 'Export crashes on an empty CSV',
      body: text.trim(),
      requester: `slack:${ADA}`,
      externalId,
      repo: { path: w.triageRepo },
    });
    expect(t.timeline[0]).toMatchObject({ event: 'received', by: `intake:slack:${ADA}` });
    expect(w.logs('bug report from slack filed', { ticketId: id, duplicate: false })).toHaveLength(1);

    // Slack sends the event again (it thought the ack was lost): the same ticket, said so in the thread.
    expect((await w.fake.deliver('events_api', event, { retryAttempt: 1, retryReason: 'timeout' })).acked).toBe(true);
    const replies = await w.threadReplies(TRIAGE, ts, 2);
    expect(replies[1]).toBe(`Already reported: this is ticket \`${id}\`.`);
    expect(await w.ticketsWith(externalId)).toHaveLength(1);
    expect((await w.tickets.list()).map((x) => x.id)).toEqual([id]);
    expect(await rejectedBugs(w)).toBe(0);
    expect(w.fake.invalid).toEqual([]);
  });

  it('files nothing for messages that are not new reports: other channels, thread replies, bots, edits', async () => {
    await using w = await SlackWorld.start({}, { triage: true });
    await w.gateway();
    await w.fake.waitForConnections(1);

    const parent = w.fake.say({ channel: TRIAGE, user: BOB, text: 'an earlier report' });
    const threadReply = w.fake.reply({ channel: TRIAGE, threadTs: parent.event.ts, user: ADA, text: 'me too' });
    const broadcast = w.fake.reply({ channel: TRIAGE, threadTs: parent.event.ts, user: ADA, text: 'me too, and everyone should know' });
    const mine = w.fake.say({ channel: TRIAGE, user: ADA, text: 'a bot says this' });
    const at = (n: number) => `${Math.floor(Date.now() / 1000)}.00000${n}`;
    const plain = (event_id: string, event: Record<string, unknown>) => ({ type: 'event_callback', event_id, team_id: w.fake.teamId, event });
    const notReports = [
      w.fake.say({ channel: CHANNEL, user: ADA, text: 'a message in the escalations channel' }),
      { ...mine, event: { ...mine.event, bot_id: 'B0OTHERAPP' } },
      { ...mine, event: { ...mine.event, bot_id: 'B0OTHERAPP', subtype: 'bot_message' } },
      plain('Ev0EDIT0001', { type: 'message', subtype: 'message_changed', channel: TRIAGE, hidden: true, ts: at(1), message: { type: 'message', user: BOB, text: 'an earlier report, edited', ts: parent.event.ts } }),
      plain('Ev0DELETE01', { type: 'message', subtype: 'message_deleted', channel: TRIAGE, hidden: true, ts: at(2), deleted_ts: parent.event.ts }),
      plain('Ev0JOIN0001', { type: 'message', subtype: 'channel_join', channel: TRIAGE, user: BOB, text: '<@U0BOB00001> has joined the channel', ts: at(3) }),
      plain('Ev0SLACKBOT', { type: 'message', channel: TRIAGE, user: 'USLACKBOT', text: 'Reminder: file the report.', ts: at(4) }),
    ];
    for (const payload of [threadReply, { ...broadcast, event: { ...broadcast.event, subtype: 'thread_broadcast' } }, ...notReports]) {
      expect((await w.fake.deliver('events_api', payload)).acked).toBe(true);
    }
    await waitFor('every message to be handled', () =>
      w.logs('slack payload ignored').length === notReports.length &&
      // The thread replies are taken for answers, and dropped: their thread is not an escalation.
      w.logs('slack answer ignored', { reason: 'a reply in a thread that is not an escalation' }).length === 2,
    );
    expect(w.logs('bug report from slack filed')).toEqual([]);

    // A new message afterwards is still a report: the only ticket.
    const report = w.fake.say({ channel: TRIAGE, user: BOB, text: 'The login page is blank' });
    await w.fake.deliver('events_api', report);
    const id = ticketIdIn((await w.threadReplies(TRIAGE, report.event.ts))[0]!);
    expect((await w.tickets.list()).map((t) => [t.id, t.title])).toEqual([[id, 'The login page is blank']]);
    expect(w.fake.callsTo('chat.postMessage').filter((c) => c.args.thread_ts !== report.event.ts)).toEqual([]);
    expect(w.fake.invalid).toEqual([]);
  });

  it('answers in the thread when bug intake refuses a report, and when no coordinator serves it', async () => {
    await using w = await SlackWorld.start({}, { triage: true });
    await w.gateway();
    await w.fake.waitForConnections(1);

    const empty = w.fake.say({ channel: TRIAGE, user: ADA, text: ' \n\t ' });
    await w.fake.deliver('events_api', empty);
    const [refused] = await w.threadReplies(TRIAGE, empty.event.ts);
    expect(refused).toContain('Not reported: bug intake refused this report (`invalid_report`)');
    expect(refused).toContain('• `title`: ');
    expect(refused).toContain('• `description`: ');

    // The repository is gone: intake refuses every report until it is back.
    rmSync(w.triageRepo!, { recursive: true, force: true });
    const noRepo = w.fake.say({ channel: TRIAGE, user: ADA, text: 'Crash on start' });
    await w.fake.deliver('events_api', noRepo);
    const [badRepo] = await w.threadReplies(TRIAGE, noRepo.event.ts);
    expect(badRepo).toContain('(`invalid_repository`)');
    expect(badRepo).toContain(`• \`repo.path\`: repo.path "${w.triageRepo}" is not a git repository`);
    await waitFor('both refusals kept for audit', async () => (await rejectedBugs(w)) === 2);

    // No coordinator: the event stays unacknowledged, so that Slack sends it again, and the thread says so.
    await w.stopCoordinator();
    const late = w.fake.say({ channel: TRIAGE, user: BOB, text: 'Crash on exit' });
    await expect(w.fake.deliver('events_api', late, { ackTimeoutMs: 1_500 })).rejects.toThrow('was not acknowledged');
    const [notYet] = await w.threadReplies(TRIAGE, late.event.ts);
    expect(notYet).toBe(
      `:warning: Not reported yet: no nightshift coordinator is serving bug intake (\`${w.bus.subjects.bugIntake}\`) right now. ` +
        'Slack sends the report again for a while; if no ticket id follows in this thread, post it again once nightshift is running.',
    );
    expect(w.logs('no coordinator serves bug intake: the report from slack is not filed', { ts: late.event.ts })).toHaveLength(1);
    expect(await w.tickets.list()).toEqual([]);

    // Slack's retry, once the repository is back and a coordinator serves again, files it.
    cpSync(makeRepo(), w.triageRepo!, { recursive: true });
    const coordinator = createCoordinator({ bus: w.bus, config: w.env.config, log: w.env.sink.log });
    await coordinator.start();
    try {
      expect((await w.fake.deliver('events_api', late, { retryAttempt: 1, retryReason: 'timeout' })).acked).toBe(true);
      const replies = await w.threadReplies(TRIAGE, late.event.ts, 2);
      expect(await w.ticket(ticketIdIn(replies[1]!))).toMatchObject({ type: 'bug', title: 'Crash on exit', requester: `slack:${BOB}` });
      expect(w.fake.invalid).toEqual([]);
    } finally {
      await coordinator.stop();
    }
  });
});

describe('slack triage channel (HTTP Events API)', () => {
  it('files a signed report; refuses a forged one; without a coordinator answers 500, and Slack’s retry files it', async () => {
    await using w = await SlackWorld.start({ NIGHTSHIFT_SLACK_MODE: 'http' }, { triage: true });
    const gw = await w.gateway();
    const url = `http://127.0.0.1:${gw.port}${EVENTS_PATH}`;

    const forged = w.fake.say({ channel: TRIAGE, user: ADA, text: 'Forged report' });
    expect((await sendToApp(url, 'event', forged, (body) => signRequest('not-the-secret', body))).status).toBe(401);

    const event = w.fake.say({ channel: TRIAGE, user: ADA, text: 'Search ignores accents\nSearching "café" finds nothing.' });
    expect((await sendToApp(url, 'event', event, signed)).status).toBe(200);
    const id = ticketIdIn((await w.threadReplies(TRIAGE, event.event.ts))[0]!);
    expect(await w.ticket(id)).toMatchObject({ type: 'bug', title: 'Search ignores accents', requester: `slack:${ADA}`, externalId: `slack:${w.fake.teamId}:${TRIAGE}:${event.event.ts}` });

    await w.stopCoordinator();
    const late = w.fake.say({ channel: TRIAGE, user: BOB, text: 'Dark mode flickers' });
    expect((await sendToApp(url, 'event', late, signed)).status).toBe(500);
    expect((await w.threadReplies(TRIAGE, late.event.ts))[0]).toContain('no nightshift coordinator is serving bug intake');

    const coordinator = createCoordinator({ bus: w.bus, config: w.env.config, log: w.env.sink.log });
    await coordinator.start();
    try {
      const retry = await sendToApp(url, 'event', late, (body) => ({ ...signed(body), 'x-slack-retry-num': '1', 'x-slack-retry-reason': 'http_error' }));
      expect(retry.status).toBe(200);
      const replies = await w.threadReplies(TRIAGE, late.event.ts, 2);
      const lateId = ticketIdIn(replies[1]!);
      expect(await w.ticket(lateId)).toMatchObject({ type: 'bug', title: 'Dark mode flickers', requester: `slack:${BOB}` });
      expect((await w.tickets.list()).map((t) => t.id).sort()).toEqual([id, lateId].sort());
      expect(w.fake.invalid).toEqual([]);
    } finally {
      await coordinator.stop();
    }
  });
});
