import { DiscardPolicy, StorageType, type StreamConfig } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { describe, expect, it } from 'vitest';
import { createCoordinator } from '../agents/coordinator/coordinator.ts';
import { IntakeReply } from '../shared/index.ts';
import { setup } from '../test/helpers/env.ts';
import { makeRepo } from '../test/helpers/git.ts';
import { waitFor } from '../test/helpers/wait.ts';
import { DEFAULT_LIMITS, Headers, limitsFromConfig, provision, provisionOptions, type Bound } from './index.ts';

const KiB = 1024;
const MiB = 1024 * KiB;

function bounds(c: StreamConfig): Bound & { discard: DiscardPolicy } {
  return { maxBytes: c.max_bytes, maxMsgs: c.max_msgs, maxMsgSize: c.max_msg_size ?? -1, discard: c.discard ?? DiscardPolicy.Old };
}

describe('provisioning bounds every stream and bucket', () => {
  it('sets the default limits, read back from the server', async () => {
    await using env = await setup();
    const { jsm, names } = env.bus;
    const stream = async (name: string) => bounds((await jsm.streams.info(name)).config);
    expect(await stream(names.workStream)).toEqual({ ...DEFAULT_LIMITS.work, discard: DiscardPolicy.New });
    expect(await stream(names.eventsStream)).toEqual({ ...DEFAULT_LIMITS.events, discard: DiscardPolicy.Old });
    expect(await stream(names.rejectedStream)).toEqual({ maxBytes: 64 * MiB, maxMsgs: 100_000, maxMsgSize: 20 * KiB, discard: DiscardPolicy.Old });
    expect(await stream(names.advisoriesStream)).toEqual({ ...DEFAULT_LIMITS.advisories, discard: DiscardPolicy.Old });
    expect(await stream(names.transcriptsStream)).toEqual({ ...DEFAULT_LIMITS.transcripts, discard: DiscardPolicy.Old });
    expect(await stream(`KV_${names.ticketsBucket}`)).toEqual({ ...DEFAULT_LIMITS.tickets, discard: DiscardPolicy.New });
    expect(await stream(`KV_${names.prsBucket}`)).toEqual({ ...DEFAULT_LIMITS.prs, discard: DiscardPolicy.New });
    expect(await stream(`KV_${names.escalationsBucket}`)).toEqual({ ...DEFAULT_LIMITS.escalations, discard: DiscardPolicy.New });
    // Nothing is left unbounded: every stream of this installation has a byte limit.
    const all: string[] = [];
    for await (const s of jsm.streams.list()) all.push(s.config.name);
    for (const name of all) expect((await jsm.streams.info(name)).config.max_bytes, name).toBeGreaterThan(0);
    expect(all.length).toBe(8);
  });

  it('applies the operator settings, and bounds streams and buckets that existed without limits', async () => {
    await using env = await setup({ NIGHTSHIFT_REJECTED_MAX_BYTES: '2MiB', NIGHTSHIFT_TICKETS_MAX_BYTES: '32MiB', NIGHTSHIFT_WORK_MAX_MSGS: '500' });
    const { jsm, names } = env.bus;
    // As an older nightshift left them: created without any limit.
    await jsm.streams.delete(names.rejectedStream);
    await jsm.streams.add({ name: names.rejectedStream, subjects: [env.bus.subjects.rejectedAll], storage: StorageType.File });
    await jsm.streams.delete(`KV_${names.prsBucket}`);
    await new Kvm(env.bus.js).create(names.prsBucket, { history: 5, storage: StorageType.File });
    expect((await jsm.streams.info(names.rejectedStream)).config.max_bytes).toBe(-1);

    await provision(env.bus, provisionOptions(env.config));
    const limits = limitsFromConfig(env.config);
    expect(limits.rejected.maxBytes).toBe(2 * MiB);
    expect(bounds((await jsm.streams.info(names.rejectedStream)).config)).toEqual({ ...limits.rejected, discard: DiscardPolicy.Old });
    expect(bounds((await jsm.streams.info(`KV_${names.ticketsBucket}`)).config)).toMatchObject({ maxBytes: 32 * MiB });
    expect(bounds((await jsm.streams.info(`KV_${names.prsBucket}`)).config)).toMatchObject({ maxBytes: DEFAULT_LIMITS.prs.maxBytes, maxMsgSize: DEFAULT_LIMITS.prs.maxMsgSize });
    expect((await jsm.streams.info(names.workStream)).config.max_msgs).toBe(500);
  });
});

describe('the rejected-payload stream under a flood', () => {
  it.each([
    ['byte', 64 * KiB, 1_000],
    ['count', MiB, 20],
  ])('stays within its %s limit, keeping each payload truncated with its size and digest', async (_which, maxBytes, maxMsgs) => {
    await using env = await setup({ NIGHTSHIFT_REJECTED_MAX_BYTES: String(maxBytes), NIGHTSHIFT_REJECTED_MAX_MSGS: String(maxMsgs), NIGHTSHIFT_REJECTED_KEEP_BYTES: '2KiB' });
    const coordinator = createCoordinator({ bus: env.bus, config: env.config, log: env.sink.log });
    await coordinator.start();
    try {
      const { jsm, names, nc, subjects } = env.bus;
      const sent = 200;
      const payload = (i: number) => `not json ${i} ${'x'.repeat(10 * KiB)}`;
      for (let i = 0; i < sent; i++) {
        const reply = IntakeReply.parse((await nc.request(subjects.ticketIntake, payload(i), { timeout: 10_000 })).json());
        expect(reply).toMatchObject({ ok: false, error: { code: 'invalid_json' } });
      }
      const info = await jsm.streams.info(names.rejectedStream);
      env.sink.log.info({ sent, kept: info.state.messages, bytes: info.state.bytes }, 'rejected flood');
      expect(info.state.last_seq).toBe(sent);
      expect(info.state.messages).toBeLessThanOrEqual(maxMsgs);
      expect(info.state.bytes).toBeLessThanOrEqual(maxBytes);
      // The newest are kept, the oldest went; each kept one is its first 2 KiB, with the whole one's size.
      const last = await jsm.streams.getMessage(names.rejectedStream, { seq: info.state.last_seq });
      if (!last) throw new Error('the newest rejected payload is missing');
      expect(last.data.byteLength).toBe(2 * KiB);
      expect(new TextDecoder().decode(last.data)).toBe(payload(sent - 1).slice(0, 2 * KiB));
      expect(Number(last.header.get(Headers.OriginalSize))).toBe(payload(sent - 1).length);
      expect(last.header.get(Headers.OriginalSha256)).toMatch(/^[0-9a-f]{64}$/);
    } finally {
      await coordinator.stop();
    }
  });

  it('answers a NUL in a title with the issue at title, and keeps the refused payload', async () => {
    await using env = await setup();
    const coordinator = createCoordinator({ bus: env.bus, config: env.config, log: env.sink.log });
    await coordinator.start();
    try {
      const body = JSON.stringify({ title: 'Add\u0000 a flag', body: 'b', repo: { path: makeRepo() } });
      const reply = IntakeReply.parse((await env.bus.nc.request(env.bus.subjects.ticketIntake, body, { timeout: 10_000 })).json());
      expect(reply).toEqual({
        ok: false,
        error: { code: 'invalid_ticket', message: expect.stringContaining('title: control characters are not allowed'), issues: [{ path: 'title', message: 'control characters are not allowed' }] },
      });
      await waitFor('the refused payload kept', async () => (await env.bus.jsm.streams.info(env.bus.names.rejectedStream)).state.messages === 1);
    } finally {
      await coordinator.stop();
    }
  });
});
