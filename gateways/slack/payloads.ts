import { z } from 'zod';
import { budgetDirective, clip, fieldIssues, TicketId, type BugReport, type FieldIssue, type RepoRef } from '../../shared/index.ts';

/** Prefix of the action ids of answer buttons: `nightshift_answer.<question>.<option>`. */
export const ANSWER_ACTION = 'nightshift_answer';

const SlackTs = z.string().regex(/^\d{1,12}\.\d{1,8}$/, 'a Slack ts');
const UserId = z.string().regex(/^[UW][A-Z0-9]{2,40}$/, 'a Slack user id');
const ChannelId = z.string().regex(/^[CGD][A-Z0-9]{2,40}$/, 'a Slack channel id');

/**
 * What an answer button carries: the parking it answers (ticket id and `askedAt`) and the question and
 * option by index. The option's text is taken from the ticket, never from the payload.
 */
export const ButtonValue = z
  .object({
    t: TicketId,
    a: z.iso.datetime(),
    q: z.number().int().min(0).max(19),
    o: z.number().int().min(0).max(9),
  })
  .strict();
export type ButtonValue = z.infer<typeof ButtonValue>;

/** The Events API envelope, as far as it tells which event this is. */
const EventCallback = z.object({
  type: z.literal('event_callback'),
  event_id: z.string().regex(/^Ev[A-Za-z0-9]{2,60}$/, 'a Slack event id'),
  /** The workspace; only a well-formed one is used (in a report's external id). */
  team_id: z.unknown().optional(),
  event: z.object({
    type: z.string().max(100),
    subtype: z.string().max(100).optional(),
    bot_id: z.string().optional(),
    thread_ts: z.unknown().optional(),
  }),
});

/** A new top-level message from a person: in the triage channel, a bug report. */
const TopLevelMessage = z.object({
  type: z.literal('message'),
  channel: ChannelId,
  user: UserId,
  /** Absent when a message is only files or blocks: reported as an empty report. */
  text: z.string().max(40_000).default(''),
  ts: SlackTs,
});

const TeamId = z.string().regex(/^[TE][A-Z0-9]{2,40}$/);

/** Slackbot's user id: its messages (reminders, notices) carry no bot_id, but are nobody's report. */
const SLACKBOT = 'USLACKBOT';

/** A reply in a thread, the one message event the gateway acts on. */
const ThreadReply = z.object({
  type: z.literal('message'),
  subtype: z.literal('thread_broadcast').optional(),
  channel: ChannelId,
  user: UserId,
  text: z.string().max(40_000),
  ts: SlackTs,
  thread_ts: SlackTs,
});

/** An interactive `block_actions` payload, as far as it tells whose actions these are. */
const BlockActionsHead = z.object({
  type: z.literal('block_actions'),
  actions: z.array(z.object({ action_id: z.string().max(255) })).min(1),
});

const AnswerClick = z.object({
  type: z.literal('block_actions'),
  user: z.object({ id: UserId }),
  container: z.object({ type: z.literal('message'), message_ts: SlackTs, channel_id: ChannelId }),
  actions: z
    .array(
      z.object({
        type: z.literal('button'),
        action_id: z.string().startsWith(`${ANSWER_ACTION}.`).max(255),
        value: z.string().max(2_000),
        action_ts: SlackTs,
      }),
    )
    .length(1),
});

/**
 * A Slack payload the gateway acts on. `id` is the bus message id of the answer it may become (for a
 * report, the id it is logged under).
 */
export type Inbound =
  | { kind: 'reply'; id: string; channel: string; threadTs: string; ts: string; user: string; text: string }
  | { kind: 'button'; id: string; channel: string; messageTs: string; user: string; value: ButtonValue }
  | ReportInbound;

