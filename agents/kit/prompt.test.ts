import { describe, expect, it } from 'vitest';
import type { WorkItemData } from '../../bus/index.ts';
import { DEFAULT_NODE_IMAGE, type RepoProfile } from '../../sandbox/index.ts';
import { CODER_SYSTEM, coderRequest } from '../coder/prompt.ts';
import { reviewerRequest } from '../reviewer/prompt.ts';
import { testAuthorRequest } from '../test-author/prompt.ts';
import { answerLines } from './prompt.ts';
import type { CodingOutput, Spec, WritingTestsOutput } from '../../bus/index.ts';

const SPEC: Spec = {
  summary: 'slugify takes maxLength',
  acceptanceCriteria: [{ id: 'AC1', text: 'cuts the slug at maxLength' }],
  plan: ['add the option'],
  affectedFiles: ['src/slugify.js'],
  openQuestions: [],
};
const RUN = { passed: false, exitCode: 1, failure: 'exit code 1', durationMs: 10, output: 'not ok 1', command: 'npm test', image: DEFAULT_NODE_IMAGE, at: '2030-01-01T00:00:00.000Z' };
const TESTS: WritingTestsOutput = { commit: 'a'.repeat(40), files: ['test/slugify.test.js'], changedExisting: [], coverage: [], baseline: { ...RUN, passed: true, exitCode: 0, failure: null }, red: RUN, attempts: 1 };
const CODING: CodingOutput = { commit: 'b'.repeat(40), files: ['src/slugify.js'], green: { ...RUN, passed: true, exitCode: 0, failure: null }, attempts: 1, notes: 'added maxLength' };
const PROFILE = { test: 'npm test', testFilePatterns: ['test/**'] } as unknown as RepoProfile;

function work(answers: WorkItemData['ticket']['answers']): WorkItemData {
  return {
    stage: 'coding',
    attempt: 1,
    ticket: { id: 'tk-0123456789', title: 'maxLength', body: 'b', type: 'feature', repo: { path: '/r' }, labels: [], answers, artifacts: {}, usage: {} },
  };
}

describe('the humans\' answers in every prompt after the refiner', () => {
  const answers = [{ text: 'stop reading src/slugify.js again; write the change', by: 'cli:ana', at: '2030-01-01T00:00:00.000Z' }];

  it('are listed oldest first, and absent when there are none', () => {
    expect(answerLines(work(answers))).toEqual(['', 'Answers from humans:', '- cli:ana: stop reading src/slugify.js again; write the change']);
    expect(answerLines(work([]))).toEqual([]);
  });

  it('reach the coder, the reviewer and the test author (a model stopped in a loop is told what to do)', () => {
    const line = '- cli:ana: stop reading src/slugify.js again; write the change';
    expect(coderRequest(work(answers), SPEC, TESTS, PROFILE, null, null)).toContain(line);
    expect(reviewerRequest(work(answers), SPEC, TESTS, CODING, 'diff')).toContain(line);
    expect(testAuthorRequest(work(answers), SPEC, PROFILE, null)).toContain(line);
    expect(coderRequest(work([]), SPEC, TESTS, PROFILE, null, null)).not.toContain('Answers from humans');
    expect(CODER_SYSTEM).not.toContain('Answers from humans');
  });
});
