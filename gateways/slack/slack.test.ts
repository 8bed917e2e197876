import { describe, expect, it } from 'vitest';
import { BugReport, ConfigError, loadConfig, type Question, type Ticket } from '../../shared/index.ts';
import { Blocks } from '../../test/fakes/slack.ts';
import { withinReplayWindow } from './app.ts';
import { ANSWER_ACTION, bugReportOf, fromSlackText, replyAnswer, screen, slackActor, slackUserOf, type ReportInbound } from './payloads.ts';
import {
  answerText,
  escalationMessage,
  noCoordinatorText,
  outcomeOf,
  refusedText,
  reminderText,
  reportedText,
  resolvedMessage,
  unreachableText,
} from './render.ts';
import { slackSettings } from './service.ts';
import { repoRefOf } from '../../shared/index.ts';

/*
 * The Slack gateway without Slack or a bus: what it takes from Slack's payloads (screen, replyAnswer,
 * bugReportOf in payloads.ts), what it posts (render.ts, outcomeOf), the replay window of app.ts and its
 * settings (slackSettings). One file because its parts share one escalation (`asked`) and the payloads
 * below, built as Slack sends them: the click screen reads is one on a button render puts on `asked`'s
 * message. The gateway against the local Slack is in the *.int.test.ts files beside it.
 */

const asked = {
  ticketId: 'tk-0123456789',
  title: 'Add a <verbose> flag & more',
  askedAt: '2026-01-05T10:00:00.000Z',
  deadline: '2026-01-08T10:00:00.000Z',
  questions: [
    { id: 'flag', text: 'Should the flag be -v or --verbose?', options: ['-v', '--verbose'], blocking: true },
    { id: 'docs', text: 'Update the docs too?', blocking: false },
  ] satisfies Question[],
};

const reply = (event: Record<string, unknown>) => ({
  type: 'event_callback',
  event_id: 'Ev0123ABCD',
  team_id: 'T0001',
  event: { type: 'message', channel: 'C0ESC', user: 'U0ADA', text: 'hi', ts: '1700000001.000200', thread_ts: '1700000000.000100', ...event },
});

/** A new top-level message, as Slack sends it; `C0BUGS` is the triage channel below. */
const message = (event: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  type: 'event_callback',
  event_id: 'Ev0456EFGH',
  team_id: 'T0001',
  event: { type: 'message', channel: 'C0BUGS', user: 'U0ADA', text: 'It crashes', ts: '1700000005.000600', team: 'T0001', ...event },
  ...extra,
});
const triage = { triageChannel: 'C0BUGS' };

const click = (action: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  type: 'block_actions',
  user: { id: 'U0BOB', name: 'bob' },
  container: { type: 'message', message_ts: '1700000000.000100', channel_id: 'C0ESC', is_ephemeral: false },
  trigger_id: '1.2.abc',
  actions: [
    {
      type: 'button',
      action_id: `${ANSWER_ACTION}.0.1`,
      block_id: 'a.0',
      value: JSON.stringify({ t: 'tk-0123456789', a: '2026-01-05T10:00:00.000Z', q: 0, o: 1 }),
      action_ts: '1700000002.000300',
      ...action,
    },
  ],
  ...extra,
});

