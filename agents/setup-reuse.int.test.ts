import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import type { WritingTestsOutput } from '../bus/index.ts';
import { createDemoRepo } from '../cli/demo.ts';
import { git } from '../shared/index.ts';
import { describeDocker } from '../test/helpers/docker.ts';
import { advanced, answer, demoAnswer, run, workItem, world } from '../test/helpers/agents.ts';
import { createTestAuthor } from './test-author/handler.ts';

/*
 * Issue 17: a stage's dependency setup is kept and reused across the stage's retries and redeliveries
 * while its inputs are unchanged. The test author, in-process with real git, the real Docker sandbox
 * and mock-llm over HTTP, is delivered three times the same work item: the model endpoint answers 500
 * to the first two, the third delivery gets the demo's tests.
 */

const MINUTES = 60_000;
/** The setup of the repository below: what it leaves is ignored by git, like node_modules. */
const SETUP = 'mkdir -p .deps && od -An -N8 -tx8 /dev/urandom > .deps/stamp';

/** The demo repository with a setup step whose output its own suite needs: a setup not restored fails the baseline. */
async function repoWithSetup(dir: string): Promise<string> {
  const origin = await createDemoRepo(join(dir, 'origin'));
  writeFileSync(join(origin, '.nightshift.yml'), `setup: ${SETUP}\nsetup_network: none\n`);
  writeFileSync(join(origin, '.gitignore'), '.deps/\n');
  mkdirSync(join(origin, 'test'), { recursive: true });
  writeFileSync(
    join(origin, 'test', 'deps.test.js'),
    "import { test } from 'node:test';\nimport assert from 'node:assert';\nimport { existsSync } from 'node:fs';\n\ntest('the setup left its dependencies', () => assert.ok(existsSync('.deps/stamp')));\n",
  );
  await git(origin, ['add', '--all']);
  await git(origin, ['commit', '--quiet', '-m', 'a setup step'], { identity: { name: 'test', email: 'test@example.invalid' } });
  return origin;
}

describeDocker('the dependency setup of a stage', () => {
  it(
    'runs once however often a failing model endpoint makes the stage be delivered again, and the stage still proves its tests red',
    async () => {
      await using w = await world(
        {
          'test-author': [{ httpStatus: 500, error: 'upstream down' }, { httpStatus: 500, error: 'upstream down' }, answer(demoAnswer('test-author', 1))],
        },
        {},
        { origin: repoWithSetup },
      );
      const work = workItem(w, 'test-author');
      for (let delivery = 1; delivery <= 2; delivery++) {
        await expect(run(w, createTestAuthor, 'test-author', work), `delivery ${delivery}`).rejects.toMatchObject({ code: 'model_unavailable', retryable: true });
      }
      const out = advanced<WritingTestsOutput>((await run(w, createTestAuthor, 'test-author', work)).outcome);
      expect(out.red).toMatchObject({ passed: false });
      expect(out.baseline).toMatchObject({ passed: true });

      // The setup ran once, in the first delivery; the two others took what it left (their baselines,
      // which need it, passed).
      const setups = w.sandbox.runs.filter((r) => r.command === SETUP);
      expect(setups.map((r) => r.result.exitCode)).toEqual([0]);
      expect(w.sink.lines.filter((l) => l.msg === 'setup reused: kept from an earlier run of this stage on this commit')).toHaveLength(2);
    },
    10 * MINUTES,
  );

  it(
    'runs again for another ticket on the same repository: its key is the ticket, the commit and the whole setup',
    async () => {
      await using w = await world({ 'test-author': [{ httpStatus: 500, error: 'upstream down' }, { httpStatus: 500, error: 'upstream down' }] }, {}, { origin: repoWithSetup });
      await expect(run(w, createTestAuthor, 'test-author', workItem(w, 'test-author'))).rejects.toMatchObject({ code: 'model_unavailable' });
      await expect(run(w, createTestAuthor, 'test-author', workItem(w, 'test-author', { ticketId: `${w.ticketId.slice(0, -1)}${w.ticketId.endsWith('a') ? 'b' : 'a'}` }))).rejects.toMatchObject({
        code: 'model_unavailable',
      });
      expect(w.sandbox.runs.filter((r) => r.command === SETUP)).toHaveLength(2);
    },
    10 * MINUTES,
  );
});
