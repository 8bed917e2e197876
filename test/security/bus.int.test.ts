import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nkeys } from '@nats-io/transport-node';
import { JetStreamApiError } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectBus, provision, readTranscript, type Bus } from '../../bus/index.ts';
import { PROCESS_KINDS, type ProcessKind } from '../../bus/permissions.ts';
import { writeServerAuth, type ServerAuth } from '../../bus/server-config.ts';
import { ROLES } from '../../shared/index.ts';
import { logSink, uniquePrefix } from '../helpers/env.ts';
import { startNatsServer, type NatsServer } from '../helpers/nats.ts';

/**
 * The bus's least privilege, tried one operation at a time: every process kind connects with the
 * credentials `nightshift nats config` writes, and every operation on the list is attempted. The
 * table of what each kind may do is written here by hand, apart from bus/permissions.ts, so that a
 * permission the code grants by mistake (or forgets) fails this test.
 */

const TICKET = 'tk-0123456789';
/** Transcripts are written under another ticket: the one read has none (what is written is no exchange). */
const SCRATCH_TICKET = 'tk-abcdefghjk';
const ORIGINS = [...ROLES, 'slack', 'github', 'web', 'cli'] as const;

type Op = (bus: Bus) => Promise<unknown>;

/** Subscribes and resolves once the server has answered (a refused subscription errors before the PONG). */
async function subscribeProbe(bus: Bus, subject: string): Promise<void> {
  let failure: Error | undefined;
  const sub = bus.nc.subscribe(subject, { callback: (err) => {
      failure ??= err ?? undefined;
    } });
  await bus.nc.flush();
  sub.unsubscribe();
  if (failure) throw failure;
}

const payload = new TextEncoder().encode('{}');

/**
 * Asks a durable consumer for one message, as a pull does, without waiting: the request itself is
 * what permissions allow or refuse (a client library's pull loop would only report missed heartbeats).
 */
function take(bus: Bus, stream: string, consumer: string): Promise<unknown> {
  const body = new TextEncoder().encode(JSON.stringify({ batch: 1, no_wait: true }));
  return bus.nc.request(`$JS.API.CONSUMER.MSG.NEXT.${stream}.${consumer}`, body, { timeout: 10_000, noMux: true });
}

function operations(prefix: string): Record<string, Op> {
  const ops: Record<string, Op> = {
    'intake.ticket': (b) => b.nc.request(b.subjects.ticketIntake, payload, { timeout: 10_000 }),
    'intake.bug': (b) => b.nc.request(b.subjects.bugIntake, payload, { timeout: 10_000 }),
    'serve.intake': (b) => subscribeProbe(b, b.subjects.ticketIntake),
    'events.firehose': (b) => subscribeProbe(b, b.subjects.eventsAll),
    'work.publish': (b) => b.js.publish(b.subjects.work('coder', TICKET), payload),
    'events.take': (b) => take(b, b.names.eventsStream, b.names.coordinatorConsumer),
    'transcripts.read': (b) => readTranscript(b, TICKET),
    'rejected.write': (b) => b.js.publish(b.subjects.rejected('tickets'), payload),
    'tickets.read': async (b) => (await b.tickets()).get(TICKET),
    'tickets.watch': async (b) => (await (await b.tickets()).watch()).stop(),
    'tickets.write': async (b) => (await b.tickets()).put('scratch', payload),
    'tickets.delete': async (b) => (await b.tickets()).delete('scratch'),
    'prs.read': async (b) => (await new Kvm(b.js).open(b.names.prsBucket)).get(`pr.${TICKET}`),
    'prs.write': async (b) => (await new Kvm(b.js).open(b.names.prsBucket)).put(`pr.${TICKET}`, payload),
    'escalations.read': async (b) => (await new Kvm(b.js).open(b.names.escalationsBucket)).get(`esc.${TICKET}`),
    'escalations.write.esc': async (b) => (await new Kvm(b.js).open(b.names.escalationsBucket)).put(`esc.${TICKET}`, payload),
    'escalations.write.thread': async (b) => (await new Kvm(b.js).open(b.names.escalationsBucket)).put('thread.C1.1_2', payload),
    'escalations.write.github': async (b) => (await new Kvm(b.js).open(b.names.escalationsBucket)).put(`github.${TICKET}`, payload),
    'work.read-message': (b) => b.jsm.streams.getMessage(b.names.workStream, { seq: 1 }),
    'work.delete-message': (b) => b.jsm.streams.deleteMessage(b.names.workStream, 1_000_000),
    'account.info': (b) => b.jsm.getAccountInfo(),
    'stream.update.work': async (b) => b.jsm.streams.update(b.names.workStream, (await b.jsm.streams.info(b.names.workStream)).config),
    'stream.create.other': (b) => b.jsm.streams.add({ name: `${prefix.toUpperCase()}_EVIL`, subjects: [`${prefix}-evil.>`] }),
    'stream.purge.work': (b) => b.jsm.streams.purge(b.names.workStream),
    'stream.delete.events': (b) => b.jsm.streams.delete(b.names.eventsStream),
    'bucket.purge.tickets': (b) => b.jsm.streams.purge(`KV_${b.names.ticketsBucket}`),
    'consumer.delete.coder': (b) => b.jsm.consumers.delete(b.names.workStream, b.names.roleConsumer('coder')),
    'inbox.sniff.default': (b) => subscribeProbe(b, '_INBOX.>'),
    'inbox.sniff.coordinator': (b) => subscribeProbe(b, '_INBOX_coordinator.>'),
    'inbox.sniff.all': (b) => subscribeProbe(b, '>'),
  };
  for (const origin of ORIGINS) ops[`event.from.${origin}`] = (b) => b.js.publish(b.subjects.event(TICKET, origin, 'stage.completed'), payload);
  for (const role of ROLES) {
    ops[`work.take.${role}`] = (b) => take(b, b.names.workStream, b.names.roleConsumer(role));
    ops[`transcript.write.${role}`] = (b) => b.js.publish(b.subjects.transcript(SCRATCH_TICKET, role), payload);
  }
  return ops;
}

