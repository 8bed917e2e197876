import { z } from 'zod';

/*
 * The Web API arguments the local Slack accepts, as Slack's reference pages document them: the
 * methods nightshift calls, each with its arguments' schema, the fields sent as JSON strings and the
 * token it wants, and Block Kit's blocks with their limits.
 */

const Ts = z.string().regex(/^\d+\.\d+$/, 'a message ts such as 1712345678.123456');
const ChannelId = z.string().regex(/^[CGD][A-Z0-9]+$/, 'a channel id');
const UserId = z.string().regex(/^[UW][A-Z0-9]+$/, 'a user id');
const Bool = z.enum(['true', 'false', '1', '0']);
const Num = z.string().regex(/^\d+$/);

const PlainText = z.object({ type: z.literal('plain_text'), text: z.string().min(1), emoji: z.boolean().optional() }).strict();
const Mrkdwn = z.object({ type: z.literal('mrkdwn'), text: z.string().min(1), verbatim: z.boolean().optional() }).strict();
const TextObject = z.discriminatedUnion('type', [PlainText, Mrkdwn]);
const BlockId = z.string().min(1).max(255).optional();

const Button = z
  .object({
    type: z.literal('button'),
    text: PlainText.refine((t) => t.text.length <= 75, 'button text is at most 75 characters'),
    action_id: z.string().min(1).max(255),
    value: z.string().max(2_000).optional(),
    url: z.string().max(3_000).optional(),
    style: z.enum(['primary', 'danger']).optional(),
    accessibility_label: z.string().max(75).optional(),
  })
  .strict();

const Block = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('header'),
      block_id: BlockId,
      text: PlainText.refine((t) => t.text.length <= 150, 'header text is at most 150 characters'),
    })
    .strict(),
  z
    .object({
      type: z.literal('section'),
      block_id: BlockId,
      text: TextObject.refine((t) => t.text.length <= 3_000, 'section text is at most 3000 characters').optional(),
      fields: z.array(TextObject.refine((t) => t.text.length <= 2_000)).max(10).optional(),
      accessory: Button.optional(),
    })
    .strict()
    .refine((b) => b.text !== undefined || b.fields !== undefined, 'a section needs text or fields'),
  z.object({ type: z.literal('actions'), block_id: BlockId, elements: z.array(Button).min(1).max(25) }).strict(),
  z.object({ type: z.literal('context'), block_id: BlockId, elements: z.array(TextObject).min(1).max(10) }).strict(),
  z.object({ type: z.literal('divider'), block_id: BlockId }).strict(),
]);

/** A message's blocks: at most 50, block ids unique, action ids unique within the message. */
export const Blocks = z
  .array(Block)
  .min(1)
  .max(50)
  .superRefine((blocks, ctx) => {
    const blockIds = new Set<string>();
    const actionIds = new Set<string>();
    for (const b of blocks) {
      if (b.block_id !== undefined) {
        if (blockIds.has(b.block_id)) ctx.addIssue({ code: 'custom', message: `duplicate block_id ${b.block_id}` });
        blockIds.add(b.block_id);
      }
      const buttons = b.type === 'actions' ? b.elements : b.type === 'section' && b.accessory ? [b.accessory] : [];
      for (const el of buttons) {
        if (actionIds.has(el.action_id)) ctx.addIssue({ code: 'custom', message: `duplicate action_id ${el.action_id}` });
        actionIds.add(el.action_id);
      }
    }
  });

/** A message's metadata: an event type and its payload. */
export const Metadata = z.object({ event_type: z.string().regex(/^[A-Za-z0-9_]+$/).max(255), event_payload: z.record(z.string(), z.unknown()) }).strict();

const common = { team_id: z.string().optional() };
const messageContent = {
  text: z.string().max(40_000).optional(),
  blocks: Blocks.optional(),
  attachments: z.array(z.unknown()).optional(),
  metadata: Metadata.optional(),
  mrkdwn: Bool.optional(),
  parse: z.enum(['full', 'none']).optional(),
  link_names: Bool.optional(),
};
const hasContent = (a: { text?: string | undefined; blocks?: unknown; attachments?: unknown }) =>
  a.text !== undefined || a.blocks !== undefined || a.attachments !== undefined;

/** Arguments of each method, as its reference page lists them. Fields holding JSON arrive as JSON strings. */
export const METHODS: Record<string, { schema: z.ZodType; json: string[]; token: 'bot' | 'app' }> = {
  'auth.test': { schema: z.object(common).strict(), json: [], token: 'bot' },
  'apps.connections.open': { schema: z.object(common).strict(), json: [], token: 'app' },
  'chat.postMessage': {
    schema: z
      .object({
        ...common,
        ...messageContent,
        channel: z.string().min(1),
        thread_ts: Ts.optional(),
        reply_broadcast: Bool.optional(),
        unfurl_links: Bool.optional(),
        unfurl_media: Bool.optional(),
        icon_emoji: z.string().optional(),
        icon_url: z.string().optional(),
        username: z.string().optional(),
      })
      .strict()
      .refine(hasContent, 'one of text, blocks or attachments is required')
      .refine((a) => a.blocks === undefined || a.text !== undefined, 'text is required with blocks (the notification fallback)'),
    json: ['blocks', 'attachments', 'metadata'],
    token: 'bot',
  },
  'chat.update': {
    schema: z
      .object({ ...common, ...messageContent, channel: ChannelId, ts: Ts, as_user: Bool.optional(), file_ids: z.array(z.string()).optional(), reply_broadcast: Bool.optional() })
      .strict()
      .refine(hasContent, 'one of text, blocks or attachments is required'),
    json: ['blocks', 'attachments', 'metadata', 'file_ids'],
    token: 'bot',
  },
  'conversations.history': {
    schema: z
      .object({
        ...common,
        channel: ChannelId,
        oldest: z.string().regex(/^\d+(\.\d+)?$/).optional(),
        latest: z.string().regex(/^\d+(\.\d+)?$/).optional(),
        inclusive: Bool.optional(),
        limit: Num.optional(),
        cursor: z.string().optional(),
        include_all_metadata: Bool.optional(),
      })
      .strict(),
    json: [],
    token: 'bot',
  },
  'users.info': { schema: z.object({ ...common, user: UserId, include_locale: Bool.optional() }).strict(), json: [], token: 'bot' },
};

/** The arguments with the fields Slack takes as JSON strings decoded (a field that is not JSON is left as it came). */
export function decodeJsonFields(args: Record<string, unknown>, fields: string[]): Record<string, unknown> {
  const out = { ...args };
  for (const f of fields) {
    if (typeof out[f] !== 'string') continue;
    const parsed = safeJson(out[f]);
    out[f] = parsed === undefined ? out[f] : parsed;
  }
  return out;
}

/** `text` parsed as JSON, or undefined when it is not JSON. */
export function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
