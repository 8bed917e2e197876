import { describe, expect, it } from 'vitest';
import { createRefiner } from '../../agents/refiner/handler.ts';
import { advanced, answer, callsOf, expectScriptUsed, run, told, tool, workItem } from '../helpers/agents.ts';
import { guardWorld, MINUTES, SPEC, type GuardSandbox } from './kit.ts';
import type { Spec } from '../../bus/index.ts';

/*
 * The guards of the refiner (issue 3, "Tests show each guard working"), run on the fake sandbox
 * (agents/refiner/guards.test.ts) and on Docker (agents/refiner/guards.int.test.ts); test/guards/kit.ts says how.
 */

export function refinerGuards(on: GuardSandbox): void {
  describe(`the guards of the refiner (in-process handler, ${on.name}, mock-llm)`, () => {
    const world = guardWorld(on);

    it(
      'parks a blocking question of the refiner with its options, and resumes with the answer in the prompt',
      async () => {
        const question = { id: 'q-cut', text: 'Should a cut slug end at a word boundary, or may it cut a word?', options: ['word boundary', 'cut words'], blocking: true };
        const aside = { id: 'q-docs', text: 'Should the README mention maxLength?', blocking: false };
        await using w = await world({
          refiner: [
            tool('read_file', { path: 'src/slugify.js' }),
            answer({ ...SPEC, openQuestions: [question, aside] }),
            answer({ ...SPEC, openQuestions: [] }),
          ],
        });

        const first = await run(w, createRefiner, 'refiner', workItem(w, 'refiner', { artifacts: {} }));

        expect(first.outcome.kind).toBe('escalate');
        if (first.outcome.kind !== 'escalate') return;
        expect(first.outcome.questions).toEqual([question]);
        const parked = first.outcome.output as { spec: Spec };
        expect(parked.spec.openQuestions).toEqual([question, aside]);
        expect(told(callsOf(w, 'refiner')[1])).toContain('export function slugify');

        const answers = [{ text: 'cut words, then drop a trailing dash', by: 'alice', at: '2030-01-01T10:00:00.000Z' }];
        const second = await run(w, createRefiner, 'refiner', workItem(w, 'refiner', { artifacts: { refining: parked }, answers }));

        expect(advanced<{ spec: Spec }>(second.outcome).spec.openQuestions).toEqual([]);
        const resumed = told(callsOf(w, 'refiner')[2]);
        expect(resumed).toContain('Questions asked earlier:');
        expect(resumed).toContain(`- q-cut: ${question.text}`);
        expect(resumed).toContain('Answers from humans:');
        expect(resumed).toContain('- alice: cut words, then drop a trailing dash');
        expect(told(callsOf(w, 'refiner')[0])).not.toContain('Answers from humans:');
        expectScriptUsed(w);
      },
      5 * MINUTES,
    );

    it(
      'escalates with the token-budget question when the refiner goes over the budget mid-loop',
      async () => {
        await using w = await world(
          {
            refiner: [
              tool('read_file', { path: 'src/slugify.js' }, { prompt_tokens: 400, completion_tokens: 100 }),
              tool('read_file', { path: 'README.md' }, { prompt_tokens: 500, completion_tokens: 100 }),
            ],
          },
          { NIGHTSHIFT_TOKEN_BUDGET: '1000' },
        );

        const refined = await run(w, createRefiner, 'refiner', workItem(w, 'refiner', { artifacts: {} }));
        expect(refined.outcome.kind).toBe('escalate');
        if (refined.outcome.kind !== 'escalate') return;
        expect(refined.outcome.questions).toHaveLength(1);
        expect(refined.outcome.questions[0]).toMatchObject({ id: 'token-budget', options: ['resume', 'cancel'], blocking: true });
        expect(refined.outcome.questions[0]!.text).toContain('used 1100 of its 1000 tokens during refining');
        expect(refined.usage).toEqual([{ inputTokens: 900, outputTokens: 200, totalTokens: 1100, calls: 2 }]);
        expect(callsOf(w, 'refiner')).toHaveLength(2);
        expectScriptUsed(w);
      },
      5 * MINUTES,
    );
  });
}
