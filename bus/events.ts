import type { PubAck } from '@nats-io/jetstream';
import { ROLE_OF_STAGE } from '../shared/index.ts';
import type { Bus } from './connection.ts';
import { encodeEnvelope, type Envelope, type MessageOf } from './envelope.ts';
import {
  CancelRequested,
  HumanAnswered,
  PrChangesRequested,
  PrClosed,
  PrMerged,
  StageCompleted,
  StageFailed,
  StageStarted,
  StageUsage,
  type TICKET_EVENTS,
} from './messages/events.ts';
import type { EventOrigin } from './subjects.ts';
import { traceHeaders } from './trace.ts';

const STAGE_RESULTS = [StageStarted.type, StageCompleted.type, StageFailed.type, StageUsage.type] as const;

/**
 * The event types each origin may publish. NATS permissions (bus/permissions.ts) let a process
 * publish events under its own origin only; the coordinator checks the type against this table, and
 * a stage result against the role of its stage, so that one process kind cannot speak for another.
 */
export const EVENTS_BY_ORIGIN: Readonly<Record<EventOrigin, readonly string[]>> = {
  refiner: STAGE_RESULTS,
  'test-author': STAGE_RESULTS,
  coder: STAGE_RESULTS,
  reviewer: STAGE_RESULTS,
  triager: STAGE_RESULTS,
  slack: [HumanAnswered.type],
  github: [HumanAnswered.type, PrChangesRequested.type, PrMerged.type, PrClosed.type],
  web: [HumanAnswered.type, CancelRequested.type],
  cli: [HumanAnswered.type, CancelRequested.type],
};

/**
 * Publishes a ticket event under the publisher's origin, de-duplicated by the event's id, with the
 * active span's trace context in its headers when the process traces.
 */
export async function publishEvent(bus: Bus, origin: EventOrigin, ticketId: string, ev: Envelope): Promise<PubAck> {
  const headers = traceHeaders();
  return bus.js.publish(bus.subjects.event(ticketId, origin, ev.type), encodeEnvelope(ev), { msgID: ev.id, ...(headers && { headers }) });
}

/**
 * Why an event that arrived on `subject` may not be applied, or null when it may: its subject must
 * name the ticket it is about, an origin, and its own type, and the origin must be one that may
 * publish it.
 */
export function refuseEvent(bus: Pick<Bus, 'subjects'>, subject: string, ev: MessageOf<typeof TICKET_EVENTS>): string | null {
  const parsed = bus.subjects.parseEvent(subject);
  if (!parsed) return `subject ${subject} is not an event subject`;
  if (parsed.ticketId !== ev.data.ticketId) return `event for ticket ${ev.data.ticketId} published under ticket ${parsed.ticketId}`;
  const allowed = (EVENTS_BY_ORIGIN as Record<string, readonly string[] | undefined>)[parsed.origin];
  if (!allowed) return `unknown origin ${parsed.origin}`;
  if (parsed.type !== ev.type) return `event of type ${ev.type} published as ${parsed.type}`;
  if (!allowed.includes(ev.type)) return `${parsed.origin} may not publish ${ev.type}`;
  if ('stage' in ev.data && (STAGE_RESULTS as readonly string[]).includes(ev.type) && ROLE_OF_STAGE[ev.data.stage] !== parsed.origin) {
    return `${parsed.origin} may not report on stage ${ev.data.stage}`;
  }
  return null;
}
