import type { z } from 'zod';
import { envelope, type Envelope, type MessageDef } from '../../bus/index.ts';
import { fieldIssues, type Logger } from '../../shared/index.ts';
import { hasNightshiftMarker } from './ask.ts';
import type { IssueCommentEvent } from './payloads.ts';

/** What to answer GitHub: a status and a JSON body (shown in the webhook's "Recent deliveries"). */
export interface WebhookResponse {
  status: number;
  body: Record<string, unknown>;
}

/** One verified webhook delivery: its id (the id of the event it publishes), its event name, its log. */
export interface Delivery {
  id: string;
  event: string;
  log: Logger;
}

/** Publishes a ticket event; resolves once the bus has stored it. */
export type Publish = (ticketId: string, event: Envelope) => Promise<void>;

/** The envelope source of every event the receiver publishes. */
export const GITHUB_SOURCE = 'github';

export type IssueCommentPayload = z.infer<typeof IssueCommentEvent>;

/** Relations to a repository that come with write access, enough to answer any question on its issues. */
export const ANSWERING_ASSOCIATIONS: readonly string[] = ['OWNER', 'MEMBER', 'COLLABORATOR'];

export function refuse(status: number, code: string, message: string, issues?: { path: string; message: string }[]): WebhookResponse {
  return { status, body: { ok: false, error: { code, message, ...(issues && { issues }) } } };
}

export async function parsed<S extends z.ZodType>(schema: S, payload: unknown, then: (p: z.output<S>) => Promise<WebhookResponse>): Promise<WebhookResponse> {
  const result = schema.safeParse(payload);
  if (!result.success) return refuse(400, 'invalid_payload', 'the payload is not what GitHub sends for this event', fieldIssues(result.error.issues));
  return then(result.data);
}

/** Publishes an event under the delivery's id, or under `id` when the event is keyed by something else. */
export async function send<S extends z.ZodType>(
  publish: Publish,
  ctx: Delivery,
  ticketId: string,
  def: MessageDef<string, S>,
  data: z.input<S>,
  id: string = ctx.id,
): Promise<string> {
  const ev = envelope(def, data, { id, source: GITHUB_SOURCE, correlationId: ticketId });
  await publish(ticketId, ev);
  return def.type;
}

export function accepted(ctx: Delivery, ticketId: string, action: string): WebhookResponse {
  ctx.log.info({ ticketId, action }, 'webhook accepted');
  return { status: 202, body: { ok: true, delivery: ctx.id, action, ticketId } };
}

export function ignored(ctx: Delivery, reason: string): WebhookResponse {
  ctx.log.info({ reason }, 'webhook ignored');
  return { status: 200, body: { ok: true, delivery: ctx.id, ignored: reason } };
}

/** Why a comment is not one a person just wrote: another action, a bot (nightshift's App among them), nightshift's own marker. */
export function notNewFromAPerson(p: IssueCommentPayload): string | null {
  if (p.action !== 'created') return `issue_comment ${p.action} is not used`;
  if (p.comment.user?.type === 'Bot') return 'a comment by a bot';
  if (hasNightshiftMarker(p.comment.body)) return "nightshift's own comment";
  return null;
}

export function actor(user: { login: string } | null): string {
  return `github:${(user?.login ?? 'ghost').slice(0, 190)}`;
}

/** How much of a person's text on GitHub (a comment, an issue's description) a message carries at most. */
export const MAX_TEXT = 8_000;
/** What ends a text that was cut to MAX_TEXT. */
export const CUT = ' … (cut)';
