import { HumanMessage, SystemMessage, ToolMessage } from '@langchain/core/messages';
import { describe, expect, it, vi } from 'vitest';
import { reply, script } from '../../test/fakes/llm.ts';
import { mockLlm } from '../../test/helpers/mockllm.ts';
import { BudgetExceededError, ModelRequestError, ModelTimeoutError, ModelUnavailableError } from './errors.ts';
import { TokenMeter } from './usage.ts';

const prompt = [new SystemMessage('You refine tickets.'), new HumanMessage('Ticket: add a --verbose flag')];

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

describe('the LLM client against mock-llm', () => {
  it('completes a prompt, with the role and ticket on the request, and records the exchange', async () => {
    await using mock = await mockLlm(script({ refiner: [reply.text('Add the flag.', { usage: { prompt_tokens: 20, completion_tokens: 5 } })] }));
    const llm = mock.llm('refiner', { ticketId: 'T-42' });
    expect(await llm.complete(prompt)).toBe('Add the flag.');
    const [call] = mock.server.calls;
    expect(call).toMatchObject({ role: 'refiner', ticket: 'T-42', model: 'mock-model', stream: false });
    expect(call!.request.messages).toEqual([
      { role: 'system', content: 'You refine tickets.' },
      { role: 'user', content: 'Ticket: add a --verbose flag' },
    ]);
    expect(llm.meter.totals().byRole).toEqual({ refiner: { inputTokens: 20, outputTokens: 5, totalTokens: 25, calls: 1 } });
    expect(mock.transcript.exchanges).toEqual([
      expect.objectContaining({
        ticketId: 'T-42',
        role: 'refiner',
        model: 'mock-model',
        seq: 1,
        attempt: 1,
        request: { messages: call!.request.messages, stream: false },
        response: { content: 'Add the flag.', toolCalls: [], finishReason: 'stop' },
        usage: { inputTokens: 20, outputTokens: 5, totalTokens: 25, estimated: false },
      }),
    ]);
  });

  it('streams, with usage included', async () => {
    const text = 'A streamed answer, long enough to arrive in several chunks.';
    await using mock = await mockLlm(
      script({
        coder: [
          reply.text(text, { usage: { prompt_tokens: 30, completion_tokens: 12 }, expect: { stream: true } }),
          reply.toolCall('read_file', { path: 'src/a.ts' }, { usage: { prompt_tokens: 40, completion_tokens: 8 }, expect: { stream: true } }),
        ],
      }),
    );
    const llm = mock.llm('coder');
    const first = await llm.call(prompt, { stream: true });
    expect(first).toMatchObject({ text, finishReason: 'stop', usage: { inputTokens: 30, outputTokens: 12, totalTokens: 42 } });
    expect(mock.server.calls[0]!.request.stream_options).toEqual({ include_usage: true });
    const second = await llm.call(prompt, { stream: true, tools: [{ type: 'function', function: { name: 'read_file', parameters: { type: 'object' } } }] });
    expect(second.toolCalls).toEqual([{ id: 'call_coder_2_1', name: 'read_file', args: { path: 'src/a.ts' }, arguments: '{"path":"src/a.ts"}' }]);
    expect(second.usage.totalTokens).toBe(48);
    expect(llm.meter.forRole('coder')).toEqual({ inputTokens: 70, outputTokens: 20, totalTokens: 90, calls: 2 });
  });

  it('keeps a reply whose only tool call is malformed, quietly, and sends the call back with its answer', async () => {
    await using mock = await mockLlm(script({ coder: [reply.toolCall('read_file', '{"path": "a.ts"'), reply.text('done')] }));
    const llm = mock.llm('coder');
    const warn = vi.spyOn(console, 'warn');
    try {
      const tools = [{ type: 'function' as const, function: { name: 'read_file', parameters: { type: 'object' } } }];
      const first = await llm.call(prompt, { tools });
      expect(first.toolCalls).toEqual([expect.objectContaining({ id: 'call_coder_1_1', name: 'read_file', args: undefined, arguments: '{"path": "a.ts"' })]);
      await llm.call([...prompt, first.message, new ToolMessage({ tool_call_id: 'call_coder_1_1', content: 'error: not JSON' })], { tools });
      expect(warn).not.toHaveBeenCalled();
    } finally {
      warn.mockRestore();
    }
    expect(mock.server.calls[1]!.request.messages.slice(2)).toEqual([
      expect.objectContaining({ role: 'assistant', tool_calls: [expect.objectContaining({ id: 'call_coder_1_1', function: { name: 'read_file', arguments: '{"path": "a.ts"' } })] }),
      { role: 'tool', tool_call_id: 'call_coder_1_1', content: 'error: not JSON' },
    ]);
  });

  it('counts tokens per role on one ticket', async () => {
    await using mock = await mockLlm(
      script({
        refiner: [reply.text('spec', { usage: { prompt_tokens: 100, completion_tokens: 10 } })],
        coder: [reply.text('a', { usage: { prompt_tokens: 200, completion_tokens: 20 } }), reply.text('b', { usage: { prompt_tokens: 300, completion_tokens: 30 } })],
      }),
    );
    const meter = new TokenMeter({ ticketId: 'T-1', budget: 10_000, usedTokens: 1_000 });
    await mock.llm('refiner', { ticketId: 'T-1', meter }).complete(prompt);
    const coder = mock.llm('coder', { ticketId: 'T-1', meter });
    await coder.complete(prompt);
    await coder.complete(prompt);
    expect(meter.totals()).toMatchObject({
      usedTokens: 1_660,
      remainingTokens: 8_340,
      run: { inputTokens: 600, outputTokens: 60, totalTokens: 660, calls: 3 },
      byRole: {
        refiner: { totalTokens: 110, calls: 1 },
        coder: { inputTokens: 500, outputTokens: 50, totalTokens: 550, calls: 2 },
      },
    });
  });

  it('makes no call once the budget is spent', async () => {
    await using mock = await mockLlm(script({}));
    const meter = new TokenMeter({ ticketId: 'T-1', budget: 5_000, usedTokens: 5_000 });
    const err = await rejection(mock.llm('coder', { ticketId: 'T-1', meter }).complete(prompt));
    expect(err).toBeInstanceOf(BudgetExceededError);
    expect(err).toMatchObject({ code: 'budget_exceeded', retryable: false, budget: 5_000, used: 5_000, role: 'coder' });
    expect(mock.server.calls).toEqual([]);
  });

  it('stops after the call that went over the budget, having recorded it', async () => {
    await using mock = await mockLlm(
      script({ coder: [reply.text('small', { usage: { prompt_tokens: 50, completion_tokens: 10 } }), reply.text('big', { usage: { prompt_tokens: 80, completion_tokens: 30 } })] }),
    );
    const meter = new TokenMeter({ ticketId: 'T-1', budget: 150 });
    const llm = mock.llm('coder', { ticketId: 'T-1', meter });
    expect(await llm.complete(prompt)).toBe('small');
    const err = await rejection(llm.complete(prompt));
    expect(err).toBeInstanceOf(BudgetExceededError);
    expect(err.message).toBe('ticket T-1 has used 170 of its 150 tokens (stopped in coder)');
    expect(mock.transcript.exchanges.map((x) => x.response?.content)).toEqual(['small', 'big']);
    await expect(llm.complete(prompt)).rejects.toThrow(BudgetExceededError);
    expect(mock.server.calls).toHaveLength(2);
  });

  it('times out a call that takes too long', async () => {
    await using mock = await mockLlm(script({ coder: [reply.text('too late', { delayMs: 10_000 })] }));
    const started = Date.now();
    const err = await rejection(mock.llm('coder', { settings: { timeoutMs: 300 } }).complete(prompt));
    expect(err).toBeInstanceOf(ModelTimeoutError);
    expect(err).toMatchObject({ code: 'model_timeout', retryable: true, timeoutMs: 300, attempts: 1 });
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(mock.transcript.exchanges).toEqual([
      expect.objectContaining({ attempt: 1, error: { code: 'model_timeout', message: err.message, retryable: true } }),
    ]);
  });

  it('retries a timed-out call, and a streamed one too', async () => {
    await using mock = await mockLlm(
      script({ coder: [reply.text('late', { delayMs: 10_000 }), reply.text('in time'), reply.text('late', { delayMs: 10_000 }), reply.text('streamed in time')] }),
    );
    const llm = mock.llm('coder', { settings: { timeoutMs: 300, retries: 1 } });
    expect(await llm.complete(prompt)).toBe('in time');
    expect((await llm.call(prompt, { stream: true })).text).toBe('streamed in time');
    expect(mock.transcript.exchanges.map((x) => [x.seq, x.attempt, x.error?.code ?? x.response?.content])).toEqual([
      [1, 1, 'model_timeout'],
      [1, 2, 'in time'],
      [2, 1, 'model_timeout'],
      [2, 2, 'streamed in time'],
    ]);
  });

  it('retries on 500 and 429, then succeeds', async () => {
    await using mock = await mockLlm(script({ coder: [reply.httpError(500, 'boom'), reply.httpError(429, 'slow down'), reply.text('ok')] }));
    expect(await mock.llm('coder', { settings: { retries: 2 } }).complete(prompt)).toBe('ok');
    expect(mock.server.calls.map((c) => c.status)).toEqual([500, 429, 200]);
    expect(mock.transcript.exchanges.map((x) => x.error?.status ?? 200)).toEqual([500, 429, 200]);
    expect(mock.sink.lines.filter((l) => l.msg === 'model call failed; retrying').map((l) => l.attempt)).toEqual([1, 2]);
  });

  it('gives up when the retries are spent', async () => {
    await using mock = await mockLlm(script({ coder: [reply.httpError(500), reply.httpError(503, 'overloaded')] }));
    const err = await rejection(mock.llm('coder', { settings: { retries: 1 } }).complete(prompt));
    expect(err).toBeInstanceOf(ModelUnavailableError);
    expect(err).toMatchObject({ code: 'model_unavailable', retryable: true, status: 503, attempts: 2 });
  });

  it('never retries another 4xx', async () => {
    await using mock = await mockLlm(script({ coder: [reply.httpError(400, 'unknown model')] }));
    const err = await rejection(mock.llm('coder', { settings: { retries: 3 } }).complete(prompt));
    expect(err).toBeInstanceOf(ModelRequestError);
    expect(err).toMatchObject({ code: 'model_request_rejected', retryable: false, status: 400 });
    expect(err.message).toMatch(/refused the request with HTTP 400: 400 unknown model/);
    expect(mock.server.calls).toHaveLength(1);
  });

  it('surfaces the mock failing loudly on a call it did not expect', async () => {
    await using mock = await mockLlm(script({ coder: [reply.text('1'), reply.text('2'), reply.text('3')] }));
    mock.allowFailures();
    const llm = mock.llm('coder');
    for (let i = 0; i < 3; i++) await llm.complete(prompt);
    const err = await rejection(llm.complete(prompt));
    expect(err).toBeInstanceOf(ModelUnavailableError);
    expect(err.message).toMatch(/HTTP 500: 500 mock-llm: no scripted response left for role "coder" \(call 4; the script has 3 for it\)/);
    expect(mock.server.failures).toEqual([expect.objectContaining({ role: 'coder', call: 4, code: 'script_exhausted' })]);
  });

  it('surfaces an expectation the request does not meet', async () => {
    await using mock = await mockLlm(script({ coder: [reply.text('ok', { expect: { contains: ['--quiet'] } })] }));
    mock.allowFailures();
    const err = await rejection(mock.llm('coder').complete(prompt));
    expect(err.message).toMatch(/role "coder" call 1 \(scripted response 1\): expected the last user\/tool message to contain "--quiet"/);
    expect(mock.server.unused()).toHaveLength(1);
    expect(mock.server.failures[0]).toMatchObject({ code: 'expect_mismatch', expected: 'contains "--quiet"' });
    expect(await mock.llm('coder').complete([new HumanMessage('add a --quiet flag')])).toBe('ok');
  });

  it('stops at once on shutdown, without retrying', async () => {
    await using mock = await mockLlm(script({ coder: [reply.text('late', { delayMs: 10_000 })] }));
    const shutdown = new AbortController();
    const pending = rejection(mock.llm('coder', { signal: shutdown.signal, settings: { retries: 2 } }).complete(prompt));
    setTimeout(() => shutdown.abort(), 100);
    const err = await pending;
    expect(err).not.toBeInstanceOf(ModelTimeoutError);
    expect(err.name).toBe('AbortError');
    expect(mock.server.calls).toHaveLength(1);
  });
});
