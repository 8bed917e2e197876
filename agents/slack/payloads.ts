import { z } from 'zod';
import { fieldIssues, TicketId, type FieldIssue } from '../../shared/index.ts';

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
  event: z.object({ type: z.string().max(100), subtype: z.string().max(100).optional(), bot_id: z.string().optional() }),
});

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

/** A Slack payload the gateway acts on. `id` is the bus message id of the answer it may become. */
export type Inbound =
  | { kind: 'reply'; id: string; channel: string; threadTs: string; ts: string; user: string; text: string }
  | { kind: 'button'; id: string; channel: string; messageTs: string; user: string; value: ButtonValue };

/** A payload the gateway does not act on: irrelevant (`malformed: false`) or not what Slack documents. */
export interface Ignored {
  reason: string;
  malformed: boolean;
  issues?: FieldIssue[];
}

export type Screened = { ok: true; inbound: Inbound } | ({ ok: false } & Ignored);

/**
 * Sorts one Slack payload (the body of an Events API request or an interactive payload) into what the
 * gateway acts on — a reply in a thread, a click on an answer button — and everything else.
 */
export function screen(body: unknown): Screened {
  const head = z.object({ type: z.string().max(100) }).safeParse(body);
  if (!head.success) return malformed('payload without a type', head.error.issues);
  if (head.data.type === 'event_callback') return screenEvent(body);
  if (head.data.type === 'block_actions') return screenActions(body);
  return irrelevant(`payload type ${head.data.type} is not handled`);
}

function screenEvent(body: unknown): Screened {
  const env = EventCallback.safeParse(body);
  if (!env.success) return malformed('invalid event_callback', env.error.issues);
  const { event, event_id } = env.data;
  if (event.type !== 'message') return irrelevant(`event ${event.type} is not handled`);
  if (event.bot_id !== undefined) return irrelevant('message from a bot');
  if (event.subtype !== undefined && event.subtype !== 'thread_broadcast') return irrelevant(`message subtype ${event.subtype} is not handled`);
  const reply = ThreadReply.safeParse((body as { event: unknown }).event);
  if (!reply.success) {
    const top = z.object({ thread_ts: z.string() }).safeParse((body as { event: unknown }).event);
    return top.success ? malformed('invalid thread reply', reply.error.issues, ['event']) : irrelevant('message outside a thread');
  }
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
