import { describe, expect, it } from 'vitest';
import { envelope } from './envelope.ts';
import { EVENTS_BY_ORIGIN, refuseEvent } from './events.ts';
import { CancelRequested, HumanAnswered, PrMerged, StageCompleted, TICKET_EVENTS } from './messages/events.ts';
import { createSubjects, EVENT_ORIGINS } from './subjects.ts';

const bus = { subjects: createSubjects('p') };
const ID = 'tk-0123456789';
const result = (stage: 'refining' | 'coding') => ({
  ...envelope(StageCompleted, { ticketId: ID, stage, attempt: 1, outcome: { kind: 'advance' as const, output: {} } }, { source: 'agent', correlationId: ID, causationId: `${ID}.${stage}.1` }),
  type: StageCompleted.type,
});
const answer = { ...envelope(HumanAnswered, { ticketId: ID, text: 'yes', by: 'human:a' }, { source: 'slack', correlationId: ID }), type: HumanAnswered.type };
const cancel = { ...envelope(CancelRequested, { ticketId: ID, by: 'human:a' }, { source: 'cli', correlationId: ID }), type: CancelRequested.type };
const merged = { ...envelope(PrMerged, { ticketId: ID, number: 1, by: 'github:a' }, { source: 'github', correlationId: ID }), type: PrMerged.type };

describe('refuseEvent', () => {
  it('accepts each event from the origin that publishes it', () => {
    expect(refuseEvent(bus, bus.subjects.event(ID, 'refiner', StageCompleted.type), result('refining'))).toBeNull();
    expect(refuseEvent(bus, bus.subjects.event(ID, 'coder', StageCompleted.type), result('coding'))).toBeNull();
    expect(refuseEvent(bus, bus.subjects.event(ID, 'slack', HumanAnswered.type), answer)).toBeNull();
    expect(refuseEvent(bus, bus.subjects.event(ID, 'cli', CancelRequested.type), cancel)).toBeNull();
    expect(refuseEvent(bus, bus.subjects.event(ID, 'github', PrMerged.type), merged)).toBeNull();
  });

  it('refuses a role reporting on another role\'s stage', () => {
    expect(refuseEvent(bus, bus.subjects.event(ID, 'coder', StageCompleted.type), result('refining'))).toMatch(/coder may not report on stage refining/);
  });

  it('refuses an origin publishing a type it may not', () => {
    expect(refuseEvent(bus, bus.subjects.event(ID, 'slack', CancelRequested.type), cancel)).toMatch(/slack may not publish ticket.cancel_requested/);
    expect(refuseEvent(bus, bus.subjects.event(ID, 'coder', HumanAnswered.type), answer)).toMatch(/coder may not publish human.answered/);
    expect(refuseEvent(bus, bus.subjects.event(ID, 'cli', PrMerged.type), merged)).toMatch(/cli may not publish pr.merged/);
  });

  it('refuses a subject that names another ticket, another type, or no origin', () => {
    expect(refuseEvent(bus, bus.subjects.event('tk-abcdefghjk', 'cli', CancelRequested.type), cancel)).toMatch(/published under ticket tk-abcdefghjk/);
    expect(refuseEvent(bus, bus.subjects.event(ID, 'cli', HumanAnswered.type), cancel)).toMatch(/published as human.answered/);
    expect(refuseEvent(bus, `p.events.${ID}.ticket.cancel_requested`, cancel)).toMatch(/unknown origin ticket/);
    expect(refuseEvent(bus, `p.events.${ID}`, cancel)).toMatch(/not an event subject/);
  });

  it('lists every origin and only known event types', () => {
    const types = TICKET_EVENTS.map((d) => d.type) as string[];
    expect(Object.keys(EVENTS_BY_ORIGIN).sort()).toEqual([...EVENT_ORIGINS].sort());
    for (const allowed of Object.values(EVENTS_BY_ORIGIN)) for (const t of allowed) expect(types).toContain(t);
  });
});