describe('screen', () => {
  it('takes a reply in a thread, unescaping its text, with an id from the event id', () => {
    expect(screen(reply({ text: 'use &lt;b&gt; &amp; go' }))).toEqual({
      ok: true,
      inbound: {
        kind: 'reply',
        id: 'slack.event.Ev0123ABCD',
        channel: 'C0ESC',
        threadTs: '1700000000.000100',
        ts: '1700000001.000200',
        user: 'U0ADA',
        text: 'use <b> & go',
      },
    });
    expect(screen(reply({ subtype: 'thread_broadcast' })).ok).toBe(true);
  });

  it('takes a click on an answer button, with an id from the click', () => {
    expect(screen(click({}))).toEqual({
      ok: true,
      inbound: {
        kind: 'button',
        id: 'slack.action.C0ESC.1700000000.000100.U0BOB.1700000002.000300',
        channel: 'C0ESC',
        messageTs: '1700000000.000100',
        user: 'U0BOB',
        value: { t: 'tk-0123456789', a: '2026-01-05T10:00:00.000Z', q: 0, o: 1 },
      },
    });
  });

  it.each([
    ['another event', { type: 'event_callback', event_id: 'Ev0001', event: { type: 'reaction_added' } }],
    ['a message outside a thread', reply({ thread_ts: undefined })],
    ['the thread parent', reply({ ts: '1700000000.000100' })],
    ['a bot message', reply({ bot_id: 'B01' })],
    ['an edit', reply({ subtype: 'message_changed' })],
    ['another app’s button', click({ action_id: 'other_app' })],
    ['a slash command', { type: 'slash_commands', command: '/x' }],
    ['a shortcut', { type: 'shortcut', callback_id: 'x' }],
  ])('ignores %s as irrelevant', (_what, body) => {
    expect(screen(body)).toMatchObject({ ok: false, malformed: false });
  });

  it.each([
    ['no type', { event: {} }],
    ['not an object', 'payload'],
    ['a bad event id', { ...reply({}), event_id: 'nope' }],
    ['a reply without a user', reply({ user: undefined })],
    ['a reply with a bad ts', reply({ ts: 'now' })],
    ['a button value that is not JSON', click({ value: '{' })],
    ['a button value with extra fields', click({ value: JSON.stringify({ t: 'tk-0123456789', a: '2026-01-05T10:00:00.000Z', q: 0, o: 1, text: 'x' }) })],
    ['a button value with a bad ticket id', click({ value: JSON.stringify({ t: 'tk-x', a: '2026-01-05T10:00:00.000Z', q: 0, o: 1 }) })],
    ['two actions', { ...click({}), actions: [click({}).actions[0], click({}).actions[0]] }],
    ['a click without a container', click({}, { container: undefined })],
    ['a user that is not a Slack id', click({}, { user: { id: 'root' } })],
  ])('refuses %s as malformed', (_what, body) => {
    expect(screen(body)).toMatchObject({ ok: false, malformed: true });
  });

  it('points at the offending field', () => {
    const r = screen(reply({ ts: 'now' }));
    expect(r.ok === false && r.issues).toEqual([{ path: 'event.ts', message: 'a Slack ts' }]);
  });

  it('keeps only the characters a bus message id may hold', () => {
    const r = screen({ ...reply({}), event_id: 'Ev0ABC' });
    expect(r.ok && r.inbound.id).toBe('slack.event.Ev0ABC');
    expect(fromSlackText('&amp;lt;')).toBe('&lt;');
  });
});

describe('screen: the triage channel', () => {
  it('takes a person’s new message there as a report, unescaping its text and keeping Slack’s markup', () => {
    expect(screen(message({ text: 'Crash on &lt;Enter&gt; &amp; more, see <https://x.example/1|log> cc <@U0BOB>' }), triage)).toEqual({
      ok: true,
      inbound: {
        kind: 'report',
        id: 'slack.event.Ev0456EFGH',
        team: 'T0001',
        channel: 'C0BUGS',
        ts: '1700000005.000600',
        user: 'U0ADA',
        text: 'Crash on <Enter> & more, see <https://x.example/1|log> cc <@U0BOB>',
      },
    });
    expect(screen(message({ text: undefined }), triage)).toMatchObject({ ok: true, inbound: { kind: 'report', text: '' } });
    expect(screen(message({}, { team_id: undefined }), triage)).toMatchObject({ ok: true, inbound: { team: undefined } });
    expect(screen(message({}, { team_id: 'not a team' }), triage)).toMatchObject({ ok: true, inbound: { team: undefined } });
  });

  it('takes a message with files attached as a report: its text is the report', () => {
    expect(screen(message({ subtype: 'file_share', text: 'crash on upload, screenshot attached' }), triage)).toMatchObject({
      ok: true,
      inbound: { kind: 'report', text: 'crash on upload, screenshot attached' },
    });
  });

  it('still takes a reply in one of its threads as a reply', () => {
    expect(screen(message({ thread_ts: '1700000000.000100' }), triage)).toMatchObject({ ok: true, inbound: { kind: 'reply', channel: 'C0BUGS' } });
  });

  it.each([
    ['without a triage channel', message({}), {}],
    ['in another channel', message({ channel: 'C0OTHER' }), triage],
    ['from a bot', message({ bot_id: 'B01' }), triage],
    ['from another app', message({ bot_id: 'B01', subtype: 'bot_message' }), triage],
    ['from Slackbot', message({ user: 'USLACKBOT' }), triage],
    ['an edit', message({ subtype: 'message_changed', user: undefined, message: { text: 'x' } }), triage],
    ['a deletion', message({ subtype: 'message_deleted', user: undefined }), triage],
    ['a join', message({ subtype: 'channel_join' }), triage],
  ])('ignores a message %s', (_what, body, opts) => {
    expect(screen(body, opts)).toMatchObject({ ok: false, malformed: false });
  });

  it.each([
    ['without a user', message({ user: undefined })],
    ['with a bad ts', message({ ts: 'now' })],
    ['with a huge text', message({ text: 'x'.repeat(40_001) })],
  ])('refuses a message %s as malformed', (_what, body) => {
    expect(screen(body, triage)).toMatchObject({ ok: false, malformed: true });
  });
});

