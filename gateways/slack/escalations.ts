import type { EscalationStore, Escalation, PostedMessage, StoredEscalation, TicketStore } from '../../bus/index.ts';
import type { Logger, Ticket } from '../../shared/index.ts';
import { createClaimedPost, type RetryPolicy } from '../kit/claimed-post.ts';
import type { EscalationRef, GatewaySettings, SlackApi } from './gateway.ts';
import { escalationMessage, outcomeOf, reminderText, resolvedMessage } from './render.ts';

/** The stores the gateway works on, opened when it starts. */
export interface GatewayStores {
  tickets: TicketStore;
  escalations: EscalationStore;
}

export interface EscalationsDeps {
  slack: SlackApi;
  settings: GatewaySettings;
  log: Logger;
  stores: GatewayStores;
  /** This replica's name in claims and logs. */
  replica: string;
  /** How long a claim to post holds. */
  lease: number;
  /** How soon a failed post is tried again (doubling per failure, bounded). */
  retry: RetryPolicy;
  now: () => number;
  /** Has the ticket looked at again at `at` (epoch ms). */
  wake: (id: string, at: number) => void;
}

/** Clock skew allowed between replicas and Slack when searching for a message posted since a claim. */
const SKEW_MS = 300_000;

/** Which parking an escalation belongs to: what its message carries in its metadata. */
export const refOf = (e: Escalation): EscalationRef => ({ ticketId: e.ticketId, askedAt: e.askedAt });

/**
 * The escalation lifecycle: one message per parking, whatever the number of replicas and restarts.
 * Posting is the shared claim → post → adopt protocol (gateways/kit/claimed-post.ts): a replica claims
 * the escalation in the KV bucket, only the winner posts and records the message; whoever takes over an
 * expired claim first searches the channel for a message carrying the escalation's metadata and adopts
 * it. Resolving updates the message (idempotent) before recording it; a reminder is recorded before it
 * is posted, so a crash loses at most one reminder and never sends one twice.
 */
