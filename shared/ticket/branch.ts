import { TicketId } from './schema.ts';

/**
 * The ticket branch grammar, written once: `nightshift/<ticket id>` is the one branch nightshift writes
 * for a ticket (the base branch never), and a branch names a ticket only when it is exactly that.
 */
const PREFIX = 'nightshift/';

/** The branch nightshift works on for a ticket. */
export function ticketBranch(ticketId: string): string {
  return `${PREFIX}${ticketId}`;
}

/** The ticket a branch belongs to, or null when it is not a ticket branch (nothing a refspec could bend). */
export function ticketOfBranch(branch: string): TicketId | null {
  if (!branch.startsWith(PREFIX)) return null;
  const id = TicketId.safeParse(branch.slice(PREFIX.length));
  return id.success ? id.data : null;
}
