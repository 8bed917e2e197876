import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { TicketStore, type Bus } from '../../bus/index.ts';
import { IntakeReply, ticketIdForExternalId, type Ticket } from '../../shared/index.ts';
import { spawnCli, type CliProcess } from '../helpers/cli.ts';
import { setup, type TestEnv } from '../helpers/env.ts';
import { makeRepo } from '../helpers/git.ts';
import { scaled, waitFor } from '../helpers/wait.ts';

/**
 * The foundation's durability promises (BRIEF §5: kill any process at any moment, no ticket is lost
 * and none is processed twice), checked against real, separate nightshift processes on a private
 * nats-server with file storage.
 */

const HANDLER = fileURLToPath(new URL('../fixtures/handlers/advance.ts', import.meta.url));
const CHAIN_ROLES = ['refiner', 'test-author', 'coder', 'reviewer'] as const;
const HAPPY_PATH = [
  { event: 'received', to: 'received' },
  { event: 'transition', from: 'received', to: 'refining' },
  { event: 'dispatched', stage: 'refining', attempt: 1 },
  { event: 'transition', from: 'refining', to: 'writing_tests' },
  { event: 'dispatched', stage: 'writing_tests', attempt: 1 },
  { event: 'transition', from: 'writing_tests', to: 'coding' },
  { event: 'dispatched', stage: 'coding', attempt: 1 },
  { event: 'transition', from: 'coding', to: 'reviewing' },
  { event: 'dispatched', stage: 'reviewing', attempt: 1 },
  { event: 'transition', from: 'reviewing', to: 'pr_open' },
];

async function post(bus: Bus, payload: unknown, timeoutMs = 30_000): Promise<IntakeReply> {
  const reply = await bus.nc.request(bus.subjects.ticketIntake, JSON.stringify(payload), { timeout: timeoutMs });
  return IntakeReply.parse(reply.json());
}

async function postOk(bus: Bus, payload: unknown, timeoutMs?: number): Promise<{ id: string; duplicate: boolean }> {
  const reply = await post(bus, payload, timeoutMs);
  if (!reply.ok) throw new Error(`intake refused: ${JSON.stringify(reply.error)}`);
  return reply;
}

/**
 * The parts of a timeline that say what happened, without times and actors, nor the `started`
 * entries: one per delivery an agent started, so as many as the crashes made.
 */
function shape(t: Ticket) {
  return t.timeline.filter((e) => e.event !== 'started').map(({ event, from, to, stage, attempt }) => ({
    event,
    ...(from !== undefined && { from }),
    ...(to !== undefined && { to }),
    ...(stage !== undefined && { stage }),
    ...(attempt !== undefined && { attempt }),
  }));
}

/**
 * Posts until a reply comes, each attempt bounded: a request made while this client or the
 * coordinators are still reconnecting is lost (core NATS request/reply is at most once), so a client
 * retries, with an external id so that a retry can never make a second ticket.
 */
async function postUntilReplied(bus: Bus, payload: { externalId: string }, deadlineMs = 30_000): Promise<{ id: string; duplicate: boolean }> {
  return waitFor(`a reply to ${payload.externalId}`, () => postOk(bus, payload, 3_000), { timeoutMs: deadlineMs, intervalMs: 100 });
}

/** A fresh temporary directory, removed on dispose. */
function tempDir(prefix: string): { path: string } & AsyncDisposable {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, [Symbol.asyncDispose]: async () => rmSync(path, { recursive: true, force: true }) };
}

/** A git repository from makeRepo(), removed on dispose. */
function repository(): { path: string } & AsyncDisposable {
  const path = makeRepo();
  return { path, [Symbol.asyncDispose]: async () => rmSync(path, { recursive: true, force: true }) };
}

function started(p: CliProcess, what: string): Promise<unknown> {
  return p.waitForLog(what, (l) => l.msg === what, 30_000);
}

async function ticketIn(store: TicketStore, id: string, states: readonly string[], timeoutMs = 30_000): Promise<Ticket> {
  return waitFor(
    `${id} to reach ${states.join(' or ')}`,
    async () => {
      const s = await store.get(id);
      return s && states.includes(s.ticket.state) ? s.ticket : undefined;
    },
    { timeoutMs, intervalMs: 100 },
  );
}

