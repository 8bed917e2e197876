import { Kvm, type KV } from '@nats-io/kv';
import { z } from 'zod';
import { Question, TicketId } from '../shared/index.ts';
import type { Bus } from './connection.ts';
import { CasRecords } from './records.ts';

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
  /** Failed attempts to post, and the last failure, for the retry backoff and for whoever looks (absent from older records). */
  failures: z.number().int().nonnegative().default(0),
  lastError: z.string().max(1_000).nullable().default(null),
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
  readonly #records: CasRecords<typeof Escalation>;

  constructor(kv: KV) {
    this.#kv = kv;
    this.#records = new CasRecords(kv, Escalation, escKey, 'the escalation of ticket');
  }

  static async open(bus: Bus): Promise<EscalationStore> {
    return new EscalationStore(await new Kvm(bus.js).open(bus.names.escalationsBucket));
  }

  async get(ticketId: string): Promise<StoredEscalation | null> {
    const r = await this.#records.get(ticketId);
    return r && { escalation: r.value, revision: r.revision };
  }

  /** Stores the first escalation of a ticket; returns its revision, or null when the ticket has one already. */
  create(e: z.input<typeof Escalation>): Promise<number | null> {
    return this.#records.create(e.ticketId, e);
  }

  /** Writes `e` if its key is still at `revision`; throws ConflictError otherwise. */
  update(e: z.input<typeof Escalation>, revision: number): Promise<number> {
    return this.#records.update(e.ticketId, e, revision);
  }

  async indexThread(message: PostedMessage, ref: ThreadRef): Promise<void> {
    await this.#kv.put(threadKey(message), encode(ThreadRef.parse(ref)));
  }

  async thread(message: PostedMessage): Promise<ThreadRef | null> {
    const e = await this.#kv.get(threadKey(message));
    return e && e.operation === 'PUT' ? ThreadRef.parse(e.json()) : null;
  }
}

/** Key prefixes of the Slack gateway's records in the escalations bucket (permissions derive from them). */
export const SLACK_KEY_PREFIXES = ['esc', 'thread'] as const;

function escKey(ticketId: string): string {
  return `${SLACK_KEY_PREFIXES[0]}.${TicketId.parse(ticketId)}`;
}

function threadKey(m: PostedMessage): string {
  const { channel, ts } = PostedMessage.parse(m);
  return `${SLACK_KEY_PREFIXES[1]}.${channel}.${ts.replace('.', '_')}`;
}

function encode(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}
