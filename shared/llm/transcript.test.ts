import { describe, expect, it } from 'vitest';
import { parseMockScript } from './script.ts';
import { Exchange, memoryTranscript, toMockScript } from './transcript.ts';

let n = 0;
function exchange(role: string, at: string, fields: Partial<Exchange>): Exchange {
  n += 1;
  return Exchange.parse({
    v: 1,
    id: `x${n}`,
    ticketId: 'T1',
    role,
    model: 'm',
    seq: 1,
    attempt: 1,
    startedAt: at,
    endedAt: at,
    durationMs: 5,
    request: { messages: [{ role: 'user', content: `ticket ${n}: fix the bug` }], stream: false },
    ...fields,
  });
}

const usage = { inputTokens: 10, outputTokens: 4, totalTokens: 14, estimated: false };

describe('toMockScript', () => {
  it('turns answered exchanges into per-role responses in the order they were made', () => {
    const exchanges = [
      exchange('coder', '2025-01-01T00:00:02.000Z', { response: { content: 'done', toolCalls: [], finishReason: 'stop' }, usage }),
      exchange('refiner', '2025-01-01T00:00:00.000Z', {
        request: {
          messages: [{ role: 'user', content: 'refine' }],
          responseFormat: { type: 'json_schema', json_schema: { name: 'spec', schema: { type: 'object' } } },
          stream: true,
        },
        response: { content: '{"summary":"s"}', toolCalls: [] },
        usage,
      }),
      exchange('coder', '2025-01-01T00:00:01.000Z', {
        request: {
          messages: [{ role: 'user', content: 'code' }],
          tools: [{ type: 'function', function: { name: 'read_file', parameters: { type: 'object' } } }],
          stream: false,
        },
        response: { content: '', toolCalls: [{ id: 'call_1', name: 'read_file', arguments: '{"path":"a.ts"}' }], finishReason: 'tool_calls' },
        usage: { ...usage, estimated: true },
      }),
      exchange('coder', '2025-01-01T00:00:00.500Z', { error: { code: 'model_timeout', message: 'late', retryable: true } }),
    ];
    const script = toMockScript(exchanges, { description: 'run of T1' });
    expect(parseMockScript(script)).toEqual(script);
    expect(script).toEqual({
      version: 1,
      description: 'run of T1',
      roles: {
        refiner: [{ content: '{"summary":"s"}', usage: { prompt_tokens: 10, completion_tokens: 4 }, expect: { responseFormat: 'spec' } }],
        coder: [
          { toolCalls: [{ id: 'call_1', name: 'read_file', arguments: '{"path":"a.ts"}' }], expect: { tools: ['read_file'] } },
          { content: 'done', usage: { prompt_tokens: 10, completion_tokens: 4 } },
        ],
      },
    });
  });

  it('can also expect the start of each prompt', () => {
    const script = toMockScript([exchange('coder', '2025-01-01T00:00:00.000Z', { response: { content: 'ok', toolCalls: [] } })], { expectPromptPrefix: 6 });
    expect(script.roles.coder![0]!.expect).toEqual({ contains: ['ticket'] });
  });
});

describe('memoryTranscript', () => {
  it('keeps valid exchanges and refuses others', async () => {
    const sink = memoryTranscript();
    const x = exchange('coder', '2025-01-01T00:00:00.000Z', {});
    await sink.record(x);
    expect(sink.exchanges).toEqual([x]);
    await expect(sink.record({ ...x, v: 2 } as unknown as Exchange)).rejects.toThrow();
  });
});
