import type { MessageOf, TICKET_EVENTS } from '../../bus/index.ts';

/** A decoded event from the events stream (or synthesised from a server advisory). */
export type CoordinatorEvent = MessageOf<typeof TICKET_EVENTS>;
