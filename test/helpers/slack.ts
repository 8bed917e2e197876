import { rmSync } from 'node:fs';
import { EscalationStore, HumanAnswered, TicketStore, type Bus, type Escalation, type WorkItemData } from '../../bus/index.ts';
import { createCoordinator } from '../../agents/coordinator/coordinator.ts';
import { createAgentRuntime, type AgentHandler } from '../../agents/runtime/runtime.ts';
import { createSlackService, type SlackService, type SlackSettings } from '../../gateways/slack/service.ts';
import { type Question, type Ticket } from '../../shared/index.ts';
import { startFakeSlack, type ApiCall, type FakeSlack, type StoredMessage } from '../fakes/slack.ts';
import { setup, type TestEnv } from './env.ts';
import { makeRepo } from './git.ts';
import { waitFor } from './wait.ts';
import { postTicket, readTicket, ticketWhen } from './tickets.ts';

export const CHANNEL = 'C0ESCALATE';
/** The triage channel: people's messages there become bug reports (when the world is started with `triage`). */
export const TRIAGE = 'C0TRIAGE01';
export const ADA = 'U0ADA00001';
export const BOB = 'U0BOB00001';
export const SIGNING_SECRET = 'fake-signing-secret-8f1e2d';

/**
 * One Slack test's world: a fake Slack, a private nats-server, an in-process coordinator, a refiner
 * that escalates the given questions until it has an answer, and the Slack gateway replicas the test
 * starts. Disposing it stops them newest first, then the server and the fake.
 */
export class SlackWorld implements AsyncDisposable {
  readonly fake: FakeSlack;
  readonly env: TestEnv;
  readonly tickets: TicketStore;
  readonly escalations: EscalationStore;
  /** The repository the triage channel's reports are about; null when the world has no triage channel. */
  readonly triageRepo: string | null;
  /** The work items the refiner was given, in order. */
  readonly refinerCalls: WorkItemData[] = [];
  readonly #stack: AsyncDisposableStack;
  readonly #stopCoordinator: () => Promise<void>;

  private constructor(
    fake: FakeSlack,
    env: TestEnv,
    tickets: TicketStore,
    escalations: EscalationStore,
    triageRepo: string | null,
    stack: AsyncDisposableStack,
    stopCoordinator: () => Promise<void>,
  ) {
    this.fake = fake;
    this.env = env;
    this.tickets = tickets;
    this.escalations = escalations;
    this.triageRepo = triageRepo;
    this.#stack = stack;
    this.#stopCoordinator = stopCoordinator;
  }

  /**
   * `overrides` are configuration variables (e.g. `NIGHTSHIFT_SLACK_MODE: 'http'`). With `triage`, the
   * channel TRIAGE is the triage channel, its reports about a fresh repository (`triageRepo`).
   */
  static async start(overrides: Record<string, string> = {}, opts: { triage?: boolean } = {}): Promise<SlackWorld> {
    const stack = new AsyncDisposableStack();
    try {
      const fake = stack.use(
        await startFakeSlack({
          channels: [
            { id: CHANNEL, name: 'escalations' },
            { id: TRIAGE, name: 'bugs' },
          ],
          users: [{ id: ADA, name: 'ada' }, { id: BOB, name: 'bob' }],
        }),
      );
      let triageRepo: string | null = null;
      if (opts.triage) {
        const repo = makeRepo();
        triageRepo = repo;
        stack.defer(() => rmSync(repo, { recursive: true, force: true }));
      }
      const env = stack.use(
        await setup({
          SLACK_BOT_TOKEN: fake.botToken,
          SLACK_APP_TOKEN: fake.appToken,
          SLACK_SIGNING_SECRET: SIGNING_SECRET,
          SLACK_CHANNEL: CHANNEL,
          SLACK_API_URL: fake.apiUrl,
          NIGHTSHIFT_SLACK_PORT: '0',
          ...(triageRepo !== null && { NIGHTSHIFT_SLACK_TRIAGE_CHANNEL: TRIAGE, NIGHTSHIFT_SLACK_TRIAGE_REPO: triageRepo }),
          ...overrides,
        }, { secure: true }),
      );
      const coordinator = createCoordinator({ bus: await env.connectAs('coordinator'), config: env.config, log: env.sink.log });
      await coordinator.start();
      let stopping: Promise<void> | undefined;
      const stopCoordinator = () => (stopping ??= coordinator.stop());
      stack.defer(stopCoordinator);
      const world = new SlackWorld(fake, env, new TicketStore(await env.bus.tickets()), await EscalationStore.open(env.bus), triageRepo, stack, stopCoordinator);
      return world;
    } catch (err) {
      await stack.disposeAsync();
      throw err;
    }
  }

