import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { EscalationStore, TicketStore, type Bus, type PostedMessage } from '../../bus/index.ts';
import type { Logger, RepoRef } from '../../shared/index.ts';
import { createTicketSteps } from '../kit/ticket-steps.ts';
import { createAnswers } from './answers.ts';
import { createEscalations, type GatewayStores } from './escalations.ts';
import type { Inbound } from './payloads.ts';
import type { SlackMessage } from './render.ts';
import { createReports } from './reports.ts';

/** Which parking an escalation message belongs to; carried in the message's metadata. */
export interface EscalationRef {
  ticketId: string;
  askedAt: string;
}

/**
 * Slack, as far as the gateway uses it: implemented over the Web API (`slack-api.ts`). Every method
 * throws when Slack refuses or cannot be reached.
 */
export interface SlackApi {
  /** Posts a message (a reply in a thread with `threadTs`, tagged as `escalation` when given). */
  post(channel: string, message: SlackMessage | { text: string }, opts?: { threadTs?: string; escalation?: EscalationRef }): Promise<PostedMessage>;
  /** Replaces a message's content; resolves false when the message is gone (deleted, channel archived). */
  update(at: PostedMessage, message: SlackMessage): Promise<boolean>;
  /** The escalation message for `ref` that this app posted in `channel` since `since`; null when there is none. */
  findEscalation(channel: string, since: Date, ref: EscalationRef): Promise<PostedMessage | null>;
}

export interface GatewaySettings {
  /** The channel id escalations are posted in. */
  channel: string;
  /** Interval of reminders in the thread; 0 for none. */
  remindEveryMs: number;
  /** Most reminders per escalation. */
  reminders: number;
  /** How often due timers (reminders, stale claims, retries) are looked at. */
  sweepIntervalMs: number;
  /** How long a replica's claim to post holds before another may take it over. */
  claimLeaseMs?: number;
  /** How soon a failed Slack call is tried again; a failed post of an escalation doubles it per failure, up to `retryMaxMs`. */
  retryMs?: number;
  retryMaxMs?: number;
  /** The triage channel: a person's new top-level message there is filed as a bug report. */
  triageChannel?: string | undefined;
  /** The repository the triage channel's reports are about (set with `triageChannel`). */
  triageRepo?: RepoRef | undefined;
  /** How long bug intake may take to answer a report. */
  intakeTimeoutMs?: number;
}

export interface GatewayDeps {
  bus: Bus;
  slack: SlackApi;
  settings: GatewaySettings;
  log: Logger;
  clock?: () => Date;
  /** This replica's name in claims and logs. */
  replica?: string;
}

/** What became of one inbound Slack payload. */
export type Handled =
  | { status: 'published'; ticketId: string; id: string; duplicate: boolean }
  | { status: 'reported'; ticketId: string; id: string; duplicate: boolean }
  | { status: 'refused'; code: string; id: string }
  | { status: 'ignored'; reason: string; ticketId?: string };

export interface SlackGateway {
  /** Follows the tickets: posts, reminds and resolves escalations. */
  start(): Promise<void>;
  /** Stops following and finishes the Slack calls in hand. */
  stop(): Promise<void>;
  /**
   * Turns a reply or a button click into the ticket's answer on the bus, and a message in the triage
   * channel into a bug report (answered in its thread). Throws when the bus could not take it, so that
   * Slack may send it again.
   */
  handle(inbound: Inbound): Promise<Handled>;
}

/** Default claim lease: far longer than one bounded post (3 attempts of at most 10 s). */
const CLAIM_LEASE_MS = 300_000;
const RETRY_MS = 30_000;
/** Default bound of the doubling retry delay of a failed post (the claim lease: a failing Slack is tried every 5 minutes at least). */
const RETRY_MAX_MS = 300_000;

/**
 * The Slack gateway's logic, independent of how Slack's requests arrive (Socket Mode or HTTP): the
 * escalation lifecycle (escalations.ts: one message per parking, claimed, posted, reminded, resolved),
 * answers from its threads and buttons (answers.ts), and bug reports from the triage channel
 * (reports.ts). Each ticket's escalation steps run one at a time (gateways/kit/ticket-steps.ts),
 * enqueued by a watch on the tickets and woken by the timers they set.
 */
export function createSlackGateway({
  bus,
  slack,
  settings,
  log,
  clock = () => new Date(),
  replica = `${hostname()}-${randomUUID().slice(0, 8)}`,
}: GatewayDeps): SlackGateway {
  const retryMs = settings.retryMs ?? RETRY_MS;
  const abort = new AbortController();
  const running: Promise<void>[] = [];
  /** Opened by `start`. */
  const stores = {} as GatewayStores;
  /** Thread replies (to reports, to replies not taken) on their way to Slack (not awaited by `handle`: Slack wants a quick ack). */
  const replies = new Set<Promise<void>>();
  const now = () => clock().getTime();

  const escalations = createEscalations({
    slack,
    settings,
    log,
    stores,
    replica,
    lease: settings.claimLeaseMs ?? CLAIM_LEASE_MS,
    retry: { retryMs, retryMaxMs: Math.max(settings.retryMaxMs ?? RETRY_MAX_MS, retryMs) },
    now,
    wake: (id, at) => steps.wake(id, at),
  });
  const steps = createTicketSteps({
    step: async (id) => {
      const state = await escalations.reconcile(id);
      log.debug({ ticketId: id, ticketState: state, replica }, 'escalation step');
    },
    sweepIntervalMs: settings.sweepIntervalMs,
    retryMs,
    signal: abort.signal,
    log,
    what: 'escalation',
    now,
  });

  function track(sent: Promise<void>): void {
    replies.add(sent);
    void sent.finally(() => replies.delete(sent));
  }
  const answers = createAnswers({ bus, slack, log, stores, track });
  const reports = createReports({ bus, slack, settings, log, track });

  async function watchTickets(): Promise<void> {
    for await (const t of stores.tickets.watch(abort.signal)) {
      if (t.state === 'awaiting_human' || t.timeline.some((e) => e.to === 'awaiting_human')) steps.enqueue(t.id);
    }
  }

  return {
    async start() {
      stores.tickets = new TicketStore(await bus.tickets());
      stores.escalations = await EscalationStore.open(bus);
      running.push(watchTickets(), steps.sweep());
      log.info({ channel: settings.channel, triageChannel: settings.triageChannel, replica }, 'slack gateway following tickets');
    },
    async stop() {
      abort.abort();
      await Promise.allSettled(running);
      await steps.drain();
      await Promise.allSettled([...replies]);
    },
    handle: (inbound) => (inbound.kind === 'report' ? reports.report(inbound) : answers.handle(inbound)),
  };
}
