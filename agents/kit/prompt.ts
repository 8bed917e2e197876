import type { WorkItemData, WorkTicket } from '../../bus/index.ts';
import type { Spec } from '../../bus/index.ts';

/** A bug report's own sections (steps, expected, actual, logs, environment), as prompt lines; none for other tickets. */
export function reportLines(t: WorkTicket, maxLogChars = 6_000): string[] {
  const r = t.report;
  if (!r) return [];
  const section = (name: string, text: string | undefined) => (text ? ['', `${name}:`, text.trim()] : []);
  const logs = r.logs && r.logs.length > maxLogChars ? `${r.logs.slice(0, maxLogChars)}\n[… ${r.logs.length - maxLogChars} more characters]` : r.logs;
  return [
    ...section('Steps to reproduce', r.steps),
    ...section('Expected', r.expected),
    ...section('Actual', r.actual),
    ...section('Logs', logs),
    ...section('Environment', r.environment),
  ];
}

/** The opening every stage after the refiner shows its model: the ticket, the spec and its criteria. */
export function specLines(work: WorkItemData, spec: Spec): string[] {
  const t = work.ticket;
  const bug = t.type === 'bug' ? ['', 'This ticket is a bug report:', t.body.trim(), ...reportLines(t)] : [];
  return [
    `Ticket ${t.id}: ${t.title}`,
    ...bug,
    '',
    `Spec: ${spec.summary}`,
    '',
    'Acceptance criteria:',
    ...spec.acceptanceCriteria.map((c) => `- ${c.id}: ${c.text}`),
    '',
  ];
}

/** The humans' answers to the ticket's questions, oldest first, as prompt lines; none when there are none. */
export function answerLines(work: WorkItemData): string[] {
  const answers = work.ticket.answers;
  return answers.length > 0 ? ['', 'Answers from humans:', ...answers.map((a) => `- ${a.by}: ${a.text}`)] : [];
}
