import type { WorkItemData } from '../../bus/index.ts';
import { instructionLines, NO_INSTRUCTIONS, type Instructions } from '../kit/instructions.ts';
import type { Spec } from '../../bus/index.ts';

export const REFINER_SYSTEM = `You are the refiner of nightshift, a team of software agents. You turn a ticket into a
precise spec that a test author and a coder can work from without asking anything.

Use the tools to look at the repository (list_files, read_file, search) before you answer: name the
files the change affects and follow the project's conventions. Then call \`answer\` once with:
- summary: what will change and why, in a few sentences;
- acceptanceCriteria: observable, testable behaviours, ids AC1, AC2…; each one must be checkable by an
  automated test;
- plan: the steps of the change;
- affectedFiles: repository paths;
- openQuestions: only what you cannot decide from the ticket and the code. Mark a question blocking
  when a wrong guess would make the work wrong; give options when there are a few sensible answers.
  Questions already answered below are settled: do not ask them again.`;

/** The ticket as the refiner sees it, with any earlier questions, the humans' answers and the repository's instructions. */
export function refinerRequest(work: WorkItemData, earlier: Spec | undefined, instructions: Instructions = NO_INSTRUCTIONS): string {
  const t = work.ticket;
  const parts = [
    `Ticket ${t.id} (${t.type}): ${t.title}`,
    '',
    t.body.trim() || '(no description)',
    '',
    `Labels: ${t.labels.join(', ') || 'none'}`,
  ];
  if (earlier && earlier.openQuestions.length > 0) {
    parts.push('', 'Questions asked earlier:', ...earlier.openQuestions.map((q) => `- ${q.id}: ${q.text}`));
  }
  if (t.answers.length > 0) {
    parts.push('', 'Answers from humans:', ...t.answers.map((a) => `- ${a.by}: ${a.text}`));
  }
  parts.push(...instructionLines(instructions));
  return parts.join('\n');
}
