import type { WorkItemData } from '../../bus/index.ts';
import type { Spec } from './artifacts.ts';

/** The opening every stage after the refiner shows its model: the ticket, the spec and its criteria. */
export function specLines(work: WorkItemData, spec: Spec): string[] {
  return [
    `Ticket ${work.ticket.id}: ${work.ticket.title}`,
    '',
    `Spec: ${spec.summary}`,
    '',
    'Acceptance criteria:',
    ...spec.acceptanceCriteria.map((c) => `- ${c.id}: ${c.text}`),
    '',
  ];
}
