import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { z } from 'zod';
import { ConflictError } from '../shared/index.ts';

/** A record read from a KV bucket, with the revision a compare-and-set write must name. */
export interface Revisioned<T> {
  value: T;
  revision: number;
}

/**
 * Records of one schema under keys of one bucket, written with compare-and-set on their revision:
 * tickets, Slack escalations, questions asked on GitHub issues. Every record is validated when it is
 * read and before it is written.
 */
export class CasRecords<S extends z.ZodType> {
  readonly #kv: KV;
  readonly #schema: S;
  readonly #key: (id: string) => string;
  readonly #what: string;

  /** `key` turns a record's id into its KV key; `what` names the records in conflict messages. */
  constructor(kv: KV, schema: S, key: (id: string) => string, what: string) {
    this.#kv = kv;
    this.#schema = schema;
    this.#key = key;
    this.#what = what;
  }

  async get(id: string): Promise<Revisioned<z.output<S>> | null> {
    const e = await this.#kv.get(this.#key(id));
    if (!e || e.operation !== 'PUT') return null;
    return { value: this.#schema.parse(e.json()), revision: e.revision };
  }

  /** Stores the first record under `id`; its revision, or null when one exists already. */
  async create(id: string, value: z.input<S>): Promise<number | null> {
    try {
      return await this.#kv.create(this.#key(id), this.#encode(value));
    } catch (err) {
      if (isWrongLastSequence(err)) return null;
      throw err;
    }
  }

  /** Writes `value` if the record is still at `revision`; throws ConflictError otherwise. */
  async update(id: string, value: z.input<S>, revision: number): Promise<number> {
    try {
      return await this.#kv.update(this.#key(id), this.#encode(value), revision);
    } catch (err) {
      if (isWrongLastSequence(err)) throw new ConflictError(`${this.#what} ${id} changed since revision ${revision}`);
      throw err;
    }
  }

  #encode(value: z.input<S>): Uint8Array {
    return new TextEncoder().encode(JSON.stringify(this.#schema.parse(value)));
  }
}

/** Whether a KV create or update failed because the key was not at the revision it named. */
export function isWrongLastSequence(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}
