import { Kvm, type KV } from '@nats-io/kv';
import { z } from 'zod';
import { ConflictError, Question, TicketId } from '../shared/index.ts';
import type { Bus } from './connection.ts';
import { isWrongLastSequence } from './tickets.ts';

/** Where a posted chat message lives: its channel and its timestamp id (Slack's `ts`). */
export const PostedMessage = z.object({
  channel: z.string().regex(/^[A-Z0-9]+$/, 'a channel id'),
  ts: z.string().regex(/^\d+\.\d+$/, 'a message ts'),
});
export type PostedMessage = z.infer<typeof PostedMessage>;

/**
 * One escalation of a ticket to humans in chat: one per parking, identified by the ticket id and the
 * parking's `askedAt`. It goes `claimed` (a gateway replica won the right to post, until `claimedUntil`)
 * → `posted` (the message exists at `message`) → `resolved` (the message shows the outcome).
 */
export const Escalation = z.object({
  ticketId: TicketId,
  askedAt: z.iso.datetime(),
  title: z.string(),
  questions: z.array(Question),
  /** When the coordinator fails the ticket if nobody answers. */
  deadline: z.iso.datetime(),
  state: z.enum(['claimed', 'posted', 'resolved']),
  /** The replica holding the claim; past `claimedUntil` another may take it over. */
  owner: z.string().min(1).max(200),
  claimedUntil: z.iso.datetime(),
  /** Claims made so far: above 1, an earlier claimant may have posted the message before it died. */
  claims: z.number().int().positive(),
  message: PostedMessage.nullable(),
  postedAt: z.iso.datetime().nullable(),
  /** Reminders sent in the message's thread. */
  reminders: z.number().int().nonnegative(),
  /** How the escalation ended (`answered`, `timed_out`, `cancelled`, `closed`), once resolved. */
  outcome: z.string().max(64).nullable(),
  updatedAt: z.iso.datetime(),
});
export type Escalation = z.infer<typeof Escalation>;

/** What a message's thread belongs to. */
export const ThreadRef = z.object({ ticketId: TicketId, askedAt: z.iso.datetime() });
export type ThreadRef = z.infer<typeof ThreadRef>;

export interface StoredEscalation {
  escalation: Escalation;
  revision: number;
}

/**
 * The escalations KV bucket: `esc.<ticketId>` holds the ticket's current (or last) escalation, written
 * with compare-and-set on its revision like tickets; `thread.<channel>.<ts>` maps a posted message back
 * to its escalation, so that a reply in its thread finds the ticket.
 */
export class EscalationStore {
  readonly #kv: KV;

  constructor(kv: KV) {
    this.#kv = kv;
  }

  static async open(bus: Bus): Promise<EscalationStore> {
    return new EscalationStore(await new Kvm(bus.js).open(bus.names.escalationsBucket));
  }

  async get(ticketId: string): Promise<StoredEscalation | null> {
    const e = await this.#kv.get(escKey(ticketId));
    if (!e || e.operation !== 'PUT') return null;
    return { escalation: Escalation.parse(e.json()), revision: e.revision };
  }

  /** Stores the first escalation of a ticket; returns its revision, or null when the ticket has one already. */
  async create(e: Escalation): Promise<number | null> {
    try {
      return await this.#kv.create(escKey(e.ticketId), encode(Escalation.parse(e)));
    } catch (err) {
      if (isWrongLastSequence(err)) return null;
      throw err;
    }
  }

  /** Writes `e` if its key is still at `revision`; throws ConflictError otherwise. */
  async update(e: Escalation, revision: number): Promise<number> {
    try {
      return await this.#kv.update(escKey(e.ticketId), encode(Escalation.parse(e)), revision);
    } catch (err) {
      if (isWrongLastSequence(err)) throw new ConflictError(`escalation of ${e.ticketId} changed since revision ${revision}`);
      throw err;
    }
  }

  async indexThread(message: PostedMessage, ref: ThreadRef): Promise<void> {
    await this.#kv.put(threadKey(message), encode(ThreadRef.parse(ref)));
  }

  async thread(message: PostedMessage): Promise<ThreadRef | null> {
    const e = await this.#kv.get(threadKey(message));
    return e && e.operation === 'PUT' ? ThreadRef.parse(e.json()) : null;
  }
}

function escKey(ticketId: string): string {
  return `esc.${TicketId.parse(ticketId)}`;
}

function threadKey(m: PostedMessage): string {
  const { channel, ts } = PostedMessage.parse(m);
  return `thread.${channel}.${ts.replace('.', '_')}`;
}

function encode(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}
