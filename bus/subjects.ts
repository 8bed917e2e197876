import { ROLES, type Role } from '../shared/index.ts';

/** Who publishes a ticket event: an agent role, a gateway, or the CLI (a person). */
export const EVENT_ORIGINS = [...ROLES, 'slack', 'github', 'web', 'cli'] as const;
export type EventOrigin = (typeof EVENT_ORIGINS)[number];

/** Where a refused input came from: the two intakes, or an event the coordinator refused. */
export type RejectedSource = 'tickets' | 'bugs' | 'events';

/**
 * The subject grammar, the only place subject strings are spelled. With prefix `P` (default
 * `nightshift`):
 *
 *   P.tickets.intake                 request/reply (core NATS): post a ticket, get {ok,id,duplicate}
 *   P.bugs.intake                    request/reply (core NATS): post a bug report
 *   P.work.<role>.<ticketId>         stream P_WORK (work queue): one stage attempt for one agent role
 *   P.events.<ticketId>.<origin>.<type>
 *                                    stream P_EVENTS: what happened to a ticket, for the coordinator;
 *                                    <origin> is who says so (an agent role, slack, github, web, cli), so
 *                                    that NATS permissions decide who may say what (bus/permissions.ts)
 *   P.rejected.<source>              stream P_REJECTED: every refused input, kept for audit
 *   P.transcripts.<ticketId>.<role>  stream P_TRANSCRIPTS: every model exchange, for replay
 *   $KV.P-tickets.<ticketId>         a ticket record's writes (the tickets KV bucket's own subject):
 *                                    agents follow their ticket on it with a core subscription
 *
 * Streams, consumers and the KV bucket take their names from the prefix too (see `names`), so two
 * installations with different prefixes share a NATS server without seeing each other.
 */
export interface Subjects {
  readonly prefix: string;
  readonly ticketIntake: string;
  readonly bugIntake: string;
  work(role: Role, ticketId: string): string;
  /** Filter of one role's work: the subject of its durable consumer. */
  workOf(role: Role): string;
  readonly workAll: string;
  event(ticketId: string, origin: EventOrigin, type: string): string;
  /** Filter of every event one origin may publish, for any ticket. */
  eventsFrom(origin: EventOrigin): string;
  readonly eventsAll: string;
  /** Splits an event subject into its tokens; null when it is not one. */
  parseEvent(subject: string): { ticketId: string; origin: string; type: string } | null;
  rejected(source: RejectedSource): string;
  readonly rejectedAll: string;
  transcript(ticketId: string, role: Role): string;
  transcriptsOf(ticketId: string): string;
  /** Filter of every transcript one role writes. */
  transcriptsBy(role: Role): string;
  readonly transcriptsAll: string;
  /** The subject every write of one ticket's record is published on (the tickets bucket's key subject). */
  ticketRecord(ticketId: string): string;
  /** Filter of every ticket record's writes. */
  readonly ticketRecords: string;
  /** The server's advisory when a work item has been delivered max_deliver times. */
  readonly maxDeliveriesAdvisories: string;
}

/** Names of the JetStream objects derived from the prefix. */
export interface Names {
  readonly workStream: string;
  readonly eventsStream: string;
  readonly rejectedStream: string;
  readonly advisoriesStream: string;
  readonly transcriptsStream: string;
  readonly ticketsBucket: string;
  /** Pull requests recorded by the local forge (and mirrored for GitHub). */
  readonly prsBucket: string;
  /**
   * Escalations posted to humans: Slack's (`esc.<ticket>`, one per ticket, and a `thread.` index) and
   * the questions asked on a ticket's GitHub issue (`github.<ticket>`).
   */
  readonly escalationsBucket: string;
  /** Durable consumer of a role's work, shared by all replicas of the role. */
  roleConsumer(role: Role): string;
  /** Durable consumer of the events and advisories streams, shared by all coordinators. */
  readonly coordinatorConsumer: string;
  /** Queue group of the intake responders. */
  readonly intakeQueue: string;
}

