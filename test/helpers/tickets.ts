import { TicketStore, type Bus } from '../../bus/index.ts';
import { IntakeReply, type Ticket } from '../../shared/index.ts';
import { waitFor } from './wait.ts';

/** Posts a ticket for `repo` on the intake subject and returns its id; a refusal throws. */
export async function postTicket(bus: Bus, repo: string, title = 'Add a --verbose flag'): Promise<string> {
  const msg = await bus.nc.request(
    bus.subjects.ticketIntake,
    JSON.stringify({ title, body: 'so that users see what happens', repo: { path: repo } }),
    { timeout: 10_000 },
  );
  const reply = IntakeReply.parse(msg.json());
  if (!reply.ok) throw new Error(`intake refused the ticket: ${reply.error.message}`);
  return reply.id;
}

/** The stored ticket; a missing one throws. */
export async function readTicket(store: TicketStore, id: string): Promise<Ticket> {
  const stored = await store.get(id);
  if (!stored) throw new Error(`no ticket ${id}`);
  return stored.ticket;
}

/** Waits until the stored ticket passes `test`, and returns it. */
export function ticketWhen(store: TicketStore, id: string, what: string, test: (t: Ticket) => boolean, timeoutMs = 20_000): Promise<Ticket> {
  return waitFor(
    what,
    async () => {
      const t = await readTicket(store, id);
      return test(t) ? t : undefined;
    },
    { timeoutMs },
  );
}

/** Events on the bus's events stream so far. */
export async function eventCount(bus: Bus): Promise<number> {
  return (await bus.jsm.streams.info(bus.names.eventsStream)).state.messages;
}

/** Waits until the coordinators have applied every event on the stream: their consumer holds nothing pending or unacknowledged. */
export async function coordinatorSettled(bus: Bus): Promise<void> {
  await waitFor('the coordinator to apply every event', async () => {
    const info = await bus.jsm.consumers.info(bus.names.eventsStream, bus.names.coordinatorConsumer);
    return info.num_pending === 0 && info.num_ack_pending === 0;
  });
}
