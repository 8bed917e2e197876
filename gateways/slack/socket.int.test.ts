import { describe, expect, it } from 'vitest';
import { answerTicket, cancelTicket } from '../../bus/index.ts';
import { ADA, BOB, buttonLabels, CHANNEL, shownText, SlackWorld } from '../../test/helpers/slack.ts';
import { waitFor } from '../../test/helpers/wait.ts';
import type { Question } from '../../shared/index.ts';
import { ESCALATION_EVENT } from './slack-api.ts';

const FLAG: Question = { id: 'flag', text: 'Should the flag be -v or --verbose?', options: ['-v', '--verbose'], blocking: true };
const FORMAT: Question = { id: 'format', text: 'Which output format?', options: ['JSON', 'YAML', 'both'], blocking: true };
const FREE: Question = { id: 'name', text: 'What should the <config> file be called?', blocking: true };

/** A world whose refiner asks `questions`, with one gateway replica (r1) connected to Slack. */
async function connected(questions: Question[], settings: Record<string, string> = {}): Promise<SlackWorld> {
  const w = await SlackWorld.start(settings);
  try {
    await w.refiner(questions);
    await w.gateway();
    await w.fake.waitForConnections(1);
    return w;
  } catch (err) {
    await w[Symbol.asyncDispose]();
    throw err;
  }
}