describe('replyAnswer', () => {
  it('takes a reply as the answer as it is', () => {
    expect(replyAnswer('use -v\nand keep --verbose')).toEqual({ ok: true, text: 'use -v\nand keep --verbose' });
    expect(replyAnswer('the budget: fine as is')).toEqual({ ok: true, text: 'the budget: fine as is' });
  });

  it('reads `budget: <tokens>` on the first line as the ticket budget, the rest as the answer', () => {
    expect(replyAnswer('budget: 600000')).toEqual({ ok: true, budget: 600_000, text: 'Raised the token budget to 600000 tokens: go on.' });
    expect(replyAnswer('Budget: 600,000 and read only src/')).toEqual({ ok: true, budget: 600_000, text: 'and read only src/' });
    expect(replyAnswer('BUDGET:1_500_000\nskip the docs')).toEqual({ ok: true, budget: 1_500_000, text: 'skip the docs' });
  });

  it('refuses an unusable budget, saying why', () => {
    expect(replyAnswer('budget:')).toMatchObject({ ok: false, message: expect.stringContaining('budget is missing') });
    expect(replyAnswer('budget: a lot')).toMatchObject({ ok: false, message: expect.stringContaining('not a whole number') });
    expect(replyAnswer('budget: -3')).toMatchObject({ ok: false, message: expect.stringContaining('not a whole number') });
    expect(replyAnswer('budget: 2000000000')).toMatchObject({ ok: false, message: expect.stringContaining('out of range') });
  });
});

describe('bugReportOf', () => {
  const m: ReportInbound = { kind: 'report', id: 'slack.event.Ev1', team: 'T0001', channel: 'C0BUGS', ts: '1700000005.000600', user: 'U0ADA', text: '' };
  const repo = { path: '/srv/app' };

  it('makes the first line the title, the whole text the description, the author the reporter, the message the external id', () => {
    const text = '\n  Export crashes on empty CSV  \nSteps: *run* `export`\n\nExpected: a file';
    const report = bugReportOf({ ...m, text }, repo);
    expect(report).toEqual({
      title: 'Export crashes on empty CSV',
      description: 'Export crashes on empty CSV  \nSteps: *run* `export`\n\nExpected: a file',
      repo,
      reporter: 'slack:U0ADA',
      externalId: 'slack:T0001:C0BUGS:1700000005.000600',
    });
    expect(BugReport.safeParse(report).success).toBe(true);
    expect(bugReportOf({ ...m, team: undefined, text }, repo).externalId).toBe('slack:C0BUGS:1700000005.000600');
  });

  it('cuts a long first line to 200 characters, without splitting a character', () => {
    const title = bugReportOf({ ...m, text: `${'a'.repeat(198)}😀 and more\nbody` }, repo).title;
    expect(title).toBe(`${'a'.repeat(198)}…`);
    expect(bugReportOf({ ...m, text: 'b'.repeat(500) }, repo).title).toBe(`${'b'.repeat(199)}…`);
    expect(BugReport.safeParse(bugReportOf({ ...m, text: 'c'.repeat(500) }, repo)).success).toBe(true);
  });

  it('leaves an empty message empty, for bug intake to refuse', () => {
    const report = bugReportOf({ ...m, text: ' \n\t ' }, repo);
    expect(report).toMatchObject({ title: '', description: '' });
    expect(BugReport.safeParse(report).error?.issues.map((i) => i.path.join('.'))).toEqual(['title', 'description']);
  });

  it('names Slack users as actors one way', () => {
    expect(slackActor('U0ADA')).toBe('slack:U0ADA');
    expect(slackUserOf('slack:U0ADA')).toBe('U0ADA');
    expect(slackUserOf('slack:W0ADA')).toBe('W0ADA');
    for (const other of ['ada', 'github:octocat', 'slack:ada', 'slack:U0ADA extra', 'intake:slack:U0ADA']) expect(slackUserOf(other)).toBeNull();
  });
});

