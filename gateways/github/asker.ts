import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { z } from 'zod';
import { IssueAskStore, TicketStore, type Bus, type IssueAsk } from '../../bus/index.ts';
import { gitHubError, type GitHubConnection } from '../../shared/forge/index.ts';
import type { Logger, Ticket } from '../../shared/index.ts';
import { createClaimedPost } from '../kit/claimed-post.ts';
import { createTicketSteps } from '../kit/ticket-steps.ts';
import { askComment, askMarker, issueOfTicket, type IssueRef } from './ask.ts';
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
 * Posting is the shared claim → post → adopt protocol (gateways/kit/claimed-post.ts): a replica claims
 * the parking in the KV bucket, only the winner posts and records the comment; a post that fails is
 * retried by its claimant after a backoff (doubling, bounded), logged each time, for as long as the
 * ticket waits on that parking. An attempt that may have posted before it failed (the answer lost, the
 * replica killed, its claim expired) is followed by one that first searches the issue's comments for the
 * parking's hidden marker and adopts the comment it finds. Once the ticket no longer waits on that
 * parking, nothing more is posted for it.
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

  const posting = createClaimedPost<IssueAsk, ApiIssueComment, Ticket>({
    // Read when called: the store is opened by `start`.
    store: { create: (a) => asks.create(a), update: (a, revision) => asks.update(a, revision) },
    replica,
    lease,
    retry: settings,
    now,
    wake,
    log,
    texts: {
      takenOver: 'took over an expired claim to ask on the issue',
      adopted: 'adopted the question comment an earlier attempt posted',
      failed: 'posting the question on the issue failed; will retry',
      posted: 'question posted on the issue',
    },
    where: (a) => ({ ticketId: a.ticketId, askedAt: a.askedAt, issue: issueName(a), replica }),
    about: (c) => ({ commentId: c.id, url: c.html_url ?? null }),
    find: findComment,
    post: createComment,
    posted: async (a, comment) => ({
      ...a,
      state: 'posted',
      commentId: comment.id,
      commentUrl: comment.html_url && comment.html_url.length <= 2_000 ? comment.html_url : null,
      postedAt: iso(now()),
      updatedAt: iso(now()),
    }),
    // Our claim expired and another replica took it over while we posted: it searches before posting.
    lost: async (a, comment) => {
      log.warn({ ticketId: a.ticketId, askedAt: a.askedAt, issue: issueName(a), replica, commentId: comment.id }, 'lost the claim while posting the question; the next claimant adopts this comment');
    },
    failure: (err, a) => gitHubError(err, `asking on ${issueName(a)}`),
  });

  async function act(t: Ticket): Promise<void> {
    const parked = t.state === 'awaiting_human' && t.parked ? t.parked : null;
    const issue = issueOfTicket(t, hosts);
    // Not waiting (any more) on a person, or not from an issue: nothing is posted, whatever was pending.
    if (!parked || !issue || parked.questions.length === 0) return;
    if (Date.parse(parked.deadline) <= now()) return;
    const cur = await asks.get(t.id);
    if (!cur) return posting.claim(claim(t, parked, issue), null, t);
    const a = cur.ask;
    if (a.askedAt !== parked.askedAt) {
      // A ticket read older than the record (another replica is ahead): nothing to do for it.
      if (Date.parse(a.askedAt) > Date.parse(parked.askedAt)) return;
      // A later parking of the same ticket: claim it in place of the earlier one.
      return posting.claim(claim(t, parked, issue), cur.revision, t);
    }
    if (a.state === 'posted') {
      log.debug({ ticketId: t.id, askedAt: a.askedAt, commentId: a.commentId, replica }, 'issue question already posted');
      return;
    }
    return posting.resume(a, cur.revision, t);
  }

  function claim(t: Ticket, parked: NonNullable<Ticket['parked']>, issue: IssueRef): IssueAsk {
    return {
      ...posting.fresh(),
      ticketId: t.id,
      askedAt: parked.askedAt,
      issue: { owner: issue.owner, name: issue.name, number: issue.number },
      commentId: null,
      commentUrl: null,
      postedAt: null,
    };
  }

  async function createComment(a: IssueAsk, t: Ticket): Promise<ApiIssueComment> {
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

  /** `owner/name#number`, the issue of a record in logs and errors. */
  function issueName(a: IssueAsk): string {
    return `${a.issue.owner}/${a.issue.name}#${a.issue.number}`;
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
