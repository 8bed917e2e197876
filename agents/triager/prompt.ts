import type { WorkItemData } from '../../bus/index.ts';
import type { Ticket } from '../../shared/index.ts';
import { reportLines } from '../kit/prompt.ts';
import { instructionLines, NO_INSTRUCTIONS, type Instructions } from '../kit/instructions.ts';
import type { Scored } from './similarity.ts';

export const TRIAGER_SYSTEM = `You are the triager of nightshift, a team of software agents. You sort bug reports before
anyone writes code. Use the tools (list_files, read_file, search) to check the report against the
repository, then call \`answer\` once with:
- classification: "bug" when the code does not do what it should and the report says enough to
  reproduce it; "not_bug" when the behaviour is intended, documented, or the report is not about this
  repository; "needs_info" when you cannot tell what goes wrong or how to make it happen.
- severity: critical (data loss, security, everyone blocked), high, medium or low.
- component: the part of the repository the bug is in (a module, package or directory name).
- reason: why, in a few sentences, naming the code you looked at.
- duplicateOf: the id of a listed similar ticket that reports the SAME fault, else null. Different
  words for the same fault are a duplicate; a similar symptom with a different cause is not. Only ids
  from the list are accepted.
- questions: for needs_info only, what the reporter must tell you (one question each); else [].
- spec: for a bug that is not a duplicate, the spec of its fix. The first acceptance criterion is
  the reproduction: the reported steps give the expected behaviour (a test of it fails on the current
  code). Add criteria for related cases the fix must keep right. Name the affected files. Else null.`;

/** An open ticket as the triager sees it in the list of similar ones. */
export function describeSimilar(s: Scored, t: Ticket | undefined): string {
  const excerpt = (t?.body ?? '').replace(/\s+/g, ' ').trim().slice(0, 300);
  return `- ${s.id} [${t?.state ?? 'unknown'}, similarity ${s.score.toFixed(2)}]: ${s.title}${excerpt ? `\n  ${excerpt}` : ''}`;
}

/** The report, the open tickets most like it, and what humans answered to earlier questions. */
export function triagerRequest(
  work: WorkItemData,
  similar: readonly string[],
  earlierQuestions: readonly string[],
  instructions: Instructions = NO_INSTRUCTIONS,
): string {
  const t = work.ticket;
  const parts = [
    `Bug report ${t.id}: ${t.title}`,
    `Reported by: ${t.requester ?? 'unknown'}`,
    '',
    t.body.trim() || '(no description)',
    ...reportLines(t),
    '',
    `Labels: ${t.labels.join(', ') || 'none'}`,
    '',
    similar.length > 0 ? 'Open tickets of this repository that look similar (most similar first):' : 'No open ticket of this repository looks similar.',
    ...similar,
  ];
  if (earlierQuestions.length > 0) parts.push('', 'Questions asked earlier:', ...earlierQuestions.map((q) => `- ${q}`));
  if (t.answers.length > 0) parts.push('', 'Answers from humans:', ...t.answers.map((a) => `- ${a.by}: ${a.text}`));
  parts.push(...instructionLines(instructions));
  return parts.join('\n');
}
