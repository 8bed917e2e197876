import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { type CodingOutput, createPullRequestStore, type Spec, type StageOutcome, type WorkItemData, type WritingTestsOutput } from '../../bus/index.ts';
import { createDemoRepo, DEMO_SCRIPT } from '../../cli/demo.ts';
import { DockerSandbox } from '../../sandbox/index.ts';
import { createLocalForge, git, loadConfig, randomTicketId, type Stage } from '../../shared/index.ts';
import { createForgeRouter } from '../../shared/forge/index.ts';
import { loadMockScript, memoryTranscript } from '../../shared/llm/index.ts';
import { describeDocker } from '../../test/helpers/docker.ts';
import { setup } from '../../test/helpers/env.ts';
import { mockLlm } from '../../test/helpers/mockllm.ts';
import type { AgentDeps } from '../kit/deps.ts';
import type { AgentHandler, HandlerContext } from '../runtime/runtime.ts';
import { createTestAuthor } from '../test-author/handler.ts';
import { createCoder } from './handler.ts';
import { testLabels } from '../../test/helpers/leftovers.ts';

const demo = await loadMockScript(DEMO_SCRIPT);
const scripted = (role: string, index: number) => {
  const entry = demo.roles[role]?.[index];
  if (!entry?.toolCalls) throw new Error(`the demo script has no ${role} response ${index}`);
  // The answer alone: what the prompt must contain is not what this test is about.
  return { toolCalls: entry.toolCalls, ...(entry.usage && { usage: entry.usage }) };
};
const spec = (() => {
  const call = scripted('refiner', 1).toolCalls?.find((c) => c.name === 'answer');
  if (!call || typeof call.arguments === 'string') throw new Error('the demo script has no refiner answer');
  return call.arguments as Spec;
})();
/** A second round's change: the demo's source with one more comment line (the suite stays green). */
const secondRound = (() => {
  const entry = structuredClone(scripted('coder', 0));
  const args = entry.toolCalls[0]!.arguments as { files: { path: string; content: string }[]; notes: string };
  args.files[0]!.content = `// Reviewed: trailing dashes stripped after the cut.\n${args.files[0]!.content}`;
  args.notes = 'a comment for the reviewer';
  return { toolCalls: entry.toolCalls, usage: { prompt_tokens: 900, completion_tokens: 90 } };
})();

function advanced<T>(outcome: StageOutcome): T {
  if (outcome.kind !== 'advance') throw new Error(`expected advance, got ${JSON.stringify(outcome).slice(0, 3_000)}`);
  return outcome.output as T;
}

describeDocker('coder attempts of one round', () => {
  it(
    "adopt an earlier attempt's pushed commit instead of asking the model again; a new round does not",
    async () => {
      await using env = await setup();
      await using mock = await mockLlm({ version: 1, roles: { 'test-author': [scripted('test-author', 1)], coder: [scripted('coder', 0), secondRound] } });
      const dir = mkdtempSync(join(tmpdir(), 'ns-adopt-'));
      try {
        const origin = await createDemoRepo(join(dir, 'origin'));
        const config = loadConfig({}, { NIGHTSHIFT_WORKSPACES_DIR: join(dir, 'workspaces'), OPENAI_BASE_URL: mock.server.url, NIGHTSHIFT_MODEL_RETRIES: '0' });
        const deps: AgentDeps = {
          config,
          log: mock.sink.log,
          sandbox: new DockerSandbox({ labels: testLabels() }),
          forges: createForgeRouter([], createLocalForge({ store: await createPullRequestStore(env.bus) })),
          transcript: memoryTranscript(),
          clock: () => new Date(),
        };
        const ticketId = randomTicketId();
        const artifacts: Record<string, unknown> = { refining: { spec } };
        /** One delivery of one dispatch, as the runtime makes it: the work id is the dispatch id. */
        const attempt = async (make: (d: AgentDeps) => AgentHandler, stage: Stage, n: number, round: number): Promise<StageOutcome> => {
          const work: WorkItemData = {
            stage,
            attempt: n,
            round,
            ticket: { id: ticketId, title: 'slugify: add a maxLength option', body: 'Cut slugs at maxLength.', type: 'feature', repo: { path: origin }, labels: [], answers: [], artifacts, usage: {} },
          };
          const ctx: HandlerContext = { role: stage === 'coding' ? 'coder' : 'test-author', workId: `${ticketId}.${stage}.${n}${round > 1 ? `.r${round}` : ''}`, deliveries: 1, signal: new AbortController().signal, log: mock.sink.log, trackUsage: () => undefined };
          return make(deps)(work, ctx);
        };
        const coderCalls = () => mock.server.calls.filter((c) => c.role === 'coder').length;
        const coderCommits = async () => (await git(origin, ['log', '--format=%H %an', `main..nightshift/${ticketId}`])).trim().split('\n').filter((l) => l.endsWith('coder')).map((l) => l.split(' ')[0]);

        artifacts.writing_tests = advanced<WritingTestsOutput>(await attempt(createTestAuthor, 'writing_tests', 1, 1));
        const first = advanced<CodingOutput>(await attempt(createCoder, 'coding', 1, 1));
        expect(coderCalls()).toBe(1);
        expect(await git(origin, ['log', '-1', '--format=%(trailers:key=Nightshift-Round,valueonly)', first.commit])).toContain('1');

        // Attempt 1's result never counted (it timed out at the coordinator after the push): attempt 2,
        // a new dispatch of the same round, adopts the pushed commit once the suite is green on it.
        const second = advanced<CodingOutput>(await attempt(createCoder, 'coding', 2, 1));
        expect(second).toMatchObject({ commit: first.commit, green: { passed: true } });
        expect(coderCalls()).toBe(1);
        expect(await coderCommits()).toEqual([first.commit]);

        // The reviewer sent the work back: round 2 starts from the model again, on top of round 1.
        const third = advanced<CodingOutput>(await attempt(createCoder, 'coding', 1, 2));
        expect(third.commit).not.toBe(first.commit);
        expect(coderCalls()).toBe(2);
        expect(await coderCommits()).toEqual([third.commit, first.commit]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    5 * 60_000,
  );
});
