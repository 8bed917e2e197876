import { ConflictError, describeError, type Logger } from '../../shared/index.ts';

/**
 * One message per parking of a ticket (a Slack escalation, a question on a GitHub issue), whatever the
 * number of gateway replicas and restarts: claim, post, adopt on retry.
 *
 * Before posting, a replica claims the parking with a KV create (or a compare-and-set update of the
 * ticket's record for a later parking); only the winner posts, then records the message with
 * compare-and-set. A claim holds until `claimedUntil`; past it, another replica (or the same one, after
 * a failure) takes it over and counts one more claim. An attempt that may follow one that posted (claims
 * above 1: the answer lost, the replica killed, its claim expired) first searches for the message and
 * adopts the one it finds; it posts only when there is none. A post that fails is retried by its
 * claimant after a backoff, doubling per failure and bounded (`retryDelay`). A claimant whose claim was
 * taken over while it posted hands its message to the gateway (`lost`).
 */

/** The fields every claimed record has, whatever else the gateway keeps in it. */
export interface Claim {
  ticketId: string;
  /** The parking the message is for. */
  askedAt: string;
  /** `claimed` until the message is recorded; the gateway's own states after. */
  state: string;
  /** The replica holding the claim; past `claimedUntil` another may take it over. */
  owner: string;
  claimedUntil: string;
  /** Claims made so far: above 1, an earlier claimant may have posted the message. */
  claims: number;
  /** Failed attempts to post, and the last failure, for the backoff and for whoever looks. */
  failures: number;
  lastError: string | null;
  updatedAt: string;
}

/** Where the claimed records are kept: created once per ticket, then updated with compare-and-set. */
export interface ClaimStore<R> {
  /** Stores the ticket's first record; its revision, or null when another replica stored one first. */
  create(r: R): Promise<number | null>;
  /** Writes `r` if the record is still at `revision`; throws ConflictError otherwise. */
  update(r: R, revision: number): Promise<number>;
}

/** How soon a failed post is tried again: `retryMs`, doubling per failure, at most `retryMaxMs`. */
export interface RetryPolicy {
  retryMs: number;
  retryMaxMs: number;
}

/** The delay before the `failures`-th retry of a failed post: `base`, doubling per failure, at most `max`. */
export function retryDelay(failures: number, base: number, max: number): number {
  const n = Math.max(1, Math.min(failures, 30));
  return Math.min(max, base * 2 ** (n - 1));
}

/** What the gateway logs at each step of the protocol (the messages its operators and tests look for). */
export interface ClaimedPostTexts {
  takenOver: string;
  adopted: string;
  failed: string;
  posted: string;
}

/** `R` the record, `M` the message, `C` what else posting needs that the record does not keep (the ticket). */
export interface ClaimedPostOptions<R extends Claim, M, C = void> {
  store: ClaimStore<R>;
  /** This replica's name in claims and logs. */
  replica: string;
  /** How long a claim to post holds. */
  lease: number;
  retry: RetryPolicy;
  now: () => number;
  /** Has the ticket looked at again at `at` (epoch ms). */
  wake: (id: string, at: number) => void;
  log: Logger;
  texts: ClaimedPostTexts;
  /** The fields that name a record in logs. */
  where: (r: R) => Record<string, unknown>;
  /** The fields that name a message in logs. */
  about: (m: M) => Record<string, unknown>;
  /** The message an earlier claimant of this parking posted, if any. */
  find: (r: R) => Promise<M | null>;
  /** Posts the message. */
  post: (r: R, c: C) => Promise<M>;
  /** The record once `m` is its message (the gateway may first do what the message needs, e.g. index it). */
  posted: (r: R, m: M) => Promise<R>;
  /** After the posted record is stored: what follows it (reminders). */
  recorded?: (r: R) => void;
  /** Another replica took our claim over while we posted `m`: what becomes of it. */
  lost: (r: R, m: M) => Promise<void>;
  /** The error a failed post is logged and recorded as (a gateway's typed error for its API's). */
  failure?: (err: unknown, r: R) => unknown;
}

