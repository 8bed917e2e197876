import type { KV } from '@nats-io/kv';
import { ConflictError, delay, Ticket } from '../shared/index.ts';
import { CasRecords } from './records.ts';

/** A ticket record with the KV revision it was read at. */
export interface StoredTicket {
  ticket: Ticket;
  revision: number;
}

/** Ticket reads `list` keeps in flight at once. */
const LIST_CONCURRENCY = 32;

/**
 * The tickets KV bucket. Every write is compare-and-set on the revision read, so concurrent writers
 * (several coordinators) never overwrite each other: the loser re-reads and decides again.
 */
export class TicketStore {
  readonly #kv: KV;
  readonly #records: CasRecords<typeof Ticket>;

  constructor(kv: KV) {
    this.#kv = kv;
    this.#records = new CasRecords(kv, Ticket, (id) => id, 'ticket');
  }

  async get(id: string): Promise<StoredTicket | null> {
    const r = await this.#records.get(id);
    return r && { ticket: r.value, revision: r.revision };
  }

  /** Stores a new ticket; returns false when the id exists already. */
  async create(ticket: Ticket): Promise<boolean> {
    return (await this.#records.create(ticket.id, ticket)) !== null;
  }

  /** Writes `ticket` if the key is still at `revision`; throws ConflictError otherwise. */
  update(ticket: Ticket, revision: number): Promise<number> {
    return this.#records.update(ticket.id, ticket, revision);
  }

  /**
   * Reads, decides, writes with compare-and-set, and on conflict starts again (up to `tries`).
   * `decide` returns the next record or null for no change. Returns what was written, or null.
   */
  async mutate(id: string, decide: (t: Ticket) => Ticket | null, tries = 20): Promise<StoredTicket | null> {
    for (let i = 0; ; i++) {
      const cur = await this.get(id);
      if (!cur) return null;
      const next = decide(cur.ticket);
      if (!next) return null;
      try {
        const revision = await this.update(next, cur.revision);
        return { ticket: next, revision };
      } catch (err) {
        if (!(err instanceof ConflictError) || i + 1 >= tries) throw err;
      }
    }
  }

  /** Every ticket, oldest first. Reads up to LIST_CONCURRENCY tickets at a time. */
  async list(): Promise<Ticket[]> {
    const keys: string[] = [];
    for await (const k of await this.#kv.keys()) keys.push(k);
    const tickets: Ticket[] = [];
    for (let i = 0; i < keys.length; i += LIST_CONCURRENCY) {
      const read = await Promise.all(keys.slice(i, i + LIST_CONCURRENCY).map((k) => this.get(k)));
      for (const t of read) if (t) tickets.push(t.ticket);
    }
    return tickets.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  }

  /**
   * Every current ticket, then every change, until `signal` aborts. Restarts the watch if the
   * server drops it, so callers see every change again after a reconnect.
   */
  async *watch(signal: AbortSignal, key?: string): AsyncGenerator<Ticket> {
    while (!signal.aborted) {
      let iter: Awaited<ReturnType<KV['watch']>>;
      try {
        iter = await this.#kv.watch(key === undefined ? {} : { key });
      } catch {
        await delay(500, signal);
        continue;
      }
      // Aborted while the watch was being set up: an abort listener added now would never fire.
      if (signal.aborted) {
        iter.stop();
        break;
      }
      const stop = () => iter.stop();
      signal.addEventListener('abort', stop, { once: true });
      try {
        for await (const e of iter) {
          if (e.operation !== 'PUT') continue;
          const parsed = Ticket.safeParse(e.json());
          if (parsed.success) yield parsed.data;
        }
      } finally {
        signal.removeEventListener('abort', stop);
        iter.stop();
      }
      if (!signal.aborted) await delay(250, signal);
    }
  }
}
