import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HumanMessage, SystemMessage } from '@langchain/core/messages';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { reply, script } from '../../test/fakes/llm.ts';
import { mockLlm, type TestMockLlm } from '../../test/helpers/mockllm.ts';
import { runToolLoop } from './loop.ts';
import { parseMockScript } from './script.ts';
import { askStructured } from './structured.ts';
import { createRepoTools } from './tools.ts';
import { toMockScript } from './transcript.ts';
import { TokenMeter } from './usage.ts';

const Spec = z.object({ summary: z.string().min(1), criteria: z.array(z.string()).min(1) });
const Plan = z.object({ files: z.array(z.string()).min(1) });

let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ns-replay-'));
  await mkdir(join(root, 'src'));
  await writeFile(join(root, 'src/add.ts'), 'export const add = (a: number, b: number) => a + b;\n');
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A small run of three roles on one ticket: a repaired spec, a tool loop with a retry, a streamed note. */
async function run(mock: TestMockLlm) {
  const ticketId = 'T-REPLAY';
  const meter = new TokenMeter({ ticketId, budget: 100_000 });
  const spec = await askStructured(mock.llm('refiner', { ticketId, meter }), [new SystemMessage('Refine.'), new HumanMessage('Ticket: add() takes strings')], {
    schema: Spec,
    name: 'spec',
  });
  const plan = await runToolLoop(
    mock.llm('coder', { ticketId, meter, settings: { retries: 1 } }),
    [new SystemMessage('Plan the change.'), new HumanMessage(`Spec: ${JSON.stringify(spec.value)}`)],
    { tools: await createRepoTools({ root }), output: Plan },
  );
  const note = await mock.llm('reviewer', { ticketId, meter }).call([new HumanMessage(`Review the plan: ${plan.value.files.join(', ')}`)], { stream: true });
  return { spec, plan, note: note.text, totals: meter.totals() };
}

describe('transcript replay', () => {
  it('replays a recorded run to the same outputs through a fresh mock-llm', async () => {
    const recordedScript = script({
      refiner: [
        reply.text('The spec: strings are accepted.', { usage: { prompt_tokens: 40, completion_tokens: 8 } }),
        reply.json({ summary: 'add() takes strings', criteria: ['add("1", 2) is 3'] }, { usage: { prompt_tokens: 90, completion_tokens: 20 } }),
      ],
      coder: [
        reply.toolCall('search', { pattern: 'add', glob: '*.ts' }, { usage: { prompt_tokens: 120, completion_tokens: 15 } }),
        reply.httpError(502, 'bad gateway'),
        reply.toolCalls([{ name: 'read_file', args: { path: 'src/add.ts' } }], { usage: { prompt_tokens: 150, completion_tokens: 12 } }),
        reply.toolCall('answer', { files: ['src/add.ts'] }, { usage: { prompt_tokens: 180, completion_tokens: 10 } }),
      ],
      reviewer: [reply.text('The plan touches one file; fine.', { usage: { prompt_tokens: 30, completion_tokens: 9 } })],
    });

    let recorded: Awaited<ReturnType<typeof run>>;
    let replayScript;
    let responses;
    {
      await using first = await mockLlm(recordedScript);
      recorded = await run(first);
      expect(first.transcript.exchanges).toHaveLength(7);
      expect(first.transcript.exchanges.filter((x) => x.error).map((x) => x.error!.status)).toEqual([502]);
      responses = first.transcript.exchanges.filter((x) => x.response).map((x) => [x.role, x.response]);
      replayScript = toMockScript(first.transcript.exchanges, { description: 'replay of T-REPLAY', expectPromptPrefix: 40 });
    }
    expect(parseMockScript(JSON.parse(JSON.stringify(replayScript)))).toEqual(replayScript);
    expect(Object.fromEntries(Object.entries(replayScript.roles).map(([r, e]) => [r, e.length]))).toEqual({ refiner: 2, coder: 3, reviewer: 1 });

    await using second = await mockLlm(replayScript);
    const replayed = await run(second);
    expect(replayed).toEqual(recorded);
    expect(replayed.spec.repairs).toBe(1);
    expect(replayed.totals.byRole.coder).toEqual({ inputTokens: 450, outputTokens: 37, totalTokens: 487, calls: 3 });
    expect(second.transcript.exchanges.map((x) => [x.role, x.response])).toEqual(responses);
  });

  it('fails loudly when the replayed run asks something else', async () => {
    let replayScript;
    {
      await using first = await mockLlm(script({ refiner: [reply.text('yes')] }));
      await first.llm('refiner').complete([new HumanMessage('Is add() pure?')]);
      replayScript = toMockScript(first.transcript.exchanges, { expectPromptPrefix: 40 });
    }
    await using second = await mockLlm(replayScript);
    second.allowFailures();
    await expect(second.llm('refiner').complete([new HumanMessage('Is sub() pure?')])).rejects.toThrow(
      /expected the last user\/tool message to contain "Is add\(\) pure\?"/,
    );
    expect(await second.llm('refiner').complete([new HumanMessage('Is add() pure?')])).toBe('yes');
  });
});
