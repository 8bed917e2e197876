import { Kvm, type KV } from '@nats-io/kv';
import { z } from 'zod';
import { ConflictError, TicketId } from '../shared/index.ts';
import type { Bus } from './connection.ts';
import { isWrongLastSequence } from './tickets.ts';

/**
 * One parking of a ticket asked on its GitHub issue: `claimed` (a gateway replica won the right to
 * post, until `claimedUntil`) → `posted` (the comment exists). Kept under `github.<ticketId>` in the
 * escalations bucket, beside the Slack gateway's `esc.` and `thread.` keys: one record per ticket, its
 * current (or last) parking.
 */
export const IssueAsk = z.object({
  ticketId: TicketId,
  askedAt: z.iso.datetime(),
  issue: z.object({ owner: z.string().min(1), name: z.string().min(1), number: z.number().int().positive() }),
  state: z.enum(['claimed', 'posted']),
  /** The replica holding the claim; past `claimedUntil` another may take it over. */
  owner: z.string().min(1).max(200),
  claimedUntil: z.iso.datetime(),
  /** Claims made so far: above 1, an earlier attempt may have posted the comment (its answer lost). */
  claims: z.number().int().positive(),
  /** Failed attempts to post, and the last failure, for whoever looks. */
  failures: z.number().int().nonnegative(),
  lastError: z.string().max(1_000).nullable(),
  commentId: z.number().int().positive().nullable(),
  commentUrl: z.string().max(2_000).nullable(),
  postedAt: z.iso.datetime().nullable(),
  updatedAt: z.iso.datetime(),
});
export type IssueAsk = z.infer<typeof IssueAsk>;

interface StoredAsk {
  ask: IssueAsk;
  revision: number;
}

/** The `github.<ticketId>` records, written with compare-and-set on their revision like tickets. */
export class IssueAskStore {
  readonly #kv: KV;
  constructor(kv: KV) {
    this.#kv = kv;
  }
  static async open(bus: Bus): Promise<IssueAskStore> {
    return new IssueAskStore(await new Kvm(bus.js).open(bus.names.escalationsBucket));
  }
  async get(ticketId: string): Promise<StoredAsk | null> {
    const e = await this.#kv.get(key(ticketId));
    if (!e || e.operation !== 'PUT') return null;
    return { ask: IssueAsk.parse(e.json()), revision: e.revision };
  }
  /** Stores the first ask of a ticket; null when another replica stored one first. */
  async create(a: IssueAsk): Promise<number | null> {
    try {
      return await this.#kv.create(key(a.ticketId), encode(IssueAsk.parse(a)));
    } catch (err) {
      if (isWrongLastSequence(err)) return null;
      throw err;
    }
  }
  /** Writes `a` if its key is still at `revision`; throws ConflictError otherwise. */
  async update(a: IssueAsk, revision: number): Promise<number> {
    try {
      return await this.#kv.update(key(a.ticketId), encode(IssueAsk.parse(a)), revision);
    } catch (err) {
      if (isWrongLastSequence(err)) throw new ConflictError(`the issue question of ${a.ticketId} changed since revision ${revision}`);
      throw err;
    }
  }
}

const key = (ticketId: string) => `github.${TicketId.parse(ticketId)}`;
const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
