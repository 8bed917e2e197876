import type { KV, KvEntry } from '@nats-io/kv';
import { ConflictError, delay, Ticket, TicketHead } from '../shared/index.ts';
import type { Bus } from './connection.ts';
import { isWrongLastSequence } from './records.ts';

/** A ticket record with the KV revision it was read at. */
export interface StoredTicket {
  ticket: Ticket;
  revision: number;
}

/** Ticket reads `list` keeps in flight at once. */
const LIST_CONCURRENCY = 32;
/** Parsed tickets a store keeps, by key, each at the revision it was parsed at. */
const PARSED_MEMORY = 4_096;

/**
 * The tickets KV bucket. Every write is compare-and-set on the revision read, so concurrent writers
 * (several coordinators) never overwrite each other: the loser re-reads and decides again.
 *
 * Every ticket is validated with its schema before it is written, and once per revision when it is
 * read: a record read again at a revision this store parsed (or wrote) already is not parsed again.
 * Tickets returned are shared between readers of the same revision: treat them as read-only (the
 * reducer never changes a ticket in place).
 */
export class TicketStore {
  readonly #kv: KV;
  readonly #parsed = new Map<string, StoredTicket>();
  /** Writes on their way, by key: a watch can deliver one before the server has answered the write. */
  readonly #writing = new Map<string, { bytes: Uint8Array; ticket: Ticket }>();

  constructor(kv: KV) {
    this.#kv = kv;
  }

  async get(id: string): Promise<StoredTicket | null> {
    const e = await this.#kv.get(id);
    if (!e || e.operation !== 'PUT') return null;
    return this.#parse(e.key, e.revision, () => Ticket.parse(e.json()));
  }

  /**
   * The ticket's head (TicketHead): the record checked on the fields its state and current work are
   * made of, not the whole of it. A revision this store parsed whole is not parsed again.
   */
  async getHead(id: string): Promise<TicketHead | null> {
    const e = await this.#kv.get(id);
    if (!e || e.operation !== 'PUT') return null;
    const known = this.#parsed.get(id);
    if (known?.revision === e.revision) return known.ticket;
    return TicketHead.parse(e.json());
  }

  /** Stores a new ticket; returns false when the id exists already. */
  async create(ticket: Ticket): Promise<boolean> {
    const valid = Ticket.parse(ticket);
    const bytes = this.#announce(valid);
    try {
      this.#remember(valid.id, { ticket: valid, revision: await this.#kv.create(valid.id, bytes) });
      return true;
    } catch (err) {
      if (isWrongLastSequence(err)) return false;
      throw err;
    } finally {
      this.#settled(valid.id, bytes);
    }
  }

  /** Writes `ticket` if the key is still at `revision`; throws ConflictError otherwise. */
  async update(ticket: Ticket, revision: number): Promise<number> {
    const valid = Ticket.parse(ticket);
    const bytes = this.#announce(valid);
    try {
      const written = await this.#kv.update(valid.id, bytes, revision);
      this.#remember(valid.id, { ticket: valid, revision: written });
      return written;
    } catch (err) {
      if (isWrongLastSequence(err)) throw new ConflictError(`ticket ${valid.id} changed since revision ${revision}`);
      throw err;
    } finally {
      this.#settled(valid.id, bytes);
    }
  }

