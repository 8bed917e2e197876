import { TriagingOutput, type Classification, type Triage } from '../agents/kit/artifacts.ts';
import type { Ticket } from '../shared/index.ts';

/** How triage ended for a ticket: its classification, `duplicate`, or `pending` while a bug is not yet triaged. */
export type TriageOutcome = Classification | 'duplicate' | 'pending';

/** The triage result a ticket carries, if any. */
export function triageOf(t: Ticket): Triage | undefined {
  const parsed = TriagingOutput.safeParse(t.artifacts.triaging);
  return parsed.success ? parsed.data.triage : undefined;
}

/** A ticket's triage outcome; undefined for a ticket that was never a bug report. */
export function triageOutcome(t: Ticket): TriageOutcome | undefined {
  if (t.state === 'duplicate') return 'duplicate';
  const triage = triageOf(t);
  if (triage) return triage.classification;
  return t.type === 'bug' ? 'pending' : undefined;
}

/** Counts of triage outcomes over tickets, every outcome named (zero included). */
export function triageCounts(tickets: readonly Ticket[]): Record<TriageOutcome, number> {
  const counts: Record<TriageOutcome, number> = { bug: 0, not_bug: 0, needs_info: 0, duplicate: 0, pending: 0 };
  for (const t of tickets) {
    const o = triageOutcome(t);
    if (o) counts[o] += 1;
  }
  return counts;
}

/** Ids of the tickets marked duplicates of `id`, oldest first. */
export function duplicatesOf(tickets: readonly Ticket[], id: string): string[] {
  return tickets.filter((t) => t.duplicateOf === id).map((t) => t.id);
}
