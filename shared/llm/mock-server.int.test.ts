import { describe, expect, it } from 'vitest';
import { reply, script } from '../../test/fakes/llm.ts';
import { mockLlm } from '../../test/helpers/mockllm.ts';
import { waitFor } from '../../test/helpers/wait.ts';
import { startMockLlm } from './mock-server.ts';

function post(url: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(`${url}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}

const ask = (content: string, extra: Record<string, unknown> = {}) => ({ model: 'mock-model', messages: [{ role: 'user', content }], ...extra });

async function sse(res: Response): Promise<unknown[]> {
  const text = await res.text();
  const events = text.split('\n\n').filter(Boolean);
  expect(events.every((e) => e.startsWith('data: '))).toBe(true);
  expect(events.at(-1)).toBe('data: [DONE]');
  return events.slice(0, -1).map((e) => JSON.parse(e.slice(6)) as unknown);
}

describe('mock-llm over HTTP', () => {
  it('answers each ticket from its own script when scripts are per ticket, and fails a call for another ticket', async () => {
    const server = await startMockLlm({
      tickets: {
        T1: script({ coder: [reply.text('one for T1'), reply.text('two for T1')] }),
        T2: script({ coder: [reply.text('one for T2')], reviewer: [reply.text('unused')] }),
      },
    });
    try {
      const text = async (ticket: string | undefined) => {
        const r = await post(server.url, ask('go'), { 'x-nightshift-role': 'coder', ...(ticket && { 'x-nightshift-ticket': ticket }) });
        return { status: r.status, body: (await r.json()) as { choices?: { message: { content: string } }[]; error?: { code: string } } };
      };
      expect((await text('T1')).body.choices![0]!.message.content).toBe('one for T1');
      expect((await text('T2')).body.choices![0]!.message.content).toBe('one for T2');
      expect((await text('T1')).body.choices![0]!.message.content).toBe('two for T1');
      expect(await text('T3')).toMatchObject({ status: 500, body: { error: { code: 'unknown_ticket' } } });
      expect(await text(undefined)).toMatchObject({ status: 500, body: { error: { code: 'unknown_ticket' } } });
      expect(await text('T2')).toMatchObject({ status: 500, body: { error: { code: 'script_exhausted' } } });
      expect(server.calls.map((c) => [c.ticket, c.call, c.status])).toEqual([
        ['T1', 1, 200],
        ['T2', 1, 200],
        ['T1', 2, 200],
        ['T3', 1, 500],
        [undefined, 1, 500],
        ['T2', 2, 500],
      ]);
      expect(server.unused()).toEqual([{ ticket: 'T2', role: 'reviewer', index: 0, entry: expect.objectContaining({ content: 'unused' }) }]);
    } finally {
      await server.close();
    }
  });

  it('answers chat completions in order, with usage, keyed by the role header', async () => {
    await using mock = await mockLlm(
      script({
        refiner: [reply.text('first', { usage: { prompt_tokens: 11, completion_tokens: 2 } }), reply.json({ ok: true })],
        coder: [reply.toolCall('read_file', { path: 'a.ts' })],
      }),
    );
    const url = mock.server.url;
    const r1 = await post(url, ask('hello'), { 'x-nightshift-role': 'refiner', 'x-nightshift-ticket': 'T1' });
    expect(r1.status).toBe(200);
    expect(await r1.json()).toMatchObject({
      object: 'chat.completion',
      model: 'mock-model',
      choices: [{ index: 0, message: { role: 'assistant', content: 'first' }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 11, completion_tokens: 2, total_tokens: 13 },
    });
    const r2 = await post(url, ask('coder task'), { 'x-nightshift-role': 'coder' });
    expect(await r2.json()).toMatchObject({
      choices: [
        {
          message: { content: null, tool_calls: [{ id: 'call_coder_1_1', type: 'function', function: { name: 'read_file', arguments: '{"path":"a.ts"}' } }] },
          finish_reason: 'tool_calls',
        },
      ],
      usage: { prompt_tokens: expect.any(Number), completion_tokens: expect.any(Number) },
    });
    const r3 = await post(url, ask('again'), { 'x-nightshift-role': 'refiner' });
    expect(((await r3.json()) as { choices: { message: { content: string } }[] }).choices[0]!.message.content).toBe('{"ok":true}');
    expect(mock.server.calls.map((c) => [c.n, c.role, c.call, c.ticket, c.status, c.entry])).toEqual([
      [1, 'refiner', 1, 'T1', 200, 0],
      [2, 'coder', 1, undefined, 200, 0],
      [3, 'refiner', 2, undefined, 200, 1],
    ]);
  });

  it('falls back to the model name for the role, and lists the roles as models', async () => {
    await using mock = await mockLlm(script({ triager: [reply.text('bug')] }));
    const res = await post(mock.server.url, ask('triage', { model: 'triager' }));
    expect(res.status).toBe(200);
    const models = await (await fetch(`${mock.server.url}/models`)).json();
    expect(models).toMatchObject({ object: 'list', data: [{ id: 'triager', object: 'model' }] });
  });

  it('streams content and tool calls as SSE, with usage when asked for', async () => {
    const long = 'a streamed answer that is longer than one chunk of text';
    await using mock = await mockLlm(
      script({
        coder: [
          reply.text(long, { usage: { prompt_tokens: 7, completion_tokens: 9 } }),
          reply.toolCalls([{ name: 'search', args: { pattern: 'TODO', glob: '*.ts' } }, { name: 'list_files', args: {} }]),
        ],
      }),
    );
    const chunks = (await sse(await post(mock.server.url, ask('go', { stream: true, stream_options: { include_usage: true } }), { 'x-nightshift-role': 'coder' }))) as {
      choices: { delta: { content?: string }; finish_reason: string | null }[];
      usage?: unknown;
    }[];
    expect(chunks[0]!.choices[0]!.delta).toEqual({ role: 'assistant', content: '' });
    expect(chunks.flatMap((c) => c.choices.map((ch) => ch.delta.content ?? '')).join('')).toBe(long);
    expect(chunks.filter((c) => c.choices.length > 0).length).toBeGreaterThan(3);
    expect(chunks.at(-2)!.choices[0]!.finish_reason).toBe('stop');
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: { prompt_tokens: 7, completion_tokens: 9, total_tokens: 16 } });

    const toolChunks = (await sse(await post(mock.server.url, ask('go', { stream: true }), { 'x-nightshift-role': 'coder' }))) as {
      choices: { delta: { tool_calls?: { index: number; id?: string; function: { name?: string; arguments?: string } }[] }; finish_reason: string | null }[];
      usage?: unknown;
    }[];
    expect(toolChunks.every((c) => c.usage === undefined)).toBe(true);
    const args: string[] = ['', ''];
    const names: string[] = [];
    for (const c of toolChunks) {
      for (const t of c.choices[0]?.delta.tool_calls ?? []) {
        if (t.function.name) names[t.index] = t.function.name;
        args[t.index] += t.function.arguments ?? '';
      }
    }
    expect(names).toEqual(['search', 'list_files']);
    expect(args.map((a) => JSON.parse(a))).toEqual([{ pattern: 'TODO', glob: '*.ts' }, {}]);
    expect(toolChunks.at(-1)!.choices[0]!.finish_reason).toBe('tool_calls');
  });

  it('accepts a json_schema response format and checks it when told to', async () => {
    await using mock = await mockLlm(script({ refiner: [reply.json({ summary: 's' }, { expect: { responseFormat: 'spec', stream: false } })] }));
    const res = await post(
      mock.server.url,
      ask('refine', { response_format: { type: 'json_schema', json_schema: { name: 'spec', schema: { type: 'object' }, strict: true } } }),
      { 'x-nightshift-role': 'refiner' },
    );
    expect(res.status).toBe(200);
  });

  it('fails loudly on a call the script has no response for, and never cycles', async () => {
    await using mock = await mockLlm(script({ coder: [reply.text('1'), reply.text('2'), reply.text('3')] }));
    mock.allowFailures();
    for (const expected of ['1', '2', '3']) {
      const res = await post(mock.server.url, ask('go'), { 'x-nightshift-role': 'coder' });
      expect(((await res.json()) as { choices: { message: { content: string } }[] }).choices[0]!.message.content).toBe(expected);
    }
    const fourth = await post(mock.server.url, ask('go'), { 'x-nightshift-role': 'coder' });
    expect(fourth.status).toBe(500);
    expect(await fourth.json()).toEqual({
      error: {
        type: 'mock_llm_error',
        code: 'script_exhausted',
        role: 'coder',
        call: 4,
        expected: 'at most 3 calls for role "coder"',
        message: 'mock-llm: no scripted response left for role "coder" (call 4; the script has 3 for it)',
      },
    });
    const unknown = await post(mock.server.url, ask('go'), { 'x-nightshift-role': 'reviewer' });
    expect(((await unknown.json()) as { error: { expected: string } }).error.expected).toBe('no call for role "reviewer"');
    expect(mock.server.failures.map((f) => [f.role, f.call, f.code])).toEqual([
      ['coder', 4, 'script_exhausted'],
      ['reviewer', 1, 'script_exhausted'],
    ]);
    expect(mock.sink.lines.filter((l) => l.level === 'error').map((l) => l.msg)).toEqual(mock.server.failures.map((f) => f.message));
  });

  it('fails loudly when an expectation does not hold, and keeps the response for the next call', async () => {
    await using mock = await mockLlm(script({ coder: [reply.text('fixed', { expect: { contains: ['tests fail', 'src/a.ts'], tools: ['read_file'] } })] }));
    mock.allowFailures();
    const bad = await post(mock.server.url, ask('please fix: tests fail'), { 'x-nightshift-role': 'coder' });
    expect(bad.status).toBe(500);
    expect(await bad.json()).toMatchObject({
      error: {
        code: 'expect_mismatch',
        role: 'coder',
        call: 1,
        expected: 'contains "src/a.ts"',
        message: 'mock-llm: role "coder" call 1 (scripted response 1): expected the last user/tool message to contain "src/a.ts"; it was (user) "please fix: tests fail"',
      },
    });
    const noTools = await post(mock.server.url, ask('tests fail in src/a.ts'), { 'x-nightshift-role': 'coder' });
    expect(((await noTools.json()) as { error: { message: string } }).error.message).toMatch(/expected tools read_file to be offered; offered: none/);
    const good = await post(
      mock.server.url,
      ask('tests fail in src/a.ts', { tools: [{ type: 'function', function: { name: 'read_file', parameters: {} } }] }),
      { 'x-nightshift-role': 'coder' },
    );
    expect(good.status).toBe(200);
    expect(mock.server.unused()).toEqual([]);
    expect(mock.server.failures.map((f) => f.code)).toEqual(['expect_mismatch', 'expect_mismatch']);
  });

  it('answers scripted HTTP errors, and lists unused responses', async () => {
    const server = await startMockLlm({ script: script({ coder: [reply.httpError(503, 'overloaded'), reply.text('ok'), reply.text('never')] }) });
    try {
      const res = await post(server.url, ask('go'), { 'x-nightshift-role': 'coder' });
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({ error: { message: 'overloaded', type: 'mock_scripted_error', code: null } });
      await post(server.url, ask('go'), { 'x-nightshift-role': 'coder' });
      expect(server.unused()).toEqual([{ role: 'coder', index: 2, entry: { content: 'never' } }]);
    } finally {
      await server.close();
    }
  });

  it('refuses requests that are not chat completions', async () => {
    await using mock = await mockLlm(script({}));
    mock.allowFailures();
    expect((await post(mock.server.url, { messages: 'no' })).status).toBe(400);
    expect((await fetch(`${mock.server.url}/audio/speech`, { method: 'POST', body: '{}' })).status).toBe(404);
    expect(mock.server.failures.map((f) => f.code)).toEqual(['bad_request']);
  });

  it('waits the scripted delay, and stops waiting when the client goes away', async () => {
    await using mock = await mockLlm(script({ coder: [reply.text('late', { delayMs: 5_000 }), reply.text('quick', { delayMs: 20 })] }));
    const started = Date.now();
    const abandoned = fetch(`${mock.server.url}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-nightshift-role': 'coder' },
      body: JSON.stringify(ask('go')),
      signal: AbortSignal.timeout(100),
    });
    await expect(abandoned).rejects.toThrow();
    const res = await post(mock.server.url, ask('go'), { 'x-nightshift-role': 'coder' });
    expect(((await res.json()) as { choices: { message: { content: string } }[] }).choices[0]!.message.content).toBe('quick');
    expect(Date.now() - started).toBeLessThan(2_000);
    await waitFor('the abandoned call to be recorded', () => mock.server.calls[0]?.status === 499, { timeoutMs: 2_000 });
    expect(mock.server.calls.map((c) => c.status)).toEqual([499, 200]);
  });
});