async function allIn(store: TicketStore, ids: readonly string[], state: string, timeoutMs: number): Promise<Map<string, Ticket>> {
  let last = '';
  return waitFor(
    `every ticket to reach ${state}`,
    async () => {
      const out = new Map<string, Ticket>();
      const behind: string[] = [];
      for (const id of ids) {
        const s = await store.get(id);
        if (s?.ticket.state === state) out.set(id, s.ticket);
        else behind.push(`${id}:${s?.ticket.state ?? 'missing'}`);
      }
      last = behind.join(', ');
      return behind.length === 0 ? out : undefined;
    },
    { timeoutMs, intervalMs: 200 },
  ).catch((err: unknown) => {
    throw new Error(`${(err as Error).message}; still behind: ${last}`);
  });
}

/** Titles of the payloads kept in the rejected stream (those that are JSON with a title). */
async function rejectedTitles(bus: Bus): Promise<string[]> {
  const { state } = await bus.jsm.streams.info(bus.names.rejectedStream);
  const titles: string[] = [];
  for (let seq = state.first_seq; state.messages > 0 && seq <= state.last_seq; seq++) {
    const m = await bus.jsm.streams.getMessage(bus.names.rejectedStream, { seq }).catch(() => null);
    try {
      const title = (JSON.parse(new TextDecoder().decode(m?.data)) as { title?: unknown }).title;
      if (typeof title === 'string') titles.push(title);
    } catch {
      // not JSON: not one of ours
    }
  }
  return titles;
}

type ChainRole = (typeof CHAIN_ROLES)[number];

/** Processes that are all killed on dispose. */
function group(procs: CliProcess[]): CliProcess[] & AsyncDisposable {
  return Object.assign(procs, {
    [Symbol.asyncDispose]: async () => {
      await Promise.all(procs.map((p) => p[Symbol.asyncDispose]()));
    },
  });
}

/** Agent processes for the chain's roles (one of each unless `replicas` says otherwise), with the advance handler. */
function startAgents(env: TestEnv, replicas: Partial<Record<ChainRole, number>> = {}, roleEnv: Partial<Record<ChainRole, Record<string, string>>> = {}): CliProcess[] {
  return CHAIN_ROLES.flatMap((role) =>
    Array.from({ length: replicas[role] ?? 1 }, () => spawnCli(['agent', role, '--handler', HANDLER], { ...env.childEnv, ...roleEnv[role] })),
  );
}

