import { rmSync } from 'node:fs';
import { TicketStore, type Bus, type WorkItemData } from '../../bus/index.ts';
import { untilAborted, type Role, type Ticket } from '../../shared/index.ts';
import { createCoordinator } from '../../agents/coordinator/coordinator.ts';
import { createAgentRuntime, type AgentHandler, type AgentRuntime, type HandlerContext } from '../../agents/runtime/runtime.ts';
import type { TestEnv } from './env.ts';
import { makeRepo } from './git.ts';
import { postTicket, readTicket, ticketWhen } from './tickets.ts';
import { waitFor } from './wait.ts';

/** What a handler saw on one call. */
export interface Call {
  ticketId: string;
  stage: WorkItemData['stage'];
  attempt: number;
  deliveries: number;
  answers: WorkItemData['ticket']['answers'];
  ctx: HandlerContext;
}

/** A latch a handler can wait on; opened by the test (or at teardown). */
export interface Gate {
  open(): void;
  /** Resolves when the gate opens or `signal` aborts, whichever comes first. */
  wait(signal: AbortSignal): Promise<void>;
}

function gate(): Gate {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, wait: (signal) => Promise.race([opened, untilAborted(signal)]) };
}

/**
 * One test's world: a coordinator and the agents the test starts. Disposing it opens every gate, then
 * stops the agents and the coordinator (newest first), before the test's server goes away.
 */
export class Harness implements AsyncDisposable {
  readonly env: TestEnv;
  readonly store: TicketStore;
  readonly calls: Call[] = [];
  readonly #stack = new AsyncDisposableStack();
  readonly #gates: Gate[] = [];

  private constructor(env: TestEnv, store: TicketStore) {
    this.env = env;
    this.store = store;
  }

  static async start(env: TestEnv): Promise<Harness> {
    const h = new Harness(env, new TicketStore(await env.bus.tickets()));
    // On a secure server each component runs on its own kind's credentials.
    const coordinator = createCoordinator({ bus: env.secure ? await env.connectAs('coordinator') : env.bus, config: env.config, log: env.sink.log });
    await coordinator.start();
    h.#stack.defer(() => coordinator.stop());
    return h;
  }

  get bus(): Bus {
    return this.env.bus;
  }

  /** Wraps `handler` so that every call is recorded in `calls`. */
  recorded(handler: AgentHandler): AgentHandler {
    return async (work, ctx) => {
      this.calls.push({ ticketId: work.ticket.id, stage: work.stage, attempt: work.attempt, deliveries: ctx.deliveries, answers: work.ticket.answers, ctx });
      return handler(work, ctx);
    };
  }

  /** Starts an agent of `role` running `handler` (recorded); it is stopped at teardown unless stopped before. */
  async agent(role: Role, handler: AgentHandler): Promise<Pick<AgentRuntime, 'stop'>> {
    const bus = this.env.secure ? await this.env.connectAs(role) : this.bus;
    const runtime = createAgentRuntime({ bus, role, handler: this.recorded(handler), config: this.env.config, log: this.env.sink.log });
    await runtime.start();
    let stopped: Promise<void> | undefined;
    const stop = () => (stopped ??= runtime.stop());
    this.#stack.defer(stop);
    return { stop };
  }

  gate(): Gate {
    const g = gate();
    this.#gates.push(g);
    return g;
  }

  async post(title = 'Add a --verbose flag'): Promise<string> {
    const repo = makeRepo();
    this.#stack.defer(() => rmSync(repo, { recursive: true, force: true }));
    return postTicket(this.bus, repo, title);
  }

  ticket(id: string): Promise<Ticket> {
    return readTicket(this.store, id);
  }

  /** Waits until the ticket passes `test`. */
  until(id: string, what: string, test: (t: Ticket) => boolean, timeoutMs?: number): Promise<Ticket> {
    return ticketWhen(this.store, id, what, test, timeoutMs);
  }

  inState(id: string, state: Ticket['state'], timeoutMs?: number): Promise<Ticket> {
    return this.until(id, `ticket ${id} in ${state}`, (t) => t.state === state, timeoutMs);
  }

  /** Waits until `n` handler calls have been made. */
  callCount(n: number, timeoutMs?: number): Promise<Call[]> {
    return waitFor(`${n} handler call(s)`, () => (this.calls.length >= n ? this.calls : undefined), { timeoutMs });
  }

  /** Waits until the role's durable consumer holds nothing: no pending, no unacknowledged item. */
  async consumerIdle(role: Role) {
    return waitFor(`${role} consumer idle`, async () => {
      const info = await this.bus.jsm.consumers.info(this.bus.names.workStream, this.bus.names.roleConsumer(role));
      return info.num_pending === 0 && info.num_ack_pending === 0 ? info : undefined;
    });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    for (const g of this.#gates) g.open();
    await this.#stack.disposeAsync();
  }
}