describe('slack gateway (Socket Mode)', () => {
  it('posts one message with the questions and buttons; a thread reply resumes the ticket as the Slack user', async () => {
    await using w = await connected([FLAG, FREE]);
    const id = await w.post('Add a verbose flag');
    const parked = await w.inState(id, 'awaiting_human');
    const { escalation, message } = await w.posted(id);

    expect(w.escalationPosts()).toHaveLength(1);
    expect(message.channel).toBe(CHANNEL);
    expect(message.metadata).toEqual({ event_type: ESCALATION_EVENT, event_payload: { ticket_id: id, asked_at: parked.parked!.askedAt } });
    expect(message.text).toContain(id);
    expect(shownText(message)).toContain('Add a verbose flag');
    expect(shownText(message)).toContain('Should the flag be -v or --verbose?');
    expect(shownText(message)).toContain('What should the &lt;config&gt; file be called?');
    expect(buttonLabels(message)).toEqual([['-v', '--verbose']]);
    expect(escalation).toMatchObject({ ticketId: id, askedAt: parked.parked!.askedAt, owner: 'r1', claims: 1, reminders: 0 });

    const event = w.fake.reply({ channel: CHANNEL, threadTs: message.ts, user: ADA, text: '--verbose, and call it <app>.yml & keep -v' });
    const sent = await w.fake.deliver('events_api', event);
    expect(sent.acked).toBe(true);
    const resumed = await w.inState(id, 'writing_tests');
    const answer = '--verbose, and call it <app>.yml & keep -v';
    expect(resumed.answers).toEqual([{ text: answer, by: `slack:${ADA}`, at: expect.any(String) }]);
    expect(resumed.timeline).toContainEqual(
      expect.objectContaining({ event: 'answered', by: `slack:${ADA}`, cause: `slack.event.${event.event_id}` }),
    );
    expect(resumed.timeline).toContainEqual(expect.objectContaining({ event: 'transition', from: 'awaiting_human', to: 'refining', by: `slack:${ADA}` }));
    expect(w.refinerCalls.at(-1)?.ticket.answers).toEqual([{ text: answer, by: `slack:${ADA}`, at: expect.any(String) }]);

    const done = await w.resolved(id);
    expect(done.escalation.outcome).toBe('answered');
    expect(done.message.ts).toBe(message.ts);
    expect(buttonLabels(done.message)).toEqual([]);
    expect(shownText(done.message)).toContain(`Answered by <@${ADA}>`);
    expect(shownText(done.message)).toContain('&lt;app&gt;.yml &amp; keep -v');
    expect(w.updatesOf(message.ts).length).toBeGreaterThanOrEqual(1);

    // Slack delivers the event again (it thought the ack was lost): nothing changes.
    const before = await w.answerState(id);
    const retried = await w.fake.deliver('events_api', event, { retryAttempt: 1, retryReason: 'timeout' });
    expect(retried.acked).toBe(true);
    await waitFor('the retry to be ignored', () => w.logs('slack answer ignored', { id: `slack.event.${event.event_id}` })[0]);
    expect(await w.answerState(id)).toEqual(before);
    expect(await w.answeredOnBus(id)).toBe(1);
    expect(w.escalationPosts()).toHaveLength(1);
    expect(w.fake.invalid).toEqual([]);
  });

  it("raises the ticket's token budget from a `budget:` reply, and says in the thread why an unusable one is not taken", async () => {
    await using w = await connected([FREE]);
    const id = await w.post();
    await w.inState(id, 'awaiting_human');
    const { message } = await w.posted(id);

    const bad = w.fake.reply({ channel: CHANNEL, threadTs: message.ts, user: ADA, text: 'budget: lots' });
    expect((await w.fake.deliver('events_api', bad)).acked).toBe(true);
    const [told] = await w.threadReplies(CHANNEL, message.ts);
    expect(told).toContain('Not taken: budget "lots" is not a whole number of tokens');
    expect(told).toContain('budget: <tokens>');
    expect(await w.answeredOnBus(id)).toBe(0);
    expect(await w.answerState(id)).toMatchObject({ state: 'awaiting_human', answers: [] });

    const good = w.fake.reply({ channel: CHANNEL, threadTs: message.ts, user: BOB, text: 'budget: 600,000\ncall it app.yml' });
    await w.fake.deliver('events_api', good);
    const resumed = await w.inState(id, 'writing_tests');
    expect(resumed.budget).toBe(600_000);
    expect(resumed.answers).toEqual([{ text: 'call it app.yml', by: `slack:${BOB}`, at: expect.any(String) }]);
    expect(resumed.timeline).toContainEqual(expect.objectContaining({ event: 'answered', by: `slack:${BOB}`, reason: 'token budget set to 600000 (was the default)' }));
    expect(w.refinerCalls.at(-1)?.ticket.budget).toBe(600_000);
    expect(w.fake.invalid).toEqual([]);
  });

  it('takes an event delivered twice at once as one answer', async () => {
    await using w = await connected([FREE]);
    const id = await w.post();
    await w.inState(id, 'awaiting_human');
    const { message } = await w.posted(id);

    const event = w.fake.reply({ channel: CHANNEL, threadTs: message.ts, user: BOB, text: 'app.yml' });
    await Promise.all([
      w.fake.deliver('events_api', event),
      w.fake.deliver('events_api', event, { retryAttempt: 1, retryReason: 'http_timeout' }),
    ]);
    const msgId = `slack.event.${event.event_id}`;
    await waitFor('both deliveries handled', () => {
      const n = w.logs('answer from slack published', { id: msgId }).length + w.logs('slack answer ignored', { id: msgId }).length;
      return n === 2;
    });
    const t = await w.inState(id, 'writing_tests');
    expect(t.answers).toEqual([{ text: 'app.yml', by: `slack:${BOB}`, at: expect.any(String) }]);
    expect(t.timeline.filter((e) => e.event === 'answered')).toHaveLength(1);
    expect(t.timeline.filter((e) => e.event === 'ignored')).toEqual([]);
    expect(t.applied.filter((a) => a === msgId)).toHaveLength(1);
    expect(await w.answeredOnBus(id)).toBe(1);
  });

  it('resumes the ticket on a button click; malformed and forged clicks are acknowledged and change nothing', async () => {
    await using w = await connected([FORMAT]);
    const id = await w.post('Export the report');
    const parked = await w.inState(id, 'awaiting_human');
    const { message } = await w.posted(id);
    expect(buttonLabels(message)).toEqual([['JSON', 'YAML', 'both']]);

    const click = w.fake.click({ channel: CHANNEL, ts: message.ts, user: BOB, label: 'YAML' }) as { actions: Record<string, unknown>[] };
    const withValue = (value: unknown) => ({ ...click, actions: [{ ...click.actions[0], value: typeof value === 'string' ? value : JSON.stringify(value) }] });
    const value = JSON.parse(click.actions[0]!.value as string) as Record<string, unknown>;
    const bad = [
      withValue('not json'),
      withValue({ ...value, o: 7 }),
      withValue({ ...value, a: new Date(Date.parse(parked.parked!.askedAt) - 1_000).toISOString() }),
      withValue({ ...value, t: 'tk-zzzzzzzzzz' }),
      { ...click, container: { type: 'message', message_ts: '1700000000.000100', channel_id: CHANNEL, is_ephemeral: false } },
      { ...click, user: { id: 'not-a-user' } },
      { type: 'block_actions', actions: 'nope' },
      { type: 'view_submission', view: {} },
      { type: 'block_actions', actions: [{ action_id: 'someone_elses_button', type: 'button', action_ts: '1700000000.000200' }], user: { id: BOB } },
    ];
    for (const [i, payload] of bad.entries()) expect((await w.fake.deliver('interactive', payload).catch((e: Error) => { throw new Error(`bad #${i}: ${e.message}`); })).acked).toBe(true);
    await w.fake.deliver('events_api', { type: 'event_callback', event_id: 'Ev0RANDOM01', event: { type: 'reaction_added', user: BOB, reaction: 'eyes' } });
    await w.fake.deliver('events_api', { type: 'event_callback', event_id: 'Ev0RANDOM02', event: { type: 'message', channel: CHANNEL, user: BOB, text: 'hi', ts: '1700000000.000300' } });
    await w.fake.deliver('events_api', { type: 'event_callback', event_id: 'Ev0RANDOM03', event: { type: 'message', channel: CHANNEL, user: 'nobody', text: 'x', thread_ts: message.ts, ts: '1700000000.000400' } });

    await waitFor('every payload to be handled', () =>
      w.logs('malformed slack payload ignored').length === 3 &&
      w.logs('slack payload Bolt could not process: acknowledged and ignored').length === 2 &&
      w.logs('slack answer ignored').length === 4 &&
      w.logs('slack payload ignored').length === 3,
    );
    expect(await w.answeredOnBus(id)).toBe(0);
    const still = await w.ticket(id);
    expect(still.state).toBe('awaiting_human');
    expect(still.answers).toEqual([]);

    const sent = await w.fake.deliver('interactive', click);
    expect(sent.acked).toBe(true);
    expect(await w.answeredOnBus(id)).toBe(1);
    const resumed = await w.inState(id, 'writing_tests');
    expect(resumed.answers).toEqual([{ text: 'YAML', by: `slack:${BOB}`, at: expect.any(String) }]);
    expect(resumed.timeline).toContainEqual(expect.objectContaining({ event: 'answered', by: `slack:${BOB}` }));

    const done = await w.resolved(id);
    expect(buttonLabels(done.message)).toEqual([]);
    expect(shownText(done.message)).toContain(`Answered by <@${BOB}>`);
    expect(shownText(done.message)).toContain('YAML');

    // The same click again (an old message, a double click): acknowledged, nothing changes.
    const before = await w.answerState(id);
    expect((await w.fake.deliver('interactive', click)).acked).toBe(true);
    expect(await w.answerState(id)).toEqual(before);
    expect(w.fake.invalid).toEqual([]);
  });

  it('updates the message when the answer comes from the CLI, or the ticket is cancelled', async () => {
    await using w = await connected([FLAG]);
    const answered = await w.post('First');
    const cancelled = await w.post('Second');
    const deleted = await w.post('Third');
    const a = (await w.posted(answered)).message;
    const c = (await w.posted(cancelled)).message;
    const d = (await w.posted(deleted)).message;

    await answerTicket(w.bus, answered, 'go with -v', { by: 'ada', timeoutMs: 10_000 });
    const doneA = await w.resolved(answered);
    expect(doneA.message.ts).toBe(a.ts);
    expect(doneA.escalation.outcome).toBe('answered');
    expect(shownText(doneA.message)).toContain('Answered by *ada*');
    expect(buttonLabels(doneA.message)).toEqual([]);

    await cancelTicket(w.bus, cancelled, { by: 'bob', reason: 'not needed any more', timeoutMs: 10_000 });
    const doneC = await w.resolved(cancelled);
    expect(doneC.message.ts).toBe(c.ts);
    expect(doneC.escalation.outcome).toBe('cancelled');
    expect(shownText(doneC.message)).toContain('cancelled by *bob*: not needed any more');
    expect(buttonLabels(doneC.message)).toEqual([]);

    // Someone deleted the message: the outcome is recorded without it, and nothing is retried forever.
    w.fake.deleteMessage(CHANNEL, d.ts);
    await answerTicket(w.bus, deleted, 'whatever', { by: 'ada', timeoutMs: 10_000 });
    const gone = await waitFor('escalation of the deleted message resolved', async () => {
      const e = await w.escalation(deleted);
      return e?.state === 'resolved' ? e : undefined;
    });
    expect(gone).toMatchObject({ outcome: 'answered', message: { channel: CHANNEL, ts: d.ts } });
    expect(w.logs('the escalation message is gone; recording the outcome without it', { ticketId: deleted })).toHaveLength(1);
    expect(w.fake.callsTo('chat.update').filter((u) => u.args.ts === d.ts).map((u) => u.error)).toEqual(['message_not_found']);

    expect(w.escalationPosts()).toHaveLength(3);
    expect(w.fake.invalid).toEqual([]);
  });

  it('reminds in the thread while nobody answers, then the ticket times out and the message says so', async () => {
    await using w = await connected([FLAG], {
      NIGHTSHIFT_ESCALATION_REMIND: '400ms',
      NIGHTSHIFT_ESCALATION_REMINDERS: '2',
      NIGHTSHIFT_HUMAN_TIMEOUT: '2500ms',
    });
    const id = await w.post();
    const { message } = await w.posted(id);

    const failed = await w.inState(id, 'failed', 15_000);
    expect(failed.failure?.code).toBe('human_timeout');
    const done = await w.resolved(id);
    expect(done.escalation).toMatchObject({ outcome: 'timed_out', reminders: 2 });
    expect(shownText(done.message)).toContain('Nobody answered in time');
    expect(buttonLabels(done.message)).toEqual([]);

    const reminders = w.threadPosts(message.ts);
    expect(reminders.map((c) => c.args.text)).toEqual([expect.stringContaining('Reminder 1 of 2'), expect.stringContaining('Reminder 2 of 2')]);
    const calls = w.fake.calls;
    const lastReminder = calls.lastIndexOf(reminders[1]!);
    const update = calls.findIndex((c) => c.method === 'chat.update' && c.args.ts === message.ts);
    expect(lastReminder).toBeLessThan(update);
    expect(w.fake.invalid).toEqual([]);
  });

  it('posts one message with two gateway replicas, and again none after a restart', async () => {
    await using w = await SlackWorld.start();
    await w.refiner([FLAG]);
    await w.gateway('r1');
    await w.gateway('r2');
    await w.fake.waitForConnections(2);
    const id = await w.post();
    const { message } = await w.posted(id);
    await Promise.all([w.stepped('r1', id, 'awaiting_human'), w.stepped('r2', id, 'awaiting_human')]);
    expect(w.escalationPosts(id)).toHaveLength(1);

    const r3 = await w.gateway('r3');
    await w.stepped('r3', id, 'awaiting_human');
    await r3.stop();
    await waitFor('r3 to disconnect', () => w.fake.connections() === 2);
    expect(w.escalationPosts(id)).toHaveLength(1);

    await w.fake.deliver('events_api', w.fake.reply({ channel: CHANNEL, threadTs: message.ts, user: ADA, text: '-v' }));
    const t = await w.inState(id, 'writing_tests');
    expect(t.answers.map((a) => a.by)).toEqual([`slack:${ADA}`]);
    const done = await w.resolved(id);
    expect(shownText(done.message)).toContain(`Answered by <@${ADA}>`);
    expect(w.escalationPosts()).toHaveLength(1);
    expect(w.fake.invalid).toEqual([]);
  });

  it('recovers claims left by a replica that died: adopts the message it posted, or posts the one it did not', async () => {
    await using w = await SlackWorld.start();
    await w.refiner([FLAG]);
    const posted = await w.post('Posted before the crash');
    const unposted = await w.post('Crashed before posting');
    const tA = await w.inState(posted, 'awaiting_human');
    const tB = await w.inState(unposted, 'awaiting_human');

    const stale = (t: typeof tA) => ({
      ticketId: t.id,
      askedAt: t.parked!.askedAt,
      title: t.title,
      questions: t.parked!.questions,
      deadline: t.parked!.deadline,
      state: 'claimed' as const,
      owner: 'dead-replica',
      claimedUntil: new Date(Date.now() - 1_000).toISOString(),
      claims: 1,
      message: null,
      postedAt: null,
      reminders: 0,
      outcome: null,
      updatedAt: new Date().toISOString(),
    });
    expect(await w.escalations.create(stale(tA))).not.toBeNull();
    expect(await w.escalations.create(stale(tB))).not.toBeNull();
    const orphan = w.fake.seedBotMessage(CHANNEL, {
      text: `nightshift: ticket ${posted} needs an answer`,
      metadata: { event_type: ESCALATION_EVENT, event_payload: { ticket_id: posted, asked_at: tA.parked!.askedAt } },
    });

    await w.gateway();
    const a = await w.posted(posted);
    const b = await w.posted(unposted);
    expect(a.escalation.message).toEqual({ channel: CHANNEL, ts: orphan.ts });
    expect(a.escalation).toMatchObject({ owner: 'r1', claims: 2 });
    expect(b.escalation).toMatchObject({ owner: 'r1', claims: 2 });
    expect(w.escalationPosts(posted)).toHaveLength(0);
    expect(w.escalationPosts(unposted)).toHaveLength(1);
    expect(w.fake.callsTo('conversations.history').length).toBeGreaterThanOrEqual(2);

    // The adopted message's thread answers the ticket.
    await w.fake.waitForConnections(1);
    await w.fake.deliver('events_api', w.fake.reply({ channel: CHANNEL, threadTs: orphan.ts, user: ADA, text: 'use -v' }));
    expect((await w.inState(posted, 'writing_tests')).answers[0]).toMatchObject({ text: 'use -v', by: `slack:${ADA}` });
    expect(w.fake.invalid).toEqual([]);
  });
});
