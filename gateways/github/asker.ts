import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { z } from 'zod';
import { IssueAskStore, TicketStore, type Bus, type IssueAsk } from '../../bus/index.ts';
import { gitHubError, type GitHubConnection } from '../../shared/forge/index.ts';
import { ConflictError, describeError, type Logger, type Ticket } from '../../shared/index.ts';
import { createTicketSteps } from '../kit/ticket-steps.ts';
import { askComment, askMarker, issueOfTicket, retryDelay, type IssueRef } from './ask.ts';
import { ApiIssueComment } from './payloads.ts';

export interface IssueAskerSettings {
  /** How often due retries and expired claims are looked at. */
  sweepIntervalMs: number;
  /** First delay before a failed post is tried again; doubles per failure up to `retryMaxMs`. */
  retryMs: number;
  retryMaxMs: number;
  /** How long a replica's claim to post holds before another may take it over. */
  claimLeaseMs?: number;
}

export interface IssueAskerDeps {
  bus: Bus;
  github: GitHubConnection;
  /** Hosts whose repository URLs are GitHub's. */
  hosts: readonly string[];
  settings: IssueAskerSettings;
  log: Logger;
  clock?: () => Date;
  /** This replica's name in claims and logs. */
  replica?: string;
}

export interface IssueAsker {
  /** Follows the tickets: asks each parking of a ticket from a GitHub issue on that issue, once. */
  start(): Promise<void>;
  /** Stops following and finishes the GitHub calls in hand. */
  stop(): Promise<void>;
  /** When each ticket next has something due (a retry, a claim expiring), by ticket id. */
  due(): ReadonlyMap<string, number>;
}

/** Default claim lease: far longer than one post (a paginated search and a create, 30 s per call at most). */
const CLAIM_LEASE_MS = 300_000;
/** Clock skew allowed between nightshift and GitHub when listing the comments since a parking. */
const SKEW_MS = 300_000;

/**
 * Puts a parked ticket's questions on the GitHub issue it came from: one comment per parking (ticket id
 * and `parked.askedAt`), whatever the number of gateway replicas and restarts.
 *
 * Before posting, a replica claims the parking with a KV create (or a compare-and-set update of the
 * ticket's record for a later parking); only the winner posts, then records the comment with
 * compare-and-set. A post that fails is retried by its claimant after a backoff (doubling, bounded),
 * logged each time, for as long as the ticket waits on that parking. An attempt that may have posted
 * before it failed (the answer lost, the replica killed, its claim expired) is followed by one that first
 * searches the issue's comments for the parking's hidden marker and adopts the comment it finds. Once the
 * ticket no longer waits on that parking, nothing more is posted for it.
 */