  /** Stops the coordinator: nobody serves intake any more. */
  stopCoordinator(): Promise<void> {
    return this.#stopCoordinator();
  }

  get bus(): Bus {
    return this.env.bus;
  }

  /** A refiner that escalates `questions` while the ticket has no answer, and advances once it has one. */
  async refiner(questions: Question[]): Promise<void> {
    const handler: AgentHandler = async (work) => {
      this.refinerCalls.push(work);
      return work.ticket.answers.length === 0
        ? { kind: 'escalate', questions }
        : { kind: 'advance', output: { answers: work.ticket.answers } };
    };
    const runtime = createAgentRuntime({ bus: await this.env.connectAs('refiner'), role: 'refiner', handler, config: this.env.config, log: this.env.sink.log });
    await runtime.start();
    this.#stack.defer(() => runtime.stop());
  }

  /** Starts a gateway replica named `replica` (its log lines carry `{ replica }`). */
  async gateway(replica = 'r1', settings: Partial<SlackSettings> = {}): Promise<Pick<SlackService, 'port' | 'stop'>> {
    // The gateway runs on the Slack gateway's own credentials, as in production.
    const bus = await this.env.connectAs('slack');
    const service = createSlackService({ bus, config: this.env.config, log: this.env.sink.log.child({ replica }), settings, replica });
    await service.start();
    let stopping: Promise<void> | undefined;
    const stop = () => (stopping ??= service.stop());
    this.#stack.defer(stop);
    return { port: service.port, stop };
  }

  async post(title = 'Add a --verbose flag'): Promise<string> {
    const repo = makeRepo();
    this.#stack.defer(() => rmSync(repo, { recursive: true, force: true }));
    return postTicket(this.bus, repo, title);
  }

  ticket(id: string): Promise<Ticket> {
    return readTicket(this.tickets, id);
  }

  /** What an answer could change on a ticket (the outbox and its bookkeeping left out: they settle on their own). */
  async answerState(id: string): Promise<Pick<Ticket, 'state' | 'parked' | 'answers' | 'timeline' | 'applied'>> {
    const { state, parked, answers, timeline, applied } = await this.ticket(id);
    return { state, parked, answers, timeline, applied };
  }

  until(id: string, what: string, test: (t: Ticket) => boolean, timeoutMs?: number): Promise<Ticket> {
    return ticketWhen(this.tickets, id, what, test, timeoutMs);
  }

  inState(id: string, state: Ticket['state'], timeoutMs?: number): Promise<Ticket> {
    return this.until(id, `ticket ${id} in ${state}`, (t) => t.state === state, timeoutMs);
  }

  async escalation(id: string): Promise<Escalation | null> {
    return (await this.escalations.get(id))?.escalation ?? null;
  }

  /** Waits until the ticket's escalation is posted; returns it with its message as the fake holds it. */
  async posted(id: string): Promise<{ escalation: Escalation; message: StoredMessage }> {
    const escalation = await waitFor(`escalation of ${id} posted`, async () => {
      const e = await this.escalation(id);
      return e?.state === 'posted' ? e : undefined;
    });
    const message = this.fake.message(escalation.message!.channel, escalation.message!.ts);
    if (!message) throw new Error(`the fake holds no message ${escalation.message!.ts}`);
    return { escalation, message };
  }

