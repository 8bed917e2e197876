import { describe, expect, it } from 'vitest';
import { IntakeRequest, type Ticket } from '../../shared/index.ts';
import { newTicket } from '../coordinator/reducer.ts';
import { movedOn, type FencedWork } from './fence.ts';

const ID = 'tk-0123456789';
const T0 = Date.parse('2030-01-01T00:00:00.000Z');
const iso = (ms: number) => new Date(T0 + ms).toISOString();
const base = newTicket(ID, IntakeRequest.parse({ title: 't', body: 'b', repo: { path: '/r' } }), new Date(T0), 'intake:test');

/** A ticket at `dispatchId` of refining attempt `attempt`, last changed at `updated` (ms after T0). */
function at(state: Ticket['state'], dispatchId: string | null, updated: number, attempt = 1): Ticket {
  const work = dispatchId === null ? null : { stage: 'refining' as const, attempt, dispatchId, dispatchedAt: iso(updated), deadline: iso(updated + 60_000) };
  return { ...base, state, work, updatedAt: iso(updated) };
}

const item: FencedWork = { dispatchId: `${ID}.refining.1`, ticketId: ID, stage: 'refining', attempt: 1, publishedAt: iso(10) };

describe('movedOn', () => {
  it('lets the current dispatch run', () => {
    expect(movedOn(at('refining', `${ID}.refining.1`, 5), item)).toBeNull();
  });

  it.each(['cancelled', 'done', 'failed', 'duplicate'] as const)('fences off work of a %s ticket, however old the record looks', (state) => {
    expect(movedOn(at(state, null, 5), item)).toBe(`the ticket is ${state}`);
  });

  it('fences off an attempt the ticket has replaced, and work of a parked ticket', () => {
    expect(movedOn(at('refining', `${ID}.refining.2`, 20, 2), item)).toBe(`the ticket moved on to ${ID}.refining.2`);
    expect(movedOn(at('awaiting_human', null, 20), item)).toBe('the ticket is awaiting_human, not refining');
    expect(movedOn(at('writing_tests', `${ID}.writing_tests.1`, 20), item)).toBe('the ticket is writing_tests, not refining');
  });

  it('takes a record older than the item for a lagging read, not for a ticket that moved on', () => {
    // Read from a replica that has not seen the dispatch yet: the record predates the item.
    expect(movedOn(at('received', null, 0), item)).toBeNull();
    expect(movedOn(at('refining', `${ID}.refining.0`, 5), item)).toBeNull();
  });

  it('fences off work of a ticket that does not exist', () => {
    expect(movedOn(null, item)).toBe('the ticket does not exist');
  });
});