/** A person's new top-level message in the triage channel: a bug report. */
export interface ReportInbound {
  kind: 'report';
  id: string;
  /** The workspace the message was posted in, when Slack says. */
  team: string | undefined;
  channel: string;
  ts: string;
  user: string;
  /** The message's text, unescaped (`fromSlackText`); mentions and links stay in Slack's markup. */
  text: string;
}

/** What `screen` needs to know beyond the payload. */
export interface ScreenOptions {
  /** The triage channel: its new top-level messages are bug reports. Unset, no message is. */
  triageChannel?: string | undefined;
}

/** A payload the gateway does not act on: irrelevant (`malformed: false`) or not what Slack documents. */
export interface Ignored {
  reason: string;
  malformed: boolean;
  issues?: FieldIssue[];
}

export type Screened = { ok: true; inbound: Inbound } | ({ ok: false } & Ignored);

/**
 * Sorts one Slack payload (the body of an Events API request or an interactive payload) into what the
 * gateway acts on — a reply in a thread, a click on an answer button, a new message in the triage
 * channel — and everything else.
 */
export function screen(body: unknown, opts: ScreenOptions = {}): Screened {
  const head = z.object({ type: z.string().max(100) }).safeParse(body);
  if (!head.success) return malformed('payload without a type', head.error.issues);
  if (head.data.type === 'event_callback') return screenEvent(body, opts);
  if (head.data.type === 'block_actions') return screenActions(body);
  return irrelevant(`payload type ${head.data.type} is not handled`);
}

function screenEvent(body: unknown, opts: ScreenOptions): Screened {
  const env = EventCallback.safeParse(body);
  if (!env.success) return malformed('invalid event_callback', env.error.issues);
  const { event, event_id, team_id } = env.data;
  if (event.type !== 'message') return irrelevant(`event ${event.type} is not handled`);
  if (event.bot_id !== undefined) return irrelevant('message from a bot');
  if (event.thread_ts === undefined) {
    const team = TeamId.safeParse(team_id);
    return screenTopLevel((body as { event: unknown }).event, event_id, team.success ? team.data : undefined, event.subtype, opts);
  }
  if (event.subtype !== undefined && event.subtype !== 'thread_broadcast') return irrelevant(`message subtype ${event.subtype} is not handled`);
  const reply = ThreadReply.safeParse((body as { event: unknown }).event);
  if (!reply.success) return malformed('invalid thread reply', reply.error.issues, ['event']);
  const m = reply.data;
  if (m.thread_ts === m.ts) return irrelevant('the thread parent itself');
  return {
    ok: true,
    inbound: {
      kind: 'reply',
      id: messageId('slack.event', event_id),
      channel: m.channel,
      threadTs: m.thread_ts,
      ts: m.ts,
      user: m.user,
      text: fromSlackText(m.text),
    },
  };
}

/** A message outside any thread: a bug report when a person posted it in the triage channel. */
function screenTopLevel(event: unknown, eventId: string, team: string | undefined, subtype: string | undefined, opts: ScreenOptions): Screened {
  const channel = z.object({ channel: z.string() }).safeParse(event);
  if (!opts.triageChannel || !channel.success || channel.data.channel !== opts.triageChannel) return irrelevant('message outside a thread');
  // Edits, deletions, joins, other apps' posts: only a new message by a person is a report — one
  // with files attached (a screenshot, a log) included; its text is the report, the files stay in Slack.
  if (subtype !== undefined && subtype !== 'file_share') return irrelevant(`message subtype ${subtype} in the triage channel is not a report`);
  const m = TopLevelMessage.safeParse(event);
  if (!m.success) return malformed('invalid message in the triage channel', m.error.issues, ['event']);
  if (m.data.user === SLACKBOT) return irrelevant('a message from Slackbot');
  return {
    ok: true,
    inbound: {
      kind: 'report',
      id: messageId('slack.event', eventId),
      team,
      channel: m.data.channel,
      ts: m.data.ts,
      user: m.data.user,
      text: fromSlackText(m.data.text),
    },
  };
}