const agent = (role: string, extra: string[] = []) => [`event.from.${role}`, `work.take.${role}`, `transcript.write.${role}`, 'tickets.read', 'tickets.watch', 'prs.read', ...extra];

/** What each kind may do; everything else on the list must be refused. */
const ALLOWED: Record<ProcessKind, string[]> = {
  coordinator: [
    'serve.intake',
    'work.publish',
    'events.take',
    'rejected.write',
    'tickets.read',
    'tickets.watch',
    'tickets.write',
    'tickets.delete',
    'work.read-message',
    'work.delete-message',
    'account.info',
    'stream.update.work',
    'inbox.sniff.coordinator',
  ],
  refiner: agent('refiner'),
  'test-author': agent('test-author'),
  coder: agent('coder'),
  reviewer: agent('reviewer', ['prs.write']),
  triager: agent('triager'),
  slack: ['intake.ticket', 'intake.bug', 'event.from.slack', 'tickets.read', 'tickets.watch', 'escalations.read', 'escalations.write.esc', 'escalations.write.thread'],
  github: ['intake.ticket', 'intake.bug', 'event.from.github', 'tickets.read', 'tickets.watch', 'prs.read', 'prs.write', 'escalations.read', 'escalations.write.github'],
  web: ['event.from.web', 'tickets.read', 'tickets.watch', 'prs.read'],
  operator: ['intake.ticket', 'intake.bug', 'event.from.cli', 'tickets.read', 'tickets.watch', 'prs.read', 'transcripts.read'],
  viewer: ['tickets.read', 'tickets.watch', 'prs.read', 'transcripts.read'],
  intake: ['intake.ticket', 'intake.bug'],
};

function isPermissionViolation(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if (/permissions violation/i.test(e.message)) return true;
  }
  return false;
}

describe('the bus under the generated configuration', () => {
  let dir: string;
  let auth: ServerAuth;
  let nats: NatsServer;
  let coordinator: Bus;
  const prefix = uniquePrefix();
  const sink = logSink();
  const refused = new Map<ProcessKind, number>();
  let attempted = 0;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'nightshift-auth-'));
    auth = await writeServerAuth(join(dir, 'auth'), prefix);
    nats = await startNatsServer({ config: auth.config });
    coordinator = await connectBus({ url: nats.url, prefix, name: 'coordinator', kind: 'coordinator', auth: { nkey: auth.seeds.coordinator }, log: sink.log });
    await provision(coordinator, { ackWaitMs: 30_000, maxDeliver: 5 });
    // Intake answered, as a coordinator does (it may answer requests it receives).
    for (const subject of [coordinator.subjects.ticketIntake, coordinator.subjects.bugIntake]) {
      coordinator.nc.subscribe(subject, {
        callback: (_err, msg) => {
          msg.respond(payload);
        },
      });
    }
    await coordinator.nc.flush();
  });

  afterAll(async () => {
    await coordinator?.close();
    await nats?.[Symbol.asyncDispose]();
    if (dir) rmSync(dir, { recursive: true, force: true });
    const total = [...refused.values()].reduce((a, b) => a + b, 0);
    process.stdout.write(`security: bus — ${total} operations outside a kind's role refused, of ${attempted} tried across ${refused.size} process kinds\n`);
  });

  it('refuses a client without credentials, and one whose key the server does not know', async () => {
    await expect(connectBus({ url: nats.url, prefix, name: 'anonymous', log: sink.log, connectTimeoutMs: 2_000 })).rejects.toThrow(/Authorization Violation/);
    const stranger = join(dir, 'stranger.nk');
    writeFileSync(stranger, new TextDecoder().decode(nkeys.createUser().getSeed()));
    await expect(connectBus({ url: nats.url, prefix, name: 'stranger', auth: { nkey: stranger }, log: sink.log, connectTimeoutMs: 2_000 })).rejects.toThrow(
      /Authorization Violation/,
    );
    await expect(connectBus({ url: nats.url, prefix, name: 'password', auth: { user: 'coordinator', password: 'guess' }, log: sink.log, connectTimeoutMs: 2_000 })).rejects.toThrow(
      /Authorization Violation/,
    );
  });

  it.each(PROCESS_KINDS)('gives %s exactly the operations of its role', async (kind) => {
    const bus = await connectBus({ url: nats.url, prefix, name: kind, kind, auth: { nkey: auth.seeds[kind] }, log: sink.log });
    try {
      const ops = operations(prefix);
      const actual: Record<string, 'allowed' | 'refused'> = {};
      for (const [name, op] of Object.entries(ops)) {
        try {
          await op(bus);
          actual[name] = 'allowed';
        } catch (err) {
          // The API answered (e.g. "no such message"): the server let the request through.
          if (err instanceof JetStreamApiError) {
            actual[name] = 'allowed';
            continue;
          }
          if (!isPermissionViolation(err)) throw new Error(`${kind}: ${name} failed for another reason than permissions: ${(err as Error).message}`, { cause: err });
          actual[name] = 'refused';
        }
      }
      const expected = Object.fromEntries(Object.keys(ops).map((name) => [name, ALLOWED[kind].includes(name) ? 'allowed' : 'refused']));
      expect(actual).toEqual(expected);
      attempted += Object.keys(ops).length;
      refused.set(kind, Object.values(actual).filter((v) => v === 'refused').length);
    } finally {
      await bus.close();
    }
  });
});