describe('durability', () => {
  it('SIGKILL mid-work: the held work item is redelivered to another agent and the stage completes once', async () => {
    await using env = await setup({ NIGHTSHIFT_ACK_WAIT: '1s' });
    await using holdDir = tempDir('nightshift-hold-');
    await using repo = repository();
    const hold = holdDir.path;
    await using coordinator = spawnCli(['coordinator'], env.childEnv);
    const agentEnv = { ...env.childEnv, NIGHTSHIFT_TEST_HOLD_DIR: hold };
    await using first = spawnCli(['agent', 'refiner', '--handler', HANDLER], agentEnv);
    await Promise.all([started(coordinator, 'coordinator started'), started(first, 'agent started')]);
    const store = new TicketStore(await env.bus.tickets());

    const { id } = await postOk(env.bus, { title: 'Survive a kill', body: 'b', repo: { path: repo.path } });
    const firstHolding = join(hold, `holding-${first.pid}`);
    // The handler creates the file, then writes the id: wait for both.
    await waitFor(`the first refiner (${first.pid}) to hold the work`, () => existsSync(firstHolding) && readFileSync(firstHolding, 'utf8') !== '');
    expect(readFileSync(firstHolding, 'utf8')).toBe(id);

    first.proc.kill('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');

    await using second = spawnCli(['agent', 'refiner', '--handler', HANDLER], agentEnv);
    const secondHolding = join(hold, `holding-${second.pid}`);
    await waitFor(`the second refiner (${second.pid}) to be handed the work`, () => existsSync(secondHolding) && readFileSync(secondHolding, 'utf8') !== '', { timeoutMs: 30_000 });
    expect(readFileSync(secondHolding, 'utf8')).toBe(id);
    writeFileSync(join(hold, 'release'), '');

    const t = await ticketIn(store, id, ['writing_tests']);
    const refined = t.artifacts.refining as { role: string; pid: number; deliveries: number };
    expect(refined).toMatchObject({ role: 'refiner', pid: second.pid });
    expect(refined.deliveries).toBeGreaterThanOrEqual(2);
    expect(shape(t)).toEqual(HAPPY_PATH.slice(0, 5));
    expect(t.timeline.filter((e) => e.event === 'transition' && e.from === 'refining')).toHaveLength(1);
    expect(second.logs().some((l) => l.msg === 'work completed' && l.ticketId === id)).toBe(true);
  });

  it('two coordinators share intake and events: every ticket moves through the chain exactly once', async () => {
    await using env = await setup();
    await using repo = repository();
    await using coordinators = group([spawnCli(['coordinator'], env.childEnv), spawnCli(['coordinator'], env.childEnv)]);
    await using agents = group(startAgents(env, { refiner: 2, coder: 2 }));
    await Promise.all([...coordinators.map((c) => started(c, 'coordinator started')), ...agents.map((a) => started(a, 'agent started'))]);
    const store = new TicketStore(await env.bus.tickets());

    // 24 plain tickets and 6 external ids, each posted twice at the same time: 36 requests at once.
    const externalIds = Array.from({ length: 6 }, (_, i) => `EXT-${env.config.NIGHTSHIFT_PREFIX}-${i}`);
    const plain = Array.from({ length: 24 }, (_, i) => postOk(env.bus, { title: `plain ${i}`, body: 'b', repo: { path: repo.path } }));
    const twice = externalIds.map((externalId, i) =>
      Promise.all([
        postOk(env.bus, { title: `external ${i}`, body: 'b', repo: { path: repo.path }, externalId }),
        postOk(env.bus, { title: `external ${i}`, body: 'b', repo: { path: repo.path }, externalId }),
      ]),
    );
    const plainReplies = await Promise.all(plain);
    const twiceReplies = await Promise.all(twice);

    for (const r of plainReplies) expect(r.duplicate).toBe(false);
    externalIds.forEach((externalId, i) => {
      const [a, b] = twiceReplies[i]!;
      expect(a.id).toBe(ticketIdForExternalId(externalId));
      expect(b.id).toBe(a.id);
      expect([a.duplicate, b.duplicate].filter((d) => !d)).toHaveLength(1);
    });
    const ids = [...plainReplies.map((r) => r.id), ...twiceReplies.map(([a]) => a.id)];
    expect(new Set(ids).size).toBe(30);

    const done = await allIn(store, ids, 'pr_open', 60_000);
    for (const [id, t] of done) {
      expect({ id, timeline: shape(t) }).toEqual({ id, timeline: HAPPY_PATH });
      expect(Object.keys(t.artifacts).sort()).toEqual(['coding', 'refining', 'reviewing', 'writing_tests']);
      expect(t.outbox).toEqual([]);
    }
    expect((await store.list()).map((t) => t.id).sort()).toEqual([...ids].sort());
    // Each stage attempt reported its completion once: redeliveries, if any, were deduplicated. (Its
    // start only when it ran past the start grace: quick handlers report their result alone.)
    const events = await env.bus.jsm.streams.info(env.bus.names.eventsStream, { subjects_filter: '>' });
    const completions = Object.entries(events.state.subjects ?? {}).filter(([subject]) => subject.endsWith('.stage.completed'));
    expect(completions).toHaveLength(ids.length * 4);
    expect(completions.filter(([, n]) => n !== 1)).toEqual([]);
    const work = await env.bus.jsm.streams.info(env.bus.names.workStream);
    expect(work.state.messages).toBe(0);
    expect(await rejectedTitles(env.bus)).toEqual([]);

    // Both coordinators took part in intake and in applying events.
    const received = new Set<string>();
    for (const [i, c] of coordinators.entries()) {
      const logs = c.logs();
      const intakes = logs.filter((l) => l.msg === 'ticket received');
      const applied = logs.filter((l) => l.msg === 'event applied');
      expect({ coordinator: i, intakes: intakes.length > 0, applied: applied.length > 0 }).toEqual({ coordinator: i, intakes: true, applied: true });
      for (const l of intakes) if (l.duplicate === false) received.add(l.ticketId as string);
      expect(logs.filter((l) => l.level === 'error')).toEqual([]);
    }
    expect([...received].sort()).toEqual([...ids].sort());
    // Every completion applied once; a start applies only while its attempt is current (one may lose the race to its result).
    const appliedCount = coordinators.flatMap((c) => c.logs()).filter((l) => l.msg === 'event applied' && l.event === 'stage.completed').length;
    expect(appliedCount).toBe(ids.length * 4);
  }, scaled(120_000));

  it('nats-server restart mid-flow: every acknowledged ticket survives and reaches pr_open, no transition twice', async () => {
    await using env = await setup();
    await using holdDir = tempDir('nightshift-hold-');
    await using repo = repository();
    const hold = holdDir.path;
    await using coordinator = spawnCli(['coordinator'], env.childEnv);
    await using agents = group(startAgents(env, {}, { refiner: { NIGHTSHIFT_TEST_HOLD_DIR: hold } }));
    await Promise.all([started(coordinator, 'coordinator started'), ...agents.map((a) => started(a, 'agent started'))]);
    const refiner = agents[0]!;
    const store = new TicketStore(await env.bus.tickets());
    const ticket = (title: string) => ({ title, body: 'b', repo: { path: repo.path } });

    // In flight when the server goes down: one ticket held by the refiner, three more queued for it…
    const acknowledged: string[] = [];
    for (const r of await Promise.all(Array.from({ length: 4 }, (_, i) => postOk(env.bus, ticket(`before ${i}`))))) acknowledged.push(r.id);
    await waitFor('the refiner to hold a ticket', () => existsSync(join(hold, `holding-${refiner.pid}`)));
    for (const id of acknowledged) await ticketIn(store, id, ['refining']);
    // …and intake under way: 16 clients post one ticket after another, and the server is stopped as
    // soon as 12 of those have been answered, so it goes down between the steps of some intakes
    // (stored but not yet dispatched, dispatched but not yet marked sent, stored but not answered).
    let stopping: Promise<void> | undefined;
    let answered = 0;
    const client = async (c: number) => {
      for (let i = 0; !stopping && i < 50; i++) {
        const r = await post(env.bus, ticket(`late ${c}.${i}`), 2_000).catch(() => undefined);
        if (r?.ok) {
          acknowledged.push(r.id);
          if (++answered >= 12) stopping ??= env.nats.stop();
        }
      }
    };
    await Promise.all(Array.from({ length: 16 }, (_, c) => client(c)));
    expect(stopping).toBeDefined();
    await stopping;

    // A post during the outage fails within its timeout instead of hanging.
    const outageId = `outage-${env.config.NIGHTSHIFT_PREFIX}`;
    const outageStart = Date.now();
    await expect(post(env.bus, { ...ticket('during the outage'), externalId: outageId }, 2_000)).rejects.toThrow();
    expect(Date.now() - outageStart).toBeLessThan(scaled(10_000));

    await env.nats.restart();
    // The post that failed is retried with its external id: one ticket, whether or not the first landed.
    const retried = await postUntilReplied(env.bus, { ...ticket('during the outage'), externalId: outageId });
    expect(retried.id).toBe(ticketIdForExternalId(outageId));
    acknowledged.push(retried.id);
    writeFileSync(join(hold, 'release'), '');

    await allIn(store, acknowledged, 'pr_open', 60_000);
    // Tickets stored during the outage whose poster got no answer (or an error) are not lost either.
    const stored = (await store.list()).map((t) => t.id);
    expect(stored).toEqual(expect.arrayContaining(acknowledged));
    const done = await allIn(store, stored, 'pr_open', 30_000);
    for (const [id, t] of done) {
      expect({ id, timeline: shape(t) }).toEqual({ id, timeline: HAPPY_PATH });
      expect(t.outbox).toEqual([]);
    }
    // A ticket that was answered ok is never also kept as a rejected payload.
    const rejected = new Set(await rejectedTitles(env.bus));
    expect(acknowledged.map((id) => done.get(id)!.title).filter((title) => rejected.has(title))).toEqual([]);
    expect(coordinator.logs().some((l) => l.msg === 'nats connection status' && l.status === 'reconnect')).toBe(true);
  }, scaled(120_000));
});