function screenActions(body: unknown): Screened {
  const head = BlockActionsHead.safeParse(body);
  if (!head.success) return malformed('invalid block_actions', head.error.issues);
  if (!head.data.actions.some((a) => a.action_id.startsWith(`${ANSWER_ACTION}.`))) {
    return irrelevant(`actions ${head.data.actions.map((a) => a.action_id).join(', ')} are not handled`);
  }
  const click = AnswerClick.safeParse(body);
  if (!click.success) return malformed('invalid answer click', click.error.issues);
  const action = click.data.actions[0]!;
  let json: unknown;
  try {
    json = JSON.parse(action.value);
  } catch {
    return malformed('answer button value is not JSON', []);
  }
  const value = ButtonValue.safeParse(json);
  if (!value.success) return malformed('invalid answer button value', value.error.issues, ['actions', 0, 'value']);
  const { channel_id: channel, message_ts: messageTs } = click.data.container;
  const user = click.data.user.id;
  return {
    ok: true,
    inbound: {
      kind: 'button',
      id: messageId('slack.action', `${channel}.${messageTs}.${user}.${action.action_ts}`),
      channel,
      messageTs,
      user,
      value: value.data,
    },
  };
}

/** A bus message id from a Slack id: the same Slack event or click always gives the same id. */
function messageId(prefix: string, slackId: string): string {
  return `${prefix}.${slackId.replace(/[^A-Za-z0-9_.-]/g, '_')}`.slice(0, 128);
}

/** How nightshift names a Slack user as an actor (who answered, who reported): `slack:<user id>`. */
export function slackActor(userId: string): string {
  return `slack:${userId}`;
}

/** The Slack user id in an actor named by `slackActor`, or null for anyone else. */
export function slackUserOf(actor: string): string | null {
  return /^slack:([UW][A-Z0-9]+)$/.exec(actor)?.[1] ?? null;
}

/** Longest bug report title intake takes. */
const TITLE_MAX = 200;

/**
 * The bug report a message in the triage channel becomes: its first line is the title (cut to 200
 * characters), its whole text the description, its author the reporter, and the message itself
 * (workspace, channel, ts) the external id, so that Slack delivering it again files no second ticket.
 * An empty message gives an empty title and description, which bug intake refuses.
 */
export function bugReportOf(m: ReportInbound, repo: RepoRef): z.input<typeof BugReport> {
  const text = m.text.trim();
  const first = (text.split('\n')[0] ?? '').trim();
  return {
    title: clip(first, TITLE_MAX),
    description: text,
    repo,
    reporter: slackActor(m.user),
    externalId: `slack:${m.team ? `${m.team}:` : ''}${m.channel}:${m.ts}`,
  };
}

/** Slack escapes `&`, `<` and `>` in message text; this is the text as the person typed it. */
export function fromSlackText(text: string): string {
  return text.replaceAll('&lt;', '<').replaceAll('&gt;', '>').replaceAll('&amp;', '&');
}

function irrelevant(reason: string): Screened {
  return { ok: false, reason, malformed: false };
}

function malformed(
  reason: string,
  issues: readonly { path: readonly PropertyKey[]; message: string }[],
  under: PropertyKey[] = [],
): Screened {
  return { ok: false, reason, malformed: true, issues: fieldIssues(issues.map((i) => ({ ...i, path: [...under, ...i.path] }))) };
}

/** A thread reply's first line that raises the ticket's token budget: `budget: 600000` (any case). */
export const BUDGET_DIRECTIVE = /budget\s*:/i;

/**
 * What a reply in an escalation's thread answers: its text, and the ticket's new token budget when its
 * first line is `budget: <tokens>` (the words after the budget and the lines below are the answer).
 * An unusable budget is an error for the person, never an answer.
 */
export function replyAnswer(text: string): { ok: true; text: string; budget?: number } | { ok: false; message: string } {
  return budgetDirective(text, BUDGET_DIRECTIVE);
}