/** The context argument: none when posting needs nothing beyond the record. */
type Context<C> = [C] extends [void] ? [] : [c: C];

export interface ClaimedPost<R extends Claim, C = void> {
  /** The claim fields of a fresh claim by this replica, to build a parking's first record with. */
  fresh(): Pick<Claim, 'owner' | 'claimedUntil' | 'claims' | 'failures' | 'lastError' | 'updatedAt'> & { state: 'claimed' };
  /**
   * Claims a parking with the record `r` (built from `fresh()`) and posts its message: a create when the
   * ticket has no record (`revision` null; ConflictError when another replica created one first), else a
   * compare-and-set over the ticket's record at `revision`.
   */
  claim(r: R, revision: number | null, ...c: Context<C>): Promise<void>;
  /** A `claimed` record: waits for a live claim (wakes the ticket when it ends), or takes an expired one over and posts. */
  resume(r: R, revision: number, ...c: Context<C>): Promise<void>;
  /** Whether `r`'s claim is still live; if so the ticket is woken when it ends. */
  held(r: R): boolean;
}

export function createClaimedPost<R extends Claim, M, C = void>(o: ClaimedPostOptions<R, M, C>): ClaimedPost<R, C> {
  const { store, replica, lease, retry, now, wake, log, texts } = o;
  const iso = (ms: number) => new Date(ms).toISOString();

  function held(r: R): boolean {
    const until = Date.parse(r.claimedUntil);
    if (until <= now()) return false;
    wake(r.ticketId, until);
    return true;
  }

  async function claim(r: R, revision: number | null, ...ctx: Context<C>): Promise<void> {
    const c = ctx[0] as C;
    if (revision === null) {
      const created = await store.create(r);
      if (created === null) throw new ConflictError(`the record of ${r.ticketId} was claimed concurrently`);
      return post(r, created, c);
    }
    return post(r, await store.update(r, revision), c);
  }

  async function resume(r: R, revision: number, ...ctx: Context<C>): Promise<void> {
    const c = ctx[0] as C;
    if (held(r)) return;
    const next: R = { ...r, owner: replica, claimedUntil: iso(now() + lease), claims: r.claims + 1, updatedAt: iso(now()) };
    const rev = await store.update(next, revision);
    if (r.owner !== replica) log.warn({ ...o.where(next), previousOwner: r.owner, claims: next.claims }, texts.takenOver);
    return post(next, rev, c);
  }

  /** Posts the claimed record's message (or adopts the one an earlier claimant posted), then records it. */
  async function post(r: R, revision: number, c: C): Promise<void> {
    const where = o.where(r);
    let m: M;
    try {
      const found = r.claims > 1 ? await o.find(r) : null;
      if (found !== null) log.info({ ...where, ...o.about(found) }, texts.adopted);
      m = found ?? (await o.post(r, c));
    } catch (err) {
      // Whether or not the message went out, the next attempt searches for it first (claims > 1).
      const failures = r.failures + 1;
      const retryAt = now() + retryDelay(failures, retry.retryMs, retry.retryMaxMs);
      const e = o.failure ? o.failure(err, r) : err;
      wake(r.ticketId, retryAt);
      log.error({ ...where, err: e, failures, retryAt: iso(retryAt) }, texts.failed);
      const failed: R = { ...r, claimedUntil: iso(retryAt), failures, lastError: describeError(e).message.slice(0, 1_000), updatedAt: iso(now()) };
      // Unrecorded, the claim still expires (later): this replica or another tries again then.
      await store.update(failed, revision).catch((e2: unknown) => log.warn({ ...where, err: e2 }, 'could not record the failed attempt'));
      return;
    }
    const posted = await o.posted(r, m);
    try {
      await store.update(posted, revision);
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      return o.lost(r, m);
    }
    log.info({ ...where, ...o.about(m) }, texts.posted);
    o.recorded?.(posted);
  }

  return {
    fresh: () => ({ state: 'claimed', owner: replica, claimedUntil: iso(now() + lease), claims: 1, failures: 0, lastError: null, updatedAt: iso(now()) }),
    claim,
    resume,
    held,
  };
}