describe('render', () => {
  it('builds an escalation Slack accepts: questions, a button per option, the fallback text', () => {
    const m = escalationMessage(asked);
    expect(Blocks.safeParse(m.blocks).error?.issues ?? []).toEqual([]);
    const json = JSON.stringify(m.blocks);
    expect(json).toContain('Add a &lt;verbose&gt; flag &amp; more');
    expect(json).toContain('Should the flag be -v or --verbose?');
    expect(json).toContain('Update the docs too? _(optional)_');
    const actions = m.blocks.filter((b) => b.type === 'actions');
    expect(actions).toHaveLength(1);
    expect(actions[0]!.elements.map((e) => [e.action_id, e.text.text, JSON.parse(e.value)])).toEqual([
      [`${ANSWER_ACTION}.0.0`, '-v', { t: asked.ticketId, a: asked.askedAt, q: 0, o: 0 }],
      [`${ANSWER_ACTION}.0.1`, '--verbose', { t: asked.ticketId, a: asked.askedAt, q: 0, o: 1 }],
    ]);
    expect(m.text).toContain('tk-0123456789');
    expect(json).toContain('nightshift answer tk-0123456789');
  });

  it('stays within Slack’s limits with the largest questions a ticket may carry', () => {
    const questions: Question[] = Array.from({ length: 20 }, (_, i) => ({
      id: `q${i}`,
      text: '&<>'.repeat(1_400),
      options: Array.from({ length: 10 }, (_, o) => `${o}`.padEnd(200, 'x')),
      blocking: true,
    }));
    const big = { ...asked, title: 'T'.repeat(200), questions };
    for (const m of [escalationMessage(big), resolvedMessage(big, { kind: 'answered', by: 'slack:U0ADA', text: '<'.repeat(20_000) })]) {
      expect(Blocks.safeParse(m.blocks).error?.issues ?? []).toEqual([]);
      expect(m.text.length).toBeLessThanOrEqual(3_000);
      for (const b of m.blocks) if (b.type === 'section') expect(b.text.text).not.toMatch(/&[a-z]{0,3}…$/);
    }
  });

  it('shows the outcome without buttons once resolved', () => {
    const answered = resolvedMessage(asked, { kind: 'answered', by: 'slack:U0ADA', text: 'line one\n<b>' });
    expect(answered.blocks.some((b) => b.type === 'actions')).toBe(false);
    expect(JSON.stringify(answered.blocks)).toContain('Answered by <@U0ADA>:\\n>line one\\n>&lt;b&gt;');
    expect(JSON.stringify(resolvedMessage(asked, { kind: 'answered', by: 'ada', text: 'x' }).blocks)).toContain('Answered by *ada*');
    expect(resolvedMessage(asked, { kind: 'timed_out' }).text).toContain('nobody answered in time');
    expect(JSON.stringify(resolvedMessage(asked, { kind: 'cancelled', by: 'bob', reason: 'dup' }).blocks)).toContain('cancelled by *bob*: dup');
    expect(JSON.stringify(resolvedMessage(asked, { kind: 'closed', state: 'failed' }).blocks)).toContain('`failed`');
  });

  it('gives a button the option, with its question when there are several', () => {
    expect(answerText(asked.questions, 0, 1)).toBe('Should the flag be -v or --verbose?\n--verbose');
    expect(answerText([asked.questions[0]!], 0, 0)).toBe('-v');
    expect(answerText(asked.questions, 1, 0)).toBeNull();
    expect(answerText(asked.questions, 0, 5)).toBeNull();
    expect(answerText(asked.questions, 7, 0)).toBeNull();
  });

  it('numbers reminders', () => {
    expect(reminderText(asked, 2, 3)).toContain('Reminder 2 of 3: ticket tk-0123456789');
  });

  it('says who a question is for: a Slack user as a mention, anyone else by name', () => {
    const to = (who: string | undefined, text = 'Which version were you running?') =>
      escalationMessage({ ...asked, questions: [{ id: 'version', text, blocking: true, ...(who !== undefined && { to: who }) }] });
    const section = (m: ReturnType<typeof escalationMessage>) => m.blocks.find((b) => b.type === 'section' && b.block_id === 'q.0');
    const slack = to('slack:U0ADA');
    expect(section(slack)).toEqual({ type: 'section', block_id: 'q.0', text: { type: 'mrkdwn', text: 'Question for <@U0ADA>:\nWhich version were you running?' } });
    expect(slack.text).toContain('(for <@U0ADA>) Which version were you running?');
    expect(Blocks.safeParse(slack.blocks).error?.issues ?? []).toEqual([]);
    expect(JSON.stringify(to('grace@acme.example').blocks)).toContain('Question for grace@acme.example:\\nWhich version');
    expect(JSON.stringify(to('github:octocat').blocks)).toContain('Question for github:octocat:\\n');
    expect(JSON.stringify(to('<!channel> & co').blocks)).toContain('Question for &lt;!channel&gt; &amp; co:');
    expect(to('<!channel>').text).not.toContain('<!channel>');
    expect(JSON.stringify(to(undefined).blocks)).not.toContain('Question for');
    // Numbered among several, the addressee follows the number.
    const several = escalationMessage({ ...asked, questions: [asked.questions[0]!, { ...asked.questions[1]!, to: 'slack:U0BOB' }] });
    expect(JSON.stringify(several.blocks)).toContain('*2.* Question for <@U0BOB>:\\nUpdate the docs too? _(optional)_');
    // Resolved, the message still says who was asked.
    expect(JSON.stringify(resolvedMessage({ ...asked, questions: [{ ...asked.questions[0]!, to: 'slack:U0ADA' }] }, { kind: 'timed_out' }).blocks)).toContain(
      'Question for <@U0ADA>:',
    );
  });

  it('escapes the notification text, so that no title or answer can mention @channel', () => {
    const m = escalationMessage({ ...asked, title: 'Ping <!channel> & <@U0ALL>' });
    expect(m.text).toContain('Ping &lt;!channel&gt; &amp; &lt;@U0ALL&gt;');
    expect(resolvedMessage(asked, { kind: 'cancelled', by: '<!here>' }).text).toContain('cancelled by &lt;!here&gt;');
  });

  it('answers a report in its thread: the ticket, a refusal with its fields, no coordinator, no intake', () => {
    expect(reportedText('tk-0123456789', false, 'C0ESC')).toBe(
      ':white_check_mark: Reported as bug ticket `tk-0123456789`. nightshift triages it next; questions about it come to <#C0ESC>. ' +
        'From a terminal: `nightshift ticket show tk-0123456789`',
    );
    expect(reportedText('tk-0123456789', true, 'C0ESC')).toBe('Already reported: this is ticket `tk-0123456789`.');
    const refused = refusedText({
      code: 'invalid_report',
      message: 'bug report does not match: title: <empty>',
      issues: [
        { path: 'title', message: 'Too small' },
        { path: 'description', message: 'Too small' },
      ],
    });
    expect(refused).toBe(
      ':warning: Not reported: bug intake refused this report (`invalid_report`): bug report does not match: title: &lt;empty&gt;\n' +
        '• `title`: Too small\n• `description`: Too small',
    );
    expect(refusedText({ code: 'internal_error', message: 'x'.repeat(5_000) }).length).toBeLessThanOrEqual(3_000);
    expect(noCoordinatorText('nightshift.bugs.intake')).toContain('no nightshift coordinator is serving bug intake (`nightshift.bugs.intake`)');
    expect(unreachableText('TIMEOUT')).toContain('could not be handed to nightshift (TIMEOUT). If no ticket id appears in this thread, post it again.');
  });
});

