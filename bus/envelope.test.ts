import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { decodeEnvelope, defineMessage, encodeEnvelope, envelope, InvalidMessageError } from './envelope.ts';

const Ping = defineMessage(
  'test.ping',
  1,
  z.object({
    n: z.number().int(),
    tags: z.array(z.string().min(1)).default([]),
    nested: z.object({ ok: z.boolean() }).optional(),
  }),
);
const PingV2 = defineMessage('test.ping', 2, z.object({ count: z.number().int() }));
const Pong = defineMessage('test.pong', 1, z.object({ reply: z.string() }));
const DEFS = [Ping, PingV2, Pong] as const;

const now = new Date('2026-01-02T03:04:05.678Z');
const meta = { source: 'agent:coder', correlationId: 'tk-0123456789', now };

const text = (s: string) => new TextEncoder().encode(s);
const bytes = (value: unknown) => text(JSON.stringify(value));

/** Runs `fn`, which must throw an InvalidMessageError, and returns it. */
function invalidMessage(fn: () => unknown): InvalidMessageError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidMessageError);
    return err as InvalidMessageError;
  }
  throw new Error('expected an InvalidMessageError');
}

/** A well-formed envelope of Ping, as it would arrive on the wire. */
function wire(overrides: Record<string, unknown> = {}) {
  return {
    id: 'msg-1',
    type: 'test.ping',
    v: 1,
    source: 'coordinator',
    causationId: null,
    correlationId: 'tk-0123456789',
    ts: '2026-01-02T03:04:05.678Z',
    data: { n: 1, tags: [] },
    ...overrides,
  };
}

describe('envelope', () => {
  it('wraps valid data with the meta, the type and the version', () => {
    const env = envelope(Ping, { n: 7, tags: ['a'] }, { ...meta, id: 'fixed-id', causationId: 'msg-0' });
    expect(env).toEqual({
      id: 'fixed-id',
      type: 'test.ping',
      v: 1,
      source: 'agent:coder',
      causationId: 'msg-0',
      correlationId: 'tk-0123456789',
      ts: '2026-01-02T03:04:05.678Z',
      data: { n: 7, tags: ['a'] },
    });
  });

  it('keeps the parsed data, with defaults applied', () => {
    expect(envelope(Ping, { n: 1 }, meta).data).toEqual({ n: 1, tags: [] });
  });

  it('defaults causationId to null', () => {
    expect(envelope(Ping, { n: 1 }, meta).causationId).toBeNull();
    expect(envelope(Ping, { n: 1 }, { ...meta, causationId: null }).causationId).toBeNull();
  });

  it('keeps a fixed id and gives distinct random ids otherwise', () => {
    expect(envelope(Ping, { n: 1 }, { ...meta, id: 'tk-0123456789.coding.1' }).id).toBe('tk-0123456789.coding.1');
    const a = envelope(Ping, { n: 1 }, meta).id;
    const b = envelope(Ping, { n: 1 }, meta).id;
    expect(a).toMatch(/^[0-9a-f-]{36}$/);
    expect(a).not.toBe(b);
  });

  it('stamps the current time when no clock is given', () => {
    const before = Date.now();
    const ts = Date.parse(envelope(Ping, { n: 1 }, { source: 'cli', correlationId: 'x' }).ts);
    expect(ts).toBeGreaterThanOrEqual(before);
    expect(ts).toBeLessThanOrEqual(Date.now());
  });

  it('refuses invalid data with field issues relative to the data', () => {
    const err = invalidMessage(() => envelope(Ping, { n: 1.5, tags: ['ok', ''] }, meta));
    expect(err.message).toBe('refusing to publish an invalid test.ping');
    expect(err.issues.map((i) => i.path).sort()).toEqual(['n', 'tags.1']);
    expect(err.code).toBe('invalid_message');
    expect(err.retryable).toBe(false);
    expect(err.name).toBe('InvalidMessageError');
  });

  it('refuses data that is not an object', () => {
    const err = invalidMessage(() => envelope(Ping, 'nope' as never, meta));
    expect(err.issues.map((i) => i.path)).toEqual(['(root)']);
  });

  it('refuses meta that receivers would refuse', () => {
    const err = invalidMessage(() => envelope(Ping, { n: 1 }, { ...meta, source: '', correlationId: '' }));
    expect(err.issues.map((i) => i.path).sort()).toEqual(['correlationId', 'source']);
    expect(invalidMessage(() => envelope(Ping, { n: 1 }, { ...meta, id: 'x'.repeat(129) })).issues[0]?.path).toBe(
      'id',
    );
  });
});

