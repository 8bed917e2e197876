import { describe, expect, it } from 'vitest';
import { createCoder } from '../../agents/coder/handler.ts';
import { createReviewer } from '../../agents/reviewer/handler.ts';
import { git, randomTicketId } from '../../shared/index.ts';
import {
  advanced,
  answer,
  branchCommits,
  branchOf,
  callsOf,
  craftBranch,
  expectScriptUsed,
  run,
  suiteRun,
  workItem,
} from '../helpers/agents.ts';
import {
  APPROVAL,
  DASHY_SOURCE,
  GOOD_CHANGE,
  GOOD_TESTS,
  goodSource,
  goodTestContent,
  guardWorld,
  MINUTES,
  SPEC,
  TEST_FILE,
  writeTests,
  type GuardSandbox,
} from './kit.ts';
import type { CodingOutput, ReviewingOutput, Spec, WritingTestsOutput } from '../../bus/index.ts';

/*
 * The guards of the reviewer (issue 3, "Tests show each guard working"), run on the fake sandbox
 * (agents/reviewer/guards.test.ts) and on Docker (agents/reviewer/guards.int.test.ts); test/guards/kit.ts says how.
 */

export function reviewerGuards(on: GuardSandbox): void {
  describe(`the guards of the reviewer (in-process handler, ${on.name}, mock-llm)`, () => {
    const world = guardWorld(on);

    it(
      'has the reviewer send work back without asking the model when the tests commit touched code or the fresh run fails',
      async () => {
        await using w = await world({});
        const reviewerWork = (id: string, testsSha: string, codeSha: string) =>
          workItem(w, 'reviewer', {
            ticketId: id,
            artifacts: {
              refining: { spec: SPEC },
              writing_tests: { commit: testsSha, files: [TEST_FILE], changedExisting: [], coverage: [], baseline: suiteRun(true), red: suiteRun(false), attempts: 1 },
              coding: { commit: codeSha, files: ['src/slugify.js'], green: suiteRun(true), attempts: 1, notes: 'done' },
            } satisfies { refining: { spec: Spec }; writing_tests: WritingTestsOutput; coding: CodingOutput },
          });

        // The tests commit also changed README.md (the suite itself passes).
        const sneaky = randomTicketId();
        const [sneakyTests, sneakyCode] = await craftBranch(w, sneaky, [
          { role: 'test-author', files: { [TEST_FILE]: goodTestContent, 'README.md': '# changed by the test author\n' } },
          { role: 'coder', files: { 'src/slugify.js': goodSource } },
        ]);
        const a = await run(w, createReviewer, 'reviewer', reviewerWork(sneaky, sneakyTests!, sneakyCode!));
        expect(a.outcome).toMatchObject({ kind: 'send_back', to: 'coding' });
        if (a.outcome.kind !== 'send_back') return;
        expect(a.outcome.reason).toContain('The tests commit also changes non-test files: README.md');
        expect(a.outcome.output).toMatchObject({ verdict: 'changes_requested', fresh: { passed: true }, round: 1 });

        // The change leaves the suite red in a fresh sandbox.
        const red = randomTicketId();
        const [redTests, redCode] = await craftBranch(w, red, [
          { role: 'test-author', files: { [TEST_FILE]: goodTestContent } },
          { role: 'coder', files: { 'src/slugify.js': DASHY_SOURCE } },
        ]);
        const b = await run(w, createReviewer, 'reviewer', reviewerWork(red, redTests!, redCode!));
        expect(b.outcome).toMatchObject({ kind: 'send_back', to: 'coding' });
        if (b.outcome.kind !== 'send_back') return;
        expect(b.outcome.reason).toContain('The suite fails in a fresh sandbox on a fresh clone (exit code 1)');
        expect(b.outcome.reason).toContain('never ends a cut slug with a dash');
        expect((b.outcome.output as ReviewingOutput).fresh).toMatchObject({ passed: false, exitCode: 1 });

        // Neither asked the model, opened a pull request or moved a branch.
        expect(w.mock.server.calls).toEqual([]);
        expect(w.store.prs.size).toBe(0);
        expect((await git(w.origin, ['rev-parse', branchOf(red)])).trim()).toBe(redCode);
        expectScriptUsed(w);
      },
      5 * MINUTES,
    );

    it(
      'has the reviewer open exactly one pull request per ticket, even when it runs twice',
      async () => {
        await using w = await world({
          'test-author': [answer(GOOD_TESTS)],
          coder: [answer(GOOD_CHANGE)],
          reviewer: [answer(APPROVAL, { prompt_tokens: 1_000, completion_tokens: 100 }), answer(APPROVAL, { prompt_tokens: 1_000, completion_tokens: 100 })],
        });
        const tests = await writeTests(w);
        const coding = advanced<CodingOutput>(
          (await run(w, createCoder, 'coder', workItem(w, 'coder', { artifacts: { refining: { spec: SPEC }, writing_tests: tests } }))).outcome,
        );
        const artifacts = { refining: { spec: SPEC }, writing_tests: tests, coding };

        const first = advanced<ReviewingOutput>((await run(w, createReviewer, 'reviewer', workItem(w, 'reviewer', { artifacts }))).outcome);
        const pr1 = w.store.prs.get(w.ticketId);
        const second = advanced<ReviewingOutput>((await run(w, createReviewer, 'reviewer', workItem(w, 'reviewer', { artifacts }))).outcome);
        const pr2 = w.store.prs.get(w.ticketId);

        expect(first).toMatchObject({ verdict: 'approve', fresh: { passed: true }, pullRequest: { number: 1, forge: 'local' } });
        expect(second.pullRequest).toEqual(first.pullRequest);
        expect(await w.store.list()).toHaveLength(1);
        expect(pr1).toMatchObject({ ticketId: w.ticketId, number: 1, branch: branchOf(w.ticketId), base: 'main', headSha: coding.commit, state: 'open' });
        expect(pr2).toMatchObject({ number: 1, createdAt: pr1!.createdAt, headSha: coding.commit });
        expect(Date.parse(pr2!.updatedAt)).toBeGreaterThan(Date.parse(pr1!.updatedAt));
        for (const part of ['## Acceptance criteria', '**AC1**', '| `test/slugify-max-length.test.js › cuts the slug at maxLength` | ❌ failed | ✅ passed |', 'red as required', 'fresh sandbox']) {
          expect(pr2!.body).toContain(part);
        }
        expect(callsOf(w, 'reviewer')).toHaveLength(2);
        expect((await branchCommits(w.origin, w.ticketId)).map((c) => c.author)).toEqual(['nightshift test-author', 'nightshift coder']);
        expectScriptUsed(w);
      },
      5 * MINUTES,
    );
  });
}
