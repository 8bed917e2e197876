import { HumanMessage, SystemMessage } from '@langchain/core/messages';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  askStructured,
  ModelTimeoutError,
  runToolLoop,
  TokenMeter,
  type Llm,
  type MemoryTranscript,
  type ModelSettings,
  type ScriptEntryInput,
  type ToolBox,
} from '../../shared/llm/index.ts';
import { reply } from '../fakes/llm.ts';

/** One contract case's model: a client for one role, and what it recorded. */
export interface ModelUnderTest extends AsyncDisposable {
  llm(opts?: { meter?: TokenMeter; settings?: Partial<ModelSettings>; signal?: AbortSignal }): Llm;
  transcript: MemoryTranscript;
}

/** How a contract run gets its endpoint. */
export interface ModelContractInit {
  /** Shown in the suite name. */
  name: string;
  /**
   * A model for one case. `answers` are what a capable model answers to the case's prompts, in order:
   * a scripted endpoint (mock-llm) serves them; a real one ignores them and is asked for real.
   */
  model(role: string, answers: ScriptEntryInput[]): Promise<ModelUnderTest>;
  /** Per-case time limit: a real endpoint takes seconds per call. */
  timeoutMs: number;
}

const Sum = z.object({ sum: z.number().int() });

/** A tool box of one tool, `add`, that records its calls. */
function adder(): ToolBox & { calls: unknown[] } {
  const calls: unknown[] = [];
  return {
    calls,
    definitions: [
      {
        type: 'function',
        function: {
          name: 'add',
          description: 'Adds two integers and returns their sum.',
          parameters: { type: 'object', properties: { a: { type: 'integer' }, b: { type: 'integer' } }, required: ['a', 'b'], additionalProperties: false },
        },
      },
    ],
    async run(name, args) {
      calls.push(args);
      const parsed = z.object({ a: z.number(), b: z.number() }).safeParse(args);
      if (name !== 'add' || !parsed.success) return { status: 'error', content: 'add takes { a, b }, two integers' };
      return { status: 'ok', content: String(parsed.data.a + parsed.data.b) };
    },
  };
}

/**
 * What nightshift needs of every model endpoint, through its own client (`createLlm`, the real
 * `@langchain/openai` client): run against mock-llm always (`shared/llm/model.contract.int.test.ts`),
 * and against a real OpenAI-compatible endpoint when `OPENAI_BASE_URL` is set, so that the mock cannot
 * drift from what real servers do. The cases ask only what any capable chat model answers the same way.
 */
export function modelContract(init: ModelContractInit): void {
  describe(`Model contract: ${init.name}`, { timeout: init.timeoutMs }, () => {
    it('answers a plain question, counts its tokens against the ticket, and records the exchange', async () => {
      await using m = await init.model('contract-plain', [reply.text('pong')]);
      const meter = new TokenMeter({ ticketId: 'tk-contract01', budget: 100_000 });
      const text = await m.llm({ meter }).complete([new SystemMessage('You answer with one lowercase word and nothing else.'), new HumanMessage('Reply with the word pong.')]);
      expect(text.trim().toLowerCase()).toContain('pong');
      expect(meter.usedTokens).toBeGreaterThan(0);
      expect(m.transcript.exchanges).toHaveLength(1);
    });

    it('gives structured output that the schema accepts', async () => {
      await using m = await init.model('contract-structured', [reply.json({ sum: 5 })]);
      const result = await askStructured(m.llm(), [new SystemMessage('You answer in JSON.'), new HumanMessage('What is 2 + 3? Answer as {"sum": <integer>}.')], { schema: Sum, name: 'sum' });
      expect(result.value).toEqual({ sum: 5 });
    });

    it('calls a tool, reads its result, and answers through the answer tool', async () => {
      await using m = await init.model('contract-tools', [reply.toolCall('add', { a: 19, b: 23 }), reply.toolCall('answer', { sum: 42 })]);
      const tools = adder();
      const result = await runToolLoop(
        m.llm(),
        [new SystemMessage('You never do arithmetic yourself: you use the add tool, then give its result with the answer tool.'), new HumanMessage('What is 19 + 23?')],
        { tools, output: Sum, maxSteps: 6 },
      );
      expect(result.value).toEqual({ sum: 42 });
      expect(tools.calls).toContainEqual({ a: 19, b: 23 });
    });

    it('fails a call that outlives its timeout as model_timeout, and a call whose signal aborts at once', async () => {
      await using m = await init.model('contract-bounds', [reply.text('late', { delayMs: 10_000 }), reply.text('never read', { delayMs: 10_000 })]);
      const late = m.llm({ settings: { timeoutMs: 300, retries: 0 } }).complete([new HumanMessage('Write a long poem about the sea.')]);
      await expect(late).rejects.toBeInstanceOf(ModelTimeoutError);
      const stop = new AbortController();
      const aborted = m.llm({ signal: stop.signal }).complete([new HumanMessage('Write a long poem about the sea.')]);
      setTimeout(() => stop.abort(new Error('stopped by the test')), 100);
      const err = await aborted.then(() => null, (e: unknown) => e);
      expect(err).not.toBeInstanceOf(ModelTimeoutError);
      expect(err).toMatchObject({ name: 'AbortError' });
    });
  });
}