describe('encodeEnvelope and decodeEnvelope', () => {
  it('round-trip a message', () => {
    const env = envelope(Ping, { n: 3, tags: ['x', 'y'], nested: { ok: true } }, { ...meta, causationId: 'msg-0' });
    const decoded = decodeEnvelope(encodeEnvelope(env), DEFS);
    expect(decoded).toEqual(env);
    expect(decoded.type).toBe('test.ping');
  });

  it('encode to UTF-8 JSON', () => {
    const env = envelope(Pong, { reply: 'héllo ✓' }, meta);
    const text = new TextDecoder().decode(encodeEnvelope(env));
    expect(JSON.parse(text)).toEqual(env);
    expect(decodeEnvelope(encodeEnvelope(env), DEFS).data).toEqual({ reply: 'héllo ✓' });
  });

  it('picks the definition by type and version', () => {
    const v2 = envelope(PingV2, { count: 9 }, meta);
    const decoded = decodeEnvelope(encodeEnvelope(v2), DEFS);
    expect(decoded.v).toBe(2);
    expect(decoded.data).toEqual({ count: 9 });
  });

  it('applies the data defaults of the receiver', () => {
    const decoded = decodeEnvelope(bytes(wire({ data: { n: 4 } })), [Ping]);
    expect(decoded.data).toEqual({ n: 4, tags: [] });
  });

  it('refuses bytes that are not JSON', () => {
    for (const input of [text('not json'), text(''), text('{"id":'), new Uint8Array([0xff, 0xfe, 0x00])]) {
      const err = invalidMessage(() => decodeEnvelope(input, DEFS));
      expect(err.message).toBe('message is not JSON');
      expect(err.issues).toEqual([]);
    }
  });

  it.each([null, 42, 'a string', [1, 2]])('refuses JSON that is not an object (%j)', (value) => {
    const err = invalidMessage(() => decodeEnvelope(bytes(value), DEFS));
    expect(err.message).toBe('message is not an envelope');
    expect(err.issues.map((i) => i.path)).toEqual(['(root)']);
  });

  it('refuses an object that is not an envelope, naming each missing field', () => {
    const err = invalidMessage(() => decodeEnvelope(bytes({ data: {} }), DEFS));
    expect(err.message).toBe('message is not an envelope');
    expect(err.issues.map((i) => i.path).sort()).toEqual(
      ['causationId', 'correlationId', 'id', 'source', 'ts', 'type', 'v'].sort(),
    );
  });

  it.each([
    ['id', { id: '' }],
    ['v', { v: 0 }],
    ['v', { v: 1.5 }],
    ['v', { v: '1' }],
    ['ts', { ts: 'yesterday' }],
    ['causationId', { causationId: 7 }],
    ['correlationId', { correlationId: '' }],
  ])('refuses a bad %s in the envelope', (path, overrides) => {
    const err = invalidMessage(() => decodeEnvelope(bytes(wire(overrides)), DEFS));
    expect(err.message).toBe('message is not an envelope');
    expect(err.issues.map((i) => i.path)).toEqual([path]);
  });

  it('refuses an unknown type', () => {
    const err = invalidMessage(() => decodeEnvelope(bytes(wire({ type: 'test.unknown' })), DEFS));
    expect(err.message).toBe('unknown message type test.unknown v1');
  });

  it('refuses an unknown version of a known type', () => {
    const err = invalidMessage(() => decodeEnvelope(bytes(wire({ v: 3 })), DEFS));
    expect(err.message).toBe('unknown message type test.ping v3');
  });

  it('refuses a type that is known but not expected here', () => {
    const pong = envelope(Pong, { reply: 'hi' }, meta);
    expect(invalidMessage(() => decodeEnvelope(encodeEnvelope(pong), [Ping])).message).toBe(
      'unknown message type test.pong v1',
    );
  });

  it('refuses invalid data with issue paths under data.', () => {
    const err = invalidMessage(() =>
      decodeEnvelope(bytes(wire({ data: { n: 'one', tags: ['a', ''], nested: { ok: 'yes' } } })), DEFS),
    );
    expect(err.message).toBe('invalid test.ping data');
    expect(err.issues.map((i) => i.path).sort()).toEqual(['data.n', 'data.nested.ok', 'data.tags.1']);
  });

  it('refuses an envelope without data', () => {
    const { data: _data, ...withoutData } = wire();
    const err = invalidMessage(() => decodeEnvelope(bytes(withoutData), DEFS));
    expect(err.message).toBe('message is not an envelope');
    expect(err.issues.map((i) => i.path)).toEqual(['data']);
  });

  it('refuses data valid for another version', () => {
    const err = invalidMessage(() => decodeEnvelope(bytes(wire({ v: 2, data: { n: 1 } })), DEFS));
    expect(err.issues.map((i) => i.path)).toEqual(['data.count']);
  });
});