  /** Encodes a validated ticket about to be written, and notes it as on its way. */
  #announce(valid: Ticket): Uint8Array {
    const bytes = new TextEncoder().encode(JSON.stringify(valid));
    this.#writing.set(valid.id, { bytes, ticket: valid });
    return bytes;
  }

  #settled(key: string, bytes: Uint8Array): void {
    if (this.#writing.get(key)?.bytes === bytes) this.#writing.delete(key);
  }

  /**
   * The ticket under `key` at `revision`: parsed before, written by this store (`bytes`, from a watch,
   * are exactly those of a write on its way), or parsed now (`parse` throws when invalid).
   */
  #parse(key: string, revision: number, parse: () => Ticket, bytes?: Uint8Array): StoredTicket {
    const known = this.#parsed.get(key);
    if (known?.revision === revision) return known;
    const mine = bytes && this.#writing.get(key);
    const stored = { ticket: mine && sameBytes(mine.bytes, bytes) ? mine.ticket : parse(), revision };
    this.#remember(key, stored);
    return stored;
  }

  #remember(key: string, stored: StoredTicket): void {
    const known = this.#parsed.get(key);
    // An older revision never replaces a newer one (a watch can deliver after a write landed).
    if (known && known.revision > stored.revision) return;
    this.#parsed.delete(key);
    this.#parsed.set(key, stored);
    if (this.#parsed.size > PARSED_MEMORY) this.#parsed.delete(this.#parsed.keys().next().value!);
  }

  /**
   * Reads, decides, writes with compare-and-set, and on conflict starts again (up to `tries`).
   * `decide` returns the next record or null for no change. Returns what was written, or null.
   *
   * The first decision is taken on the latest revision this store knows of the ticket (its own last
   * write, or the last one a watch through it delivered), without a read: when another writer changed
   * it since, the write fails its compare-and-set and the decision is taken again on a fresh read. A
   * decision of "no change" is only trusted on a fresh read. `decide` may thus run more than once: it
   * must be pure.
   */
  async mutate(id: string, decide: (t: Ticket) => Ticket | null, tries = 20): Promise<StoredTicket | null> {
    let cur: StoredTicket | null | undefined = this.#parsed.get(id);
    let fresh = false;
    for (let i = 0; ; ) {
      if (!cur) {
        cur = await this.get(id);
        fresh = true;
        if (!cur) return null;
      }
      const next = decide(cur.ticket);
      if (!next) {
        if (fresh) return null;
        cur = undefined;
        continue;
      }
      try {
        const revision = await this.update(next, cur.revision);
        return { ticket: next, revision };
      } catch (err) {
        if (!(err instanceof ConflictError) || ++i >= tries) throw err;
        cur = undefined;
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
    for await (const e of this.#entries(signal, key)) {
      let t: StoredTicket;
      try {
        t = this.#parse(e.key, e.revision, () => Ticket.parse(e.json()), e.value);
      } catch {
        continue;
      }
      yield t.ticket;
    }
  }

  /**
   * Like `watch`, every ticket's head only (TicketHead): what a watcher of every ticket keeps timers
   * and counts by, validated without the rest of the record. A write of this store yields the ticket
   * it wrote; a record whose head does not parse is skipped. Nothing is remembered: a write by another
   * process is read in full only by whoever needs it.
   */
  async *watchHeads(signal: AbortSignal): AsyncGenerator<TicketHead> {
    for await (const e of this.#entries(signal)) {
      const known = this.#parsed.get(e.key);
      if (known?.revision === e.revision) {
        yield known.ticket;
        continue;
      }
      const mine = this.#writing.get(e.key);
      if (mine && sameBytes(mine.bytes, e.value)) {
        yield mine.ticket;
        continue;
      }
      let head: TicketHead;
      try {
        head = TicketHead.parse(e.json());
      } catch {
        continue;
      }
      yield head;
    }
  }

  /** Every current record's last write, then every write (deletes left out), until `signal` aborts. */
  async *#entries(signal: AbortSignal, key?: string): AsyncGenerator<KvEntry> {
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
        for await (const e of iter) if (e.operation === 'PUT') yield e;
      } finally {
        signal.removeEventListener('abort', stop);
        iter.stop();
      }
      if (!signal.aborted) await delay(250, signal);
    }
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

/**
 * The writes of one ticket's record from now on, as they are published: the ticket's head (TicketHead),
 * or null when the record is deleted; a write whose head does not parse is skipped. A core subscription to the record's
 * subject, and no consumer on the server: cheap enough for every work item. No round trip is spent
 * on it: a server takes a connection's messages in order, so the subscription is in place before any
 * request sent after it on the same connection, and a read of the ticket made after this resolves
 * misses nothing between. At most once: writes made
 * while the connection is down are not replayed — for a fence, which only saves cost, that is enough;
 * who needs every write uses `TicketStore.watch`. Ends when `signal` aborts.
 */
export async function followTicket(bus: Bus, ticketId: string, signal: AbortSignal): Promise<AsyncIterable<TicketHead | null>> {
  const sub = bus.nc.subscribe(bus.subjects.ticketRecord(ticketId));
  const stop = () => sub.unsubscribe();
  signal.addEventListener('abort', stop, { once: true });
  return (async function* () {
    try {
      for await (const m of sub) {
        const op = m.headers?.get('KV-Operation');
        if (op === 'DEL' || op === 'PURGE') {
          yield null;
          continue;
        }
        const parsed = TicketHead.safeParse(safeJson(m.data));
        if (parsed.success) yield parsed.data;
      }
    } finally {
      signal.removeEventListener('abort', stop);
      sub.unsubscribe();
    }
  })();
}

function safeJson(data: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(data));
  } catch {
    return undefined;
  }
}