describe('outcomeOf', () => {
  const base = { answers: [], timeline: [], state: 'awaiting_human', failure: null } as unknown as Ticket;
  it('takes the first answer given after the question was asked', () => {
    const t = {
      ...base,
      state: 'writing_tests',
      answers: [
        { text: 'old', by: 'a', at: '2026-01-04T00:00:00.000Z' },
        { text: 'new', by: 'slack:U1', at: '2026-01-05T10:00:01.000Z' },
      ],
    } as Ticket;
    expect(outcomeOf(t, asked.askedAt)).toEqual({ kind: 'answered', by: 'slack:U1', text: 'new' });
  });

  it('tells a timeout, a cancellation and anything else apart', () => {
    expect(outcomeOf({ ...base, state: 'failed', failure: { code: 'human_timeout', message: 'x' } } as Ticket, asked.askedAt)).toEqual({ kind: 'timed_out' });
    const cancelled = { ...base, state: 'cancelled', timeline: [{ at: asked.askedAt, by: 'bob', event: 'transition', to: 'cancelled', reason: 'dup' }] } as Ticket;
    expect(outcomeOf(cancelled, asked.askedAt)).toEqual({ kind: 'cancelled', by: 'bob', reason: 'dup' });
    expect(outcomeOf({ ...base, state: 'failed', failure: { code: 'stage_timeout', message: 'x' } } as Ticket, asked.askedAt)).toEqual({ kind: 'closed', state: 'failed' });
  });
});

