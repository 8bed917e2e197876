import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { fieldIssues, NightshiftError, type FieldIssue } from '../shared/index.ts';

/** Every message on the bus: who sent it, what caused it, which ticket it belongs to, and its data. */
export const Envelope = z.object({
  id: z.string().min(1).max(128),
  type: z.string().min(1).max(64),
  v: z.number().int().positive(),
  /** Who sent it: `coordinator`, `agent:<role>`, `cli`, `human:<name>`. */
  source: z.string().min(1).max(200),
  /** Id of the message this one answers or follows from; null for a first message. */
  causationId: z.string().max(128).nullable(),
  /** Groups all messages of one piece of work: the ticket id. */
  correlationId: z.string().min(1).max(128),
  ts: z.iso.datetime(),
  data: z.unknown(),
});
export type Envelope<D = unknown> = Omit<z.infer<typeof Envelope>, 'data'> & { data: D };

/** A message type: its name, its version and the schema of its data. */
export interface MessageDef<T extends string = string, S extends z.ZodType = z.ZodType> {
  readonly type: T;
  readonly v: number;
  readonly data: S;
}

export function defineMessage<T extends string, S extends z.ZodType>(type: T, v: number, data: S): MessageDef<T, S> {
  return { type, v, data };
}

/** A message that failed to decode: not JSON, not an envelope, unknown type or invalid data. */
export class InvalidMessageError extends NightshiftError {
  readonly code = 'invalid_message';
  readonly retryable = false;
  readonly issues: readonly FieldIssue[];
  constructor(message: string, issues: readonly FieldIssue[] = []) {
    super(message);
    this.issues = issues;
  }
}

export interface EnvelopeMeta {
  source: string;
  correlationId: string;
  causationId?: string | null;
  /** Fixed id, for messages that must deduplicate on retry; random otherwise. */
  id?: string;
  now?: Date;
}

/** Validates `data` against its type and wraps it; throws InvalidMessageError when it does not fit. */
export function envelope<S extends z.ZodType>(
  def: MessageDef<string, S>,
  data: z.input<S>,
  meta: EnvelopeMeta,
): Envelope<z.output<S>> {
  const parsed = def.data.safeParse(data);
  if (!parsed.success) {
    throw new InvalidMessageError(`refusing to publish an invalid ${def.type}`, fieldIssues(parsed.error.issues));
  }
  const env = {
    id: meta.id ?? randomUUID(),
    type: def.type,
    v: def.v,
    source: meta.source,
    causationId: meta.causationId ?? null,
    correlationId: meta.correlationId,
    ts: (meta.now ?? new Date()).toISOString(),
    data: parsed.data,
  };
  const checked = Envelope.safeParse(env);
  if (!checked.success) {
    throw new InvalidMessageError(`refusing to publish an invalid ${def.type} envelope`, fieldIssues(checked.error.issues));
  }
  return env;
}

export function encodeEnvelope(env: Envelope): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(env));
}

/** A decoded message of one type: the envelope with its literal type and its parsed data. */
export type Message<D extends MessageDef> = Omit<z.infer<typeof Envelope>, 'type' | 'data'> & {
  type: D['type'];
  data: z.output<D['data']>;
};

/** A decoded message of any of the given types, discriminated by `type`. */
export type MessageOf<Defs extends readonly MessageDef[]> = { [K in keyof Defs]: Message<Defs[K]> }[number];

/**
 * Parses bytes into one of the given message types, validating the envelope and the data.
 * Throws InvalidMessageError with field issues otherwise.
 */
export function decodeEnvelope<const Defs extends readonly MessageDef[]>(bytes: Uint8Array, defs: Defs): MessageOf<Defs> {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new InvalidMessageError('message is not JSON');
  }
  const env = Envelope.safeParse(json);
  if (!env.success) throw new InvalidMessageError('message is not an envelope', fieldIssues(env.error.issues));
  const def = defs.find((d) => d.type === env.data.type && d.v === env.data.v);
  if (!def) throw new InvalidMessageError(`unknown message type ${env.data.type} v${env.data.v}`);
  const data = def.data.safeParse(env.data.data);
  if (!data.success) {
    throw new InvalidMessageError(
      `invalid ${env.data.type} data`,
      fieldIssues(data.error.issues.map((i) => ({ ...i, path: ['data', ...i.path] }))),
    );
  }
  return { ...env.data, data: data.data } as MessageOf<Defs>;
}