export function createIssueAsker({
  bus,
  github,
  hosts,
  settings,
  log,
  clock = () => new Date(),
  replica = `${hostname()}-${randomUUID().slice(0, 8)}`,
}: IssueAskerDeps): IssueAsker {
  const lease = settings.claimLeaseMs ?? CLAIM_LEASE_MS;
  const abort = new AbortController();
  const running: Promise<void>[] = [];
  let tickets: TicketStore;
  let asks: IssueAskStore;

  const now = () => clock().getTime();
  const iso = (ms: number) => new Date(ms).toISOString();
  const steps = createTicketSteps({
    step: async (id) => {
      const t = (await tickets.get(id))?.ticket ?? null;
      if (t) await act(t);
      log.debug({ ticketId: id, ticketState: t?.state ?? null, replica }, 'issue question step');
    },
    sweepIntervalMs: settings.sweepIntervalMs,
    retryMs: settings.retryMs,
    signal: abort.signal,
    log,
    what: 'issue question',
    now,
  });
  const wake = steps.wake;

  async function act(t: Ticket): Promise<void> {
    const parked = t.state === 'awaiting_human' && t.parked ? t.parked : null;
    const issue = issueOfTicket(t, hosts);
    // Not waiting (any more) on a person, or not from an issue: nothing is posted, whatever was pending.
    if (!parked || !issue || parked.questions.length === 0) return;
    if (Date.parse(parked.deadline) <= now()) return;
    const cur = await asks.get(t.id);
    if (!cur) {
      const a = claim(t, parked, issue);
      const revision = await asks.create(a);
      if (revision === null) throw new ConflictError(`the issue question of ${t.id} was claimed concurrently`);
      return post(t, a, revision);
    }
    const a = cur.ask;
    if (a.askedAt !== parked.askedAt) {
      // A ticket read older than the record (another replica is ahead): nothing to do for it.
      if (Date.parse(a.askedAt) > Date.parse(parked.askedAt)) return;
      // A later parking of the same ticket: claim it in place of the earlier one.
      const next = claim(t, parked, issue);
      return post(t, next, await asks.update(next, cur.revision));
    }
    if (a.state === 'posted') {
      log.debug({ ticketId: t.id, askedAt: a.askedAt, commentId: a.commentId, replica }, 'issue question already posted');
      return;
    }
    if (Date.parse(a.claimedUntil) > now()) {
      wake(t.id, Date.parse(a.claimedUntil));
      return;
    }
    const next: IssueAsk = { ...a, owner: replica, claimedUntil: iso(now() + lease), claims: a.claims + 1, updatedAt: iso(now()) };
    const revision = await asks.update(next, cur.revision);
    if (a.owner !== replica) log.warn({ ticketId: t.id, previousOwner: a.owner, claims: next.claims }, 'took over an expired claim to ask on the issue');
    return post(t, next, revision);
  }

  function claim(t: Ticket, parked: NonNullable<Ticket['parked']>, issue: IssueRef): IssueAsk {
    return {
      ticketId: t.id,
      askedAt: parked.askedAt,
      issue: { owner: issue.owner, name: issue.name, number: issue.number },
      state: 'claimed',
      owner: replica,
      claimedUntil: iso(now() + lease),
      claims: 1,
      failures: 0,
      lastError: null,
      commentId: null,
      commentUrl: null,
      postedAt: null,
      updatedAt: iso(now()),
    };
  }

  /** Posts the claimed parking's comment (or adopts the one an earlier attempt posted), then records it. */
  async function post(t: Ticket, a: IssueAsk, revision: number): Promise<void> {
    const where = { ticketId: a.ticketId, askedAt: a.askedAt, issue: `${a.issue.owner}/${a.issue.name}#${a.issue.number}`, replica };
    let comment: ApiIssueComment;
    try {
      const found = a.claims > 1 ? await findComment(a) : null;
      if (found) log.info({ ...where, commentId: found.id }, 'adopted the question comment an earlier attempt posted');
      comment = found ?? (await createComment(t, a));
    } catch (err) {
      // Whether or not GitHub took the comment, the next attempt searches for it first (claims > 1).
      const failures = a.failures + 1;
      const retryAt = now() + retryDelay(failures, settings.retryMs, settings.retryMaxMs);
      const e = gitHubError(err, `asking on ${where.issue}`);
      wake(a.ticketId, retryAt);
      log.error({ ...where, err: e, failures, retryAt: iso(retryAt) }, 'posting the question on the issue failed; will retry');
      const failed: IssueAsk = { ...a, claimedUntil: iso(retryAt), failures, lastError: describeError(e).message.slice(0, 1_000), updatedAt: iso(now()) };
      // Unrecorded, the claim still expires (later): this replica or another tries again then.
      await asks.update(failed, revision).catch((e2: unknown) => log.warn({ ...where, err: e2 }, 'could not record the failed attempt'));
      return;
    }
    const posted: IssueAsk = {
      ...a,
      state: 'posted',
      commentId: comment.id,
      commentUrl: comment.html_url && comment.html_url.length <= 2_000 ? comment.html_url : null,
      postedAt: iso(now()),
      updatedAt: iso(now()),
    };
    try {
      await asks.update(posted, revision);
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      // Our claim expired and another replica took it over while we posted: it searches before posting.
      log.warn({ ...where, commentId: comment.id }, 'lost the claim while posting the question; the next claimant adopts this comment');
      return;
    }
    log.info({ ...where, commentId: comment.id, url: posted.commentUrl }, 'question posted on the issue');
  }

  async function createComment(t: Ticket, a: IssueAsk): Promise<ApiIssueComment> {
    const api = await github.octokit(a.issue);
    const body = askComment({ ticketId: t.id, from: t.parked!.from, questions: t.parked!.questions, askedAt: a.askedAt, deadline: t.parked!.deadline });
    const { data } = await api.rest.issues.createComment({ owner: a.issue.owner, repo: a.issue.name, issue_number: a.issue.number, body });
    return ApiIssueComment.parse(data);
  }

  /** The comment of this parking an earlier attempt posted: its marker among the issue's comments since the parking. */
  async function findComment(a: IssueAsk): Promise<ApiIssueComment | null> {
    const api = await github.octokit(a.issue);
    const marker = askMarker(a.ticketId, a.askedAt);
    const since = iso(Date.parse(a.askedAt) - SKEW_MS);
    const where = { owner: a.issue.owner, repo: a.issue.name, issue_number: a.issue.number, since, per_page: 100 };
    for await (const page of api.paginate.iterator(api.rest.issues.listComments, where)) {
      const found = z.array(ApiIssueComment).parse(page.data).find((c) => c.body?.includes(marker));
      if (found) return found;
    }
    return null;
  }

  // ---- loops ----------------------------------------------------------------------------------

  async function watchTickets(): Promise<void> {
    for await (const t of tickets.watch(abort.signal)) {
      // A ticket that parked once is looked at on every change: a pending retry ends when it moves on.
      if (issueOfTicket(t, hosts) && (t.state === 'awaiting_human' || steps.due().has(t.id))) steps.enqueue(t.id);
    }
  }

  return {
    async start() {
      tickets = new TicketStore(await bus.tickets());
      asks = await IssueAskStore.open(bus);
      running.push(watchTickets(), steps.sweep());
      log.info({ replica }, 'github gateway asking parked tickets on their issues');
    },
    async stop() {
      abort.abort();
      await Promise.allSettled(running);
      await steps.drain();
    },
    due: steps.due,
  };
}