describe('withinReplayWindow', () => {
  const now = 1_700_000_000_000;
  it.each([
    ['1700000000', true],
    ['1699999700', true],
    ['1700000300', true],
    ['1699999699', false],
    ['1700000301', false],
    ['', false],
    ['17e8', false],
    ['-1', false],
    ['1700000000.5', false],
  ])('%j → %s', (stamp, ok) => {
    expect(withinReplayWindow(stamp, now)).toBe(ok);
  });
});

describe('slackSettings', () => {
  it('names every missing setting for the chosen mode', () => {
    const issues = (env: Record<string, string>) => {
      try {
        slackSettings(loadConfig(env));
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as ConfigError).issues.map((i) => i.path);
      }
      return [];
    };
    expect(issues({})).toEqual(['SLACK_BOT_TOKEN', 'SLACK_CHANNEL', 'SLACK_APP_TOKEN']);
    expect(issues({ NIGHTSHIFT_SLACK_MODE: 'http', SLACK_BOT_TOKEN: 'xoxb-1', SLACK_CHANNEL: 'C012' })).toEqual(['SLACK_SIGNING_SECRET']);
    expect(issues({ SLACK_BOT_TOKEN: 'xoxb-1', SLACK_CHANNEL: 'C012', SLACK_APP_TOKEN: 'xapp-1' })).toEqual([]);
  });

  it('takes the triage channel and its repository: a URL when it looks like one, else a path', () => {
    const base = { SLACK_BOT_TOKEN: 'xoxb-1', SLACK_CHANNEL: 'C012', SLACK_APP_TOKEN: 'xapp-1' };
    expect(slackSettings(loadConfig(base))).toMatchObject({ triageChannel: undefined, triageRepo: undefined });
    const url = slackSettings(loadConfig({ ...base, NIGHTSHIFT_SLACK_TRIAGE_CHANNEL: 'C0BUGS', NIGHTSHIFT_SLACK_TRIAGE_REPO: ' https://git.example/app.git ' }));
    expect(url).toMatchObject({ triageChannel: 'C0BUGS', triageRepo: { url: 'https://git.example/app.git' } });
    expect(slackSettings(loadConfig({ ...base, NIGHTSHIFT_SLACK_TRIAGE_CHANNEL: 'C0BUGS', NIGHTSHIFT_SLACK_TRIAGE_REPO: '/srv/app' })).triageRepo).toEqual({ path: '/srv/app' });
  });

  it('reads a repository as `ticket create --repo` does', () => {
    expect(repoRefOf('https://github.com/acme/app.git')).toEqual({ url: 'https://github.com/acme/app.git' });
    expect(repoRefOf('ssh://git@host/acme/app.git')).toEqual({ url: 'ssh://git@host/acme/app.git' });
    expect(repoRefOf('file:///srv/app.git')).toEqual({ url: 'file:///srv/app.git' });
    expect(repoRefOf('git@github.com:acme/app.git')).toEqual({ url: 'git@github.com:acme/app.git' });
    expect(repoRefOf('/srv/app')).toEqual({ path: '/srv/app' });
    expect(repoRefOf('app', '/srv')).toEqual({ path: '/srv/app' });
    expect(repoRefOf('../app', '/srv/x')).toEqual({ path: '/srv/app' });
    expect(repoRefOf('c:app', '/srv')).toEqual({ path: '/srv/c:app' });
  });

  it('refuses a channel name, a wrong kind of token and a bad mode at load time', () => {
    expect(() => loadConfig({ SLACK_CHANNEL: '#escalations' })).toThrow(/SLACK_CHANNEL/);
    expect(() => loadConfig({ SLACK_BOT_TOKEN: 'xapp-1' })).toThrow(/SLACK_BOT_TOKEN/);
    expect(() => loadConfig({ SLACK_APP_TOKEN: 'xoxb-1' })).toThrow(/SLACK_APP_TOKEN/);
    expect(() => loadConfig({ NIGHTSHIFT_SLACK_MODE: 'events' })).toThrow(/NIGHTSHIFT_SLACK_MODE/);
    expect(loadConfig({ NIGHTSHIFT_ESCALATION_REMIND: '0' }).NIGHTSHIFT_ESCALATION_REMIND).toBe(0);
  });
});
