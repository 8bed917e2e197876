import type { WorkItemData } from '../../bus/index.ts';
import { answerLines, specLines } from '../kit/prompt.ts';
import { instructionLines, NO_INSTRUCTIONS, type Instructions } from '../kit/instructions.ts';
import type { CodingOutput, Spec, WritingTestsOutput } from '../../bus/index.ts';

export const REVIEWER_SYSTEM = `You are the reviewer of nightshift, a team of software agents. Review a change against its
spec before it becomes a pull request for humans. The tests were written first and proven to fail;
the change makes the whole suite pass (re-run by nightshift in a fresh sandbox).

Check: does the change do what the acceptance criteria say, no more and no less? Do the tests really
check each criterion? Is the code correct, clear and in the project's style? Use the tools to read
whatever you need. Then call \`answer\` once with:
- verdict: "approve", or "changes_requested" when something must change before humans see it;
- comments: concrete, actionable comments (with the file path when there is one); empty when none;
- coverage: for each acceptance criterion id, the names of the tests that check it;
- summary: two to five sentences for the pull request: what changed and why.`;

export function reviewerRequest(
  work: WorkItemData,
  spec: Spec,
  tests: WritingTestsOutput,
  coding: CodingOutput,
  diff: string,
  people: string | null = null,
  instructions: Instructions = NO_INSTRUCTIONS,
): string {
  return [
    ...specLines(work, spec),
    `Tests (commit ${tests.commit.slice(0, 12)}): ${tests.files.join(', ')}`,
    `Change (commit ${coding.commit.slice(0, 12)}): ${coding.notes}`,
    ...answerLines(work),
    ...(people ? ['', 'People reviewing the pull request asked for these changes; check that the change answers them:', people] : []),
    ...instructionLines(instructions),
    '',
    'The diff of the whole branch against its base:',
    diff,
  ].join('\n');
}