export function createEscalations({ slack, settings, log, stores, replica, lease, retry, now, wake: wakeAt }: EscalationsDeps) {
  const iso = (ms: number) => new Date(ms).toISOString();
  const searchSince = (e: Escalation) => new Date(Date.parse(e.askedAt) - SKEW_MS);

  /** Looks at the ticket again at `at`; null: nothing is due. */
  function wake(id: string, at: number | null): void {
    if (at !== null) wakeAt(id, at);
  }

  const posting = createClaimedPost<Escalation, PostedMessage>({
    // Read when called: the stores are opened when the gateway starts, after this is created.
    store: { create: (e) => stores.escalations.create(e), update: (e, revision) => stores.escalations.update(e, revision) },
    replica,
    lease,
    retry,
    now,
    wake: wakeAt,
    log,
    texts: {
      takenOver: 'took over an expired claim to post an escalation',
      adopted: 'adopted the escalation message an earlier claimant posted',
      failed: 'posting the escalation failed; will retry',
      posted: 'escalation posted',
    },
    where: (e) => ({ ticketId: e.ticketId, askedAt: e.askedAt, replica }),
    about: (message) => ({ message }),
    find: (e) => slack.findEscalation(settings.channel, searchSince(e), refOf(e)),
    post: (e) => slack.post(settings.channel, escalationMessage(e), { escalation: refOf(e) }),
    posted: async (e, at) => {
      await stores.escalations.indexThread(at, refOf(e));
      return { ...e, state: 'posted', message: at, postedAt: iso(now()), updatedAt: iso(now()) };
    },
    recorded: (e) => wake(e.ticketId, reminderDue(e)),
    lost: attach,
  });

  /** Brings the ticket's escalation in line with the ticket: post, remind, or resolve. Returns the ticket's state. */
  async function reconcile(id: string): Promise<Ticket['state'] | null> {
    const t = (await stores.tickets.get(id))?.ticket;
    if (!t) return null;
    await act(t);
    return t.state;
  }

  async function act(t: Ticket): Promise<void> {
    const id = t.id;
    let cur = await stores.escalations.get(id);
    const parked = t.state === 'awaiting_human' && t.parked ? t.parked : null;
    if (!parked) {
      if (cur && cur.escalation.state !== 'resolved') await resolve(cur, t);
      return;
    }
    if (!cur) return posting.claim(claim(t, parked), null);
    const e = cur.escalation;
    if (e.askedAt !== parked.askedAt) {
      if (Date.parse(e.askedAt) > Date.parse(parked.askedAt)) return;
      // A later parking of the same ticket: finish the earlier escalation, then claim this one.
      if (e.state !== 'resolved') {
        const resolved = await resolve(cur, t);
        if (!resolved) return;
        cur = resolved;
      }
      return posting.claim(claim(t, parked), cur.revision);
    }
    switch (e.state) {
      case 'claimed':
        return posting.resume(e, cur.revision);
      case 'posted':
        return remind(cur);
      case 'resolved':
        return;
    }
  }

  function claim(t: Ticket, parked: NonNullable<Ticket['parked']>): Escalation {
    return {
      ...posting.fresh(),
      ticketId: t.id,
      askedAt: parked.askedAt,
      title: t.title,
      questions: parked.questions,
      deadline: parked.deadline,
      message: null,
      postedAt: null,
      reminders: 0,
      outcome: null,
    };
  }

  /**
   * Our claim was taken over while we posted (we were slower than the lease). Give the record our
   * message if the new claimant found none, so that it is the one updated when the escalation ends.
   */
  async function attach(e: Escalation, at: PostedMessage): Promise<void> {
    const cur = await stores.escalations.get(e.ticketId);
    const other = cur?.escalation;
    if (!cur || !other || other.askedAt !== e.askedAt || other.message) {
      log.warn({ ticketId: e.ticketId, message: at, recorded: other?.message ?? null }, 'lost the claim while posting; this message is not recorded');
      return;
    }
    if (other.state === 'claimed') {
      await stores.escalations.update({ ...other, state: 'posted', message: at, postedAt: iso(now()), updatedAt: iso(now()) }, cur.revision);
      return;
    }
    // Resolved without a message meanwhile: show the outcome on ours too.
    const t = (await stores.tickets.get(e.ticketId))?.ticket;
    if (t) await slack.update(at, resolvedMessage(other, outcomeOf(t, other.askedAt)));
    await stores.escalations.update({ ...other, message: at, updatedAt: iso(now()) }, cur.revision);
  }

  function reminderDue(e: Escalation): number | null {
    if (settings.remindEveryMs <= 0 || e.reminders >= settings.reminders || !e.postedAt || !e.message) return null;
    const at = Date.parse(e.postedAt) + (e.reminders + 1) * settings.remindEveryMs;
    return at < Date.parse(e.deadline) ? at : null;
  }

  async function remind({ escalation: e, revision }: StoredEscalation): Promise<void> {
    const due = reminderDue(e);
    if (due === null) return;
    if (due > now()) {
      wake(e.ticketId, due);
      return;
    }
    const next: Escalation = { ...e, reminders: e.reminders + 1, updatedAt: iso(now()) };
    await stores.escalations.update(next, revision);
    const at = e.message!;
    try {
      await slack.post(at.channel, { text: reminderText(e, next.reminders, settings.reminders) }, { threadTs: at.ts });
      log.info({ ticketId: e.ticketId, reminder: next.reminders }, 'escalation reminder sent');
    } catch (err) {
      log.warn({ err, ticketId: e.ticketId, reminder: next.reminders }, 'escalation reminder not sent');
    }
    wake(e.ticketId, reminderDue(next));
  }

  /**
   * Shows how the escalation ended on its message and records it resolved. Returns the new record, or
   * null when another replica still holds a live claim (it will see the change once it has posted).
   */
  async function resolve({ escalation: e, revision }: StoredEscalation, t: Ticket): Promise<StoredEscalation | null> {
    let at = e.message;
    if (e.state === 'claimed') {
      if (posting.held(e)) return null;
      at = await slack.findEscalation(settings.channel, searchSince(e), refOf(e));
    }
    const outcome = outcomeOf(t, e.askedAt);
    if (at && !(await slack.update(at, resolvedMessage(e, outcome)))) {
      log.warn({ ticketId: e.ticketId, message: at }, 'the escalation message is gone; recording the outcome without it');
    }
    const next: Escalation = { ...e, state: 'resolved', message: at, outcome: outcome.kind, updatedAt: iso(now()) };
    const rev = await stores.escalations.update(next, revision);
    log.info({ ticketId: e.ticketId, askedAt: e.askedAt, outcome: outcome.kind, message: at }, 'escalation resolved');
    return { escalation: next, revision: rev };
  }

  return { reconcile };
}
