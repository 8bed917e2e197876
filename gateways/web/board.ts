import { z } from 'zod';
import { triageOutcome, type TriageOutcome } from '../../bus/index.ts';
import { State, STATES, type Stage, type Ticket } from '../../shared/index.ts';

/** What the board shows of one ticket; kept in memory for every ticket, so small. */
export interface TicketRow {
  id: string;
  title: string;
  type: Ticket['type'];
  state: State;
  /** The repository: its path or clone URL. */
  repo: string;
  triage: TriageOutcome | undefined;
  /** The stage being worked on, or the one that asked while the ticket waits for a human. */
  stage: Stage | undefined;
  attempt: number | undefined;
  tokens: number;
  /** Questions waiting for a human. */
  questions: number;
  duplicateOf: string | undefined;
  requester: string | undefined;
  createdAt: string;
  updatedAt: string;
  /** Lowercased id, title, requester and labels, for the text filter. */
  search: string;
}

/** The board's row of a ticket. */
export function rowOf(t: Ticket): TicketRow {
  return {
    id: t.id,
    title: t.title,
    type: t.type,
    state: t.state,
    repo: t.repo.path ?? t.repo.url ?? '',
    triage: triageOutcome(t),
    stage: t.work?.stage ?? t.parked?.from,
    attempt: t.work?.attempt,
    tokens: Object.values(t.usage).reduce((n, u) => n + u.totalTokens, 0),
    questions: t.parked?.questions.length ?? 0,
    duplicateOf: t.duplicateOf,
    requester: t.requester,
    createdAt: t.createdAt,
    updatedAt: t.updatedAt,
    search: [t.id, t.title, t.requester ?? '', ...t.labels].join('\u0000').toLowerCase(),
  };
}

/** The board's filters, as query parameters: `?state=coding&state=reviewing&repo=/src/app&q=flag&limit=50`. */
export const BoardFilter = z
  .object({
    state: z.array(State).max(STATES.length).default([]),
    repo: z.string().max(4096).optional(),
    q: z.string().max(200).optional(),
    /** Most tickets shown per state (the newest first); the counts are always whole. */
    limit: z.coerce.number().int().min(1).max(500).default(50),
  })
  .strict();
export type BoardFilter = z.infer<typeof BoardFilter>;

/** One column of the board: a state, how many tickets match in it, and the newest of them. */
export interface BoardColumn {
  state: State;
  total: number;
  rows: TicketRow[];
}

/** Whether a row passes the filter. */
export function matches(row: TicketRow, f: BoardFilter): boolean {
  if (f.state.length > 0 && !f.state.includes(row.state)) return false;
  if (f.repo && row.repo !== f.repo) return false;
  if (f.q && !row.search.includes(f.q.toLowerCase())) return false;
  return true;
}

/** Called with every ticket applied to the index and its new row. */
export type BoardListener = (ticket: Ticket, row: TicketRow) => void;

/**
 * Every ticket's row, kept current by the tickets KV watch (`apply` each ticket it yields), so the
 * board is rendered from memory, never from a full read of the bucket.
 */
export class BoardIndex {
  readonly #rows = new Map<string, TicketRow>();
  readonly #listeners = new Set<BoardListener>();
  #version = 0;

  /** How many records have been applied: a page rendered at one version is stale at another. */
  get version(): number {
    return this.#version;
  }

  /** Takes a ticket as the watch delivered it; an older record than the one held is ignored. */
  apply(t: Ticket): void {
    const prev = this.#rows.get(t.id);
    if (prev && prev.updatedAt > t.updatedAt) return;
    const row = rowOf(t);
    this.#rows.set(t.id, row);
    this.#version += 1;
    for (const l of this.#listeners) l(t, row);
  }

  get size(): number {
    return this.#rows.size;
  }

  get(id: string): TicketRow | undefined {
    return this.#rows.get(id);
  }

  /** The repositories of the indexed tickets, sorted. */
  repos(): string[] {
    return [...new Set([...this.#rows.values()].map((r) => r.repo))].sort();
  }

  /** Ids of the tickets marked duplicates of `id`, oldest first. */
  duplicatesOf(id: string): string[] {
    return [...this.#rows.values()].filter((r) => r.duplicateOf === id).sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0)).map((r) => r.id);
  }

  /** The board under a filter: one column per state in the state machine's order, newest first, at most `limit` rows each. */
  query(f: BoardFilter): BoardColumn[] {
    const byState = new Map<State, TicketRow[]>(STATES.map((s) => [s, []]));
    for (const row of this.#rows.values()) if (matches(row, f)) byState.get(row.state)!.push(row);
    return STATES.filter((s) => f.state.length === 0 || f.state.includes(s)).map((state) => {
      const rows = byState.get(state)!;
      return { state, total: rows.length, rows: newest(rows, f.limit) };
    });
  }

  /** Calls `fn` with every ticket applied from now on; returns the unsubscribe. */
  subscribe(fn: BoardListener): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }
}

/** The `limit` most recently updated rows, newest first. */
function newest(rows: TicketRow[], limit: number): TicketRow[] {
  // Plain code-unit comparison: ISO timestamps and ids sort that way, and localeCompare is far slower.
  return rows.sort((a, b) => (a.updatedAt < b.updatedAt ? 1 : a.updatedAt > b.updatedAt ? -1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).slice(0, limit);
}
