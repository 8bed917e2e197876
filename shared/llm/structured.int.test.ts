import { HumanMessage, SystemMessage } from '@langchain/core/messages';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { reply, script } from '../../test/fakes/llm.ts';
import { mockLlm } from '../../test/helpers/mockllm.ts';
import { ModelBehaviorError } from './errors.ts';
import { askStructured } from './structured.ts';

const Spec = z.object({
  summary: z.string().min(1),
  criteria: z.array(z.string().min(1)).min(1),
});
const spec = { schema: Spec, name: 'spec', description: 'The refined ticket' };
const prompt = [new SystemMessage('You refine tickets into specs.'), new HumanMessage('Ticket: add a --verbose flag')];
const good = { summary: 'Add --verbose', criteria: ['--verbose prints each step'] };

describe('structured output against mock-llm', () => {
  it('asks with a json_schema response format and returns the validated answer', async () => {
    await using mock = await mockLlm(script({ refiner: [reply.json(good, { expect: { responseFormat: 'spec' } })] }));
    const llm = mock.llm('refiner');
    expect(await askStructured(llm, prompt, spec)).toEqual({ value: good, repairs: 0 });
    expect(mock.server.calls[0]!.request.response_format).toEqual({
      type: 'json_schema',
      json_schema: {
        name: 'spec',
        description: 'The refined ticket',
        schema: expect.objectContaining({ type: 'object', required: ['summary', 'criteria'] }),
      },
    });
  });

  it('sends an off-schema answer back with the validation errors, and takes the repair', async () => {
    await using mock = await mockLlm(
      script({
        refiner: [
          reply.json({ summary: 'Add --verbose', criteria: 'prints steps' }),
          reply.json(good, { expect: { contains: ['does not match the required JSON schema "spec"', '- criteria: Invalid input: expected array, received string'] } }),
        ],
      }),
    );
    expect(await askStructured(mock.llm('refiner'), prompt, spec)).toEqual({ value: good, repairs: 1 });
    const repair = mock.server.calls[1]!.request.messages;
    expect(repair.slice(-2)).toEqual([
      { role: 'assistant', content: '{"summary":"Add --verbose","criteria":"prints steps"}' },
      {
        role: 'user',
        content:
          'Your previous answer does not match the required JSON schema "spec":\n- criteria: Invalid input: expected array, received string\nAnswer again with only the corrected JSON, nothing else.',
      },
    ]);
  });

  it('repairs an answer that is not JSON at all', async () => {
    await using mock = await mockLlm(
      script({ refiner: [reply.text('Sure! The summary is: add --verbose.'), reply.json(good, { expect: { contains: ['(root): the answer is not JSON'] } })] }),
    );
    expect(await askStructured(mock.llm('refiner'), prompt, spec)).toEqual({ value: good, repairs: 1 });
    expect(mock.transcript.exchanges.map((x) => x.usage?.estimated)).toEqual([false, false]);
  });

  it('gives up with off_schema after the bounded repairs, carrying the issues', async () => {
    await using mock = await mockLlm(
      script({ refiner: [reply.json({ summary: '' }), reply.json({ summary: '', criteria: [] }), reply.json({ summary: 'x', criteria: [''] })] }),
    );
    const err = await askStructured(mock.llm('refiner'), prompt, spec).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelBehaviorError);
    expect(err).toMatchObject({
      code: 'off_schema',
      retryable: false,
      issues: [{ path: 'criteria.0', message: 'Too small: expected string to have >=1 characters' }],
      lastAnswer: '{"summary":"x","criteria":[""]}',
    });
    expect((err as Error).message).toMatch(/^the refiner model answered off the "spec" schema 3 times: criteria\.0: /);
    expect(mock.server.calls).toHaveLength(3);
  });

  it('takes no repair when told so', async () => {
    await using mock = await mockLlm(script({ refiner: [reply.text('no')] }));
    await expect(askStructured(mock.llm('refiner'), prompt, { ...spec, maxRepairs: 0 })).rejects.toMatchObject({ code: 'off_schema' });
  });
});