  /** Waits until the ticket's escalation is resolved; returns it with its message as it now reads. */
  async resolved(id: string): Promise<{ escalation: Escalation; message: StoredMessage }> {
    const escalation = await waitFor(`escalation of ${id} resolved`, async () => {
      const e = await this.escalation(id);
      return e?.state === 'resolved' ? e : undefined;
    });
    const message = escalation.message && this.fake.message(escalation.message.channel, escalation.message.ts);
    if (!message) throw new Error(`escalation of ${id} resolved without a message`);
    return { escalation, message };
  }

  /** Successful `chat.postMessage` calls that posted an escalation (they carry its metadata). */
  escalationPosts(ticketId?: string): ApiCall[] {
    return this.fake.callsTo('chat.postMessage').filter((c) => {
      if (c.error !== null || typeof c.args.metadata !== 'string') return false;
      return ticketId === undefined || (JSON.parse(c.args.metadata) as { event_payload: { ticket_id: string } }).event_payload.ticket_id === ticketId;
    });
  }

  /** Successful `chat.postMessage` calls in the thread of `ts`. */
  threadPosts(ts: string): ApiCall[] {
    return this.fake.callsTo('chat.postMessage').filter((c) => c.error === null && c.args.thread_ts === ts);
  }

  /** Waits until the thread of `ts` (in `channel`) has `n` replies from the app; returns their texts. */
  threadReplies(channel: string, ts: string, n = 1): Promise<string[]> {
    return waitFor(`${n} repl${n === 1 ? 'y' : 'ies'} in the thread of ${ts}`, () => {
      const texts = this.threadPosts(ts)
        .filter((c) => c.args.channel === channel)
        .map((c) => String(c.args.text));
      return texts.length >= n ? texts : undefined;
    });
  }

  /** Tickets whose external id is `externalId`. */
  async ticketsWith(externalId: string): Promise<Ticket[]> {
    return (await this.tickets.list()).filter((t) => t.externalId === externalId);
  }

  updatesOf(ts: string): ApiCall[] {
    return this.fake.callsTo('chat.update').filter((c) => c.error === null && c.args.ts === ts);
  }

  /** How many `human.answered` events for the ticket reached the events stream. */
  async answeredOnBus(id: string): Promise<number> {
    const subject = this.bus.subjects.event(id, 'slack', HumanAnswered.type);
    const info = await this.bus.jsm.streams.info(this.bus.names.eventsStream, { subjects_filter: subject });
    return info.state.subjects?.[subject] ?? 0;
  }

  /** Log lines with this message (and these fields). */
  logs(msg: string, fields: Record<string, unknown> = {}): Record<string, unknown>[] {
    return this.env.sink.lines.filter((l) => l.msg === msg && Object.entries(fields).every(([k, v]) => l[k] === v));
  }

  /** Waits until `replica` has finished a step on the ticket while it was in `state`. */
  stepped(replica: string, ticketId: string, state: Ticket['state']): Promise<unknown> {
    return waitFor(`${replica} to handle ${ticketId} in ${state}`, () => this.logs('escalation step', { replica, ticketId, ticketState: state })[0]);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#stack.disposeAsync();
  }
}

/** The texts of a message's buttons, block by block. */
export function buttonLabels(m: StoredMessage): string[][] {
  return (m.blocks ?? [])
    .filter((b): b is { type: 'actions'; elements: { text: { text: string } }[] } => (b as { type: string }).type === 'actions')
    .map((b) => b.elements.map((e) => e.text.text));
}

/** All the text a message shows: its fallback text and every text in its blocks. */
export function shownText(m: StoredMessage): string {
  return JSON.stringify(m.blocks ?? []) + m.text;
}