const TOKEN = /^[A-Za-z0-9_-]+$/;

function token(value: string, what: string): string {
  if (!TOKEN.test(value)) throw new Error(`${what} "${value}" is not a single subject token`);
  return value;
}

function eventType(type: string): string {
  if (!type.split('.').every((t) => TOKEN.test(t))) throw new Error(`event type "${type}" is not dot-separated subject tokens`);
  return type;
}

export function createSubjects(prefix = 'nightshift'): Subjects {
  const p = token(prefix, 'prefix');
  const names = createNames(p);
  return {
    prefix: p,
    ticketIntake: `${p}.tickets.intake`,
    bugIntake: `${p}.bugs.intake`,
    work: (role, ticketId) => `${p}.work.${token(role, 'role')}.${token(ticketId, 'ticket id')}`,
    workOf: (role) => `${p}.work.${token(role, 'role')}.*`,
    workAll: `${p}.work.>`,
    event: (ticketId, origin, type) => `${p}.events.${token(ticketId, 'ticket id')}.${token(origin, 'origin')}.${eventType(type)}`,
    eventsFrom: (origin) => `${p}.events.*.${token(origin, 'origin')}.>`,
    eventsAll: `${p}.events.>`,
    parseEvent: (subject) => {
      const head = `${p}.events.`;
      if (!subject.startsWith(head)) return null;
      const [ticketId, origin, ...type] = subject.slice(head.length).split('.');
      if (!ticketId || !origin || type.length === 0 || type.some((t) => !TOKEN.test(t))) return null;
      return { ticketId, origin, type: type.join('.') };
    },
    rejected: (source) => `${p}.rejected.${source}`,
    rejectedAll: `${p}.rejected.>`,
    transcript: (ticketId, role) => `${p}.transcripts.${token(ticketId, 'ticket id')}.${token(role, 'role')}`,
    transcriptsOf: (ticketId) => `${p}.transcripts.${token(ticketId, 'ticket id')}.*`,
    transcriptsBy: (role) => `${p}.transcripts.*.${token(role, 'role')}`,
    transcriptsAll: `${p}.transcripts.>`,
    ticketRecord: (ticketId) => `$KV.${names.ticketsBucket}.${token(ticketId, 'ticket id')}`,
    ticketRecords: `$KV.${names.ticketsBucket}.>`,
    maxDeliveriesAdvisories: `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${names.workStream}.*`,
  };
}

export function createNames(prefix = 'nightshift'): Names {
  const p = token(prefix, 'prefix');
  const upper = p.toUpperCase();
  return {
    workStream: `${upper}_WORK`,
    eventsStream: `${upper}_EVENTS`,
    rejectedStream: `${upper}_REJECTED`,
    advisoriesStream: `${upper}_ADVISORIES`,
    transcriptsStream: `${upper}_TRANSCRIPTS`,
    ticketsBucket: `${p}-tickets`,
    prsBucket: `${p}-prs`,
    escalationsBucket: `${p}-escalations`,
    roleConsumer: (role) => token(role, 'role'),
    coordinatorConsumer: 'coordinator',
    intakeQueue: 'coordinator',
  };
}

/** Header names nightshift sets on bus messages. */
export const Headers = {
  /** JetStream de-duplication id. */
  MsgId: 'Nats-Msg-Id',
  /** Why an input was rejected (an intake error code). */
  RejectCode: 'Nightshift-Reject-Code',
  RejectMessage: 'Nightshift-Reject-Message',
  /** Size in bytes of a rejected payload that was stored truncated. */
  OriginalSize: 'Nightshift-Original-Size',
  OriginalSha256: 'Nightshift-Original-Sha256',
  /**
   * W3C trace context (https://www.w3.org/TR/trace-context/) on work items and ticket events, so that a
   * ticket is one trace across processes (bus/trace.ts). The OpenTelemetry propagator writes and reads
   * them under these names.
   */
  TraceParent: 'traceparent',
  TraceState: 'tracestate',
} as const;
