import { Kvm, type KV } from '@nats-io/kv';
import { z } from 'zod';
import { TicketId } from '../shared/index.ts';
import type { Bus } from './connection.ts';
import { CasRecords } from './records.ts';

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

/** Key prefix of the GitHub gateway's records in the escalations bucket (permissions derive from it). */
export const ISSUE_ASK_KEY_PREFIX = 'github';

/** The `github.<ticketId>` records, written with compare-and-set on their revision like tickets. */
export class IssueAskStore {
  readonly #records: CasRecords<typeof IssueAsk>;

  constructor(kv: KV) {
    this.#records = new CasRecords(kv, IssueAsk, (ticketId) => `${ISSUE_ASK_KEY_PREFIX}.${TicketId.parse(ticketId)}`, 'the issue question of ticket');
  }

  static async open(bus: Bus): Promise<IssueAskStore> {
    return new IssueAskStore(await new Kvm(bus.js).open(bus.names.escalationsBucket));
  }

  async get(ticketId: string): Promise<StoredAsk | null> {
    const r = await this.#records.get(ticketId);
    return r && { ask: r.value, revision: r.revision };
  }

  /** Stores the first ask of a ticket; null when another replica stored one first. */
  create(a: IssueAsk): Promise<number | null> {
    return this.#records.create(a.ticketId, a);
  }

  /** Writes `a` if its key is still at `revision`; throws ConflictError otherwise. */
  update(a: IssueAsk, revision: number): Promise<number> {
    return this.#records.update(a.ticketId, a, revision);
  }
}
