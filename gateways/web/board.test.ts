import { describe, expect, it } from 'vitest';
import { newTicket } from '../../agents/coordinator/reducer.ts';
import type { Ticket } from '../../shared/index.ts';
import { BoardFilter, BoardIndex } from './board.ts';

function ticket(i: number, patch: Partial<Ticket> = {}): Ticket {
  const t = newTicket(`tk-${String(i).padStart(10, '0')}`, { title: `Ticket ${i}`, body: '', repo: { path: `/src/r${i % 2}` }, type: 'feature', labels: ['cli'] }, new Date(Date.UTC(2026, 0, 1, 0, i)), 'test');
  return { ...t, ...patch };
}

describe('the board index', () => {
  it('keeps one row per ticket, the newest record winning, and tells its listeners', () => {
    const index = new BoardIndex();
    const seen: string[] = [];
    const stop = index.subscribe((t, row) => seen.push(`${t.id}:${row.state}`));
    const t = ticket(1);
    index.apply({ ...t, state: 'coding', updatedAt: '2026-01-01T01:00:00.000Z' });
    index.apply({ ...t, state: 'refining', updatedAt: '2026-01-01T00:30:00.000Z' });
    expect(index.size).toBe(1);
    expect(index.get(t.id)?.state).toBe('coding');
    stop();
    index.apply({ ...t, state: 'reviewing', updatedAt: '2026-01-01T02:00:00.000Z' });
    expect(seen).toEqual([`${t.id}:coding`]);
  });

  it('groups by state, newest first, at most `limit` per column with whole counts, and filters by state, repository and text', () => {
    const index = new BoardIndex();
    for (let i = 0; i < 30; i++) index.apply(ticket(i, { state: i % 3 === 0 ? 'done' : 'coding', updatedAt: new Date(Date.UTC(2026, 0, 2, 0, i)).toISOString() }));
    const all = index.query(BoardFilter.parse({ limit: 5 }));
    const coding = all.find((c) => c.state === 'coding')!;
    expect(coding.total).toBe(20);
    expect(coding.rows.map((r) => r.id)).toEqual([29, 28, 26, 25, 23].map((i) => `tk-${String(i).padStart(10, '0')}`));
    expect(all.map((c) => c.state)).toHaveLength(12);
    const some = index.query(BoardFilter.parse({ state: ['done'], repo: '/src/r1', q: 'TICKET 2' }));
    expect(some.map((c) => [c.state, c.rows.map((r) => r.title)])).toEqual([['done', ['Ticket 27', 'Ticket 21']]]);
    expect(BoardFilter.safeParse({ state: ['asleep'] }).success).toBe(false);
  });

  it('links duplicates to their original', () => {
    const index = new BoardIndex();
    index.apply(ticket(1));
    index.apply(ticket(3, { state: 'duplicate', duplicateOf: ticket(1).id }));
    index.apply(ticket(2, { state: 'duplicate', duplicateOf: ticket(1).id }));
    expect(index.duplicatesOf(ticket(1).id)).toEqual([ticket(2).id, ticket(3).id]);
    expect(index.get(ticket(3).id)?.triage).toBe('duplicate');
  });
});
