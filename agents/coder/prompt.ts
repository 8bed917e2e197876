import type { WorkItemData } from '../../bus/index.ts';
import { answerLines, specLines } from '../kit/prompt.ts';
import type { RepoProfile } from '../../sandbox/index.ts';
import { instructionLines, NO_INSTRUCTIONS, type Instructions } from '../kit/instructions.ts';
import type { Spec, WritingTestsOutput } from '../../bus/index.ts';

export const CODER_SYSTEM = `You are the coder of nightshift, a team of software agents. Failing tests for the spec are
already committed. Change the production code so that the whole test suite passes.

Rules, checked mechanically on the diff: you may not add, change, rename or delete any test file, nor
change test configuration wherever it lives: runner, coverage and lint-gate configuration files, the
test scripts of package.json and every script or file the test command runs, the keys of test tools in
package.json (jest, mocha, ava, c8, nyc…) and their dependency entries, the pytest, coverage and tox
sections of pyproject.toml, setup.cfg and tox.ini, .nightshift.yml and .npmrc. A change that does is
thrown away. Make the tests pass by implementing the behaviour, never by special-casing the tests.

Use the tools (list_files, read_file, search) to read the tests and the code, then call \`answer\` once
with:
- files: whole files to write (path relative to the repository root, full new content);
- notes: what you changed and why, in a few sentences.`;

export function coderRequest(
  work: WorkItemData,
  spec: Spec,
  tests: WritingTestsOutput,
  profile: RepoProfile,
  review: string | null,
  feedback: string | null,
  people: string | null = null,
  instructions: Instructions = NO_INSTRUCTIONS,
): string {
  const parts = [
    ...specLines(work, spec),
    `Plan: ${spec.plan.join(' / ') || '(none)'}`,
    `Failing tests to make pass, in: ${tests.files.join(', ')}`,
    `The suite runs with: ${profile.test}`,
    '',
    'The suite currently fails like this:',
    tests.red.output,
    ...instructionLines(instructions),
  ];
  parts.push(...answerLines(work));
  if (people) parts.push('', 'People reviewing the pull request asked for these changes (new commits go to the same pull request):', people);
  if (review) parts.push('', 'The reviewer sent the work back with these comments:', review);
  if (feedback) parts.push('', 'Your previous attempt was not accepted:', feedback, '', 'Fix it.');
  return parts.join('\n');
}
