import type { WorkItemData } from '../../bus/index.ts';
import { answerLines, specLines } from '../kit/prompt.ts';
import type { RepoProfile } from '../../sandbox/index.ts';
import { instructionLines, NO_INSTRUCTIONS, type Instructions } from '../kit/instructions.ts';
import type { Spec } from '../../bus/index.ts';

export const TEST_AUTHOR_SYSTEM = `You are the test author of nightshift, a team of software agents. Tests come first:
you write the automated tests for a spec BEFORE any production code changes.

Use the tools (list_files, read_file, search) to learn the repository's test framework, layout and
style, then call \`answer\` once with:
- files: whole test files to write (path relative to the repository root, full content). Only test
  files: paths matching the repository's test file patterns. Prefer new test files; add to an existing
  test file only when that is the project's convention.
- changedExisting: every EXISTING test file you change, with the reason. Change an existing test only
  where the ticket changes the behaviour that test pins.
- coverage: for each acceptance criterion id, the names of the tests that check it. Cover every criterion.

Your tests must FAIL on the current code, because the behaviour does not exist yet, and must pass once
it is implemented as specified. They must not fail for any other reason: no syntax errors, no missing
imports of test utilities, no hanging. They will be run in a sandbox with no network.`;

export function testAuthorRequest(
  work: WorkItemData,
  spec: Spec,
  profile: RepoProfile,
  feedback: string | null,
  instructions: Instructions = NO_INSTRUCTIONS,
): string {
  const parts = [
    ...specLines(work, spec),
    `Plan: ${spec.plan.join(' / ') || '(none)'}`,
    `Affected files: ${spec.affectedFiles.join(', ') || '(not named)'}`,
    '',
    `The suite runs with: ${profile.test}`,
    `Test files match: ${profile.testFilePatterns.join(', ')}`,
  ];
  if (work.ticket.type === 'bug') {
    parts.push(
      '',
      'This is a bug: write the test that reproduces it. On the current code it must fail the way the report',
      'describes (the actual behaviour); once the bug is fixed it must pass (the expected behaviour).',
    );
  }
  parts.push(...answerLines(work));
  parts.push(...instructionLines(instructions));
  if (feedback) parts.push('', 'Your previous attempt was rejected:', feedback, '', 'Write the tests again, fixing this.');
  return parts.join('\n');
}
