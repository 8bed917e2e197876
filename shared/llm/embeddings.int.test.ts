import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HumanMessage } from '@langchain/core/messages';
import { describe, expect, it } from 'vitest';
import { reply, script } from '../../test/fakes/llm.ts';
import { logSink } from '../../test/helpers/env.ts';
import { mockLlm } from '../../test/helpers/mockllm.ts';
import { LlmConfigSchema, type LlmConfig } from './config.ts';
import { cosine, createEmbedder, type Embedder } from './embeddings.ts';
import { BudgetExceededError, ModelBehaviorError, ModelRequestError, ModelUnavailableError } from './errors.ts';
import { TokenMeter } from './usage.ts';
import { MOCK_EMBEDDING_DIMENSIONS, mockEmbedding } from './mock-server.ts';

const SECRET = 'sk-embeddings-secret-4711';

function config(vars: Record<string, string>): LlmConfig {
  return LlmConfigSchema.parse({ NIGHTSHIFT_EMBEDDINGS_MODEL: 'mock-embed', NIGHTSHIFT_MODEL_TIMEOUT: '5s', NIGHTSHIFT_MODEL_RETRIES: '0', ...vars });
}

function embedder(vars: Record<string, string>, deps: Partial<Parameters<typeof createEmbedder>[1]> = {}): Embedder {
  const e = createEmbedder(config(vars), { log: logSink().log, ...deps });
  if (!e) throw new Error('expected an embedder');
  return e;
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

/** A one-route server answering every request with `answer`; it keeps the headers it got. */
async function fakeEndpoint(answer: { status?: number; body: unknown } | 'hold') {
  const seen: IncomingHttpHeaders[] = [];
  let arrived: () => void = () => undefined;
  const request = new Promise<void>((resolve) => (arrived = resolve));
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      seen.push(req.headers);
      arrived();
      if (answer === 'hold') return;
      const text = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
      res.writeHead(answer.status ?? 200, { 'content-type': 'application/json' }).end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    seen,
    /** Resolves when the first request has arrived. */
    request,
    async [Symbol.asyncDispose]() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const list = (...embeddings: unknown[]) => ({
  object: 'list',
  data: embeddings.map((embedding, index) => ({ object: 'embedding', index, embedding })),
  model: 'm',
  usage: { prompt_tokens: 1, total_tokens: 1 },
});

describe('embeddings through mock-llm', () => {
  it('gives the same text the same vector: mock-llm’s, 256 numbers of length 1', async () => {
    await using mock = await mockLlm(script({}));
    const e = embedder({ OPENAI_BASE_URL: mock.server.url, OPENAI_API_KEY: SECRET }, { log: mock.sink.log });
    expect(e.model).toBe('mock-embed');
    const text = 'Crash when the config file is empty';
    const [first] = await e.embed([text]);
    const [again] = await e.embed([text]);
    expect(again).toEqual(first);
    expect(first).toEqual(mockEmbedding(text));
    expect(first).toHaveLength(MOCK_EMBEDDING_DIMENSIONS);
    expect(Math.hypot(...first!)).toBeCloseTo(1, 5);
    expect(cosine(first!, again!)).toBeCloseTo(1, 6);
    expect(JSON.stringify(mock.sink.lines)).not.toContain(SECRET);
  });

  it('puts similar reports closer than unrelated ones', async () => {
    await using mock = await mockLlm(script({}));
    const e = embedder({ OPENAI_BASE_URL: mock.server.url });
    const [report, duplicate, unrelated] = await e.embed([
      'The app crashes on startup when the config file is empty',
      'App crash on startup: the config file is empty',
      'Dark mode colours of the settings page are too pale',
    ]);
    const similar = cosine(report!, duplicate!);
    expect(similar).toBeGreaterThan(0.5);
    expect(similar).toBeGreaterThan(cosine(report!, unrelated!));
  });

  it('keeps the order of a batch, in one request', async () => {
    await using mock = await mockLlm(script({}));
    const e = embedder({ OPENAI_BASE_URL: mock.server.url });
    const texts = ['alpha beta', 'gamma', 'delta epsilon zeta', 'alpha beta', 'Ünïcode wörds 42'];
    const vectors = await e.embed(texts);
    expect(vectors).toEqual(texts.map(mockEmbedding));
    expect(vectors[0]).toEqual(vectors[3]);
    expect(mock.server.calls).toHaveLength(1);
    expect(mock.server.calls[0]!.input).toEqual(texts);
  });

  it('sends the role and ticket headers, asks for base64, and is recorded without touching the script', async () => {
    await using mock = await mockLlm(script({ triager: [reply.text('classified')] }));
    const e = embedder({ OPENAI_BASE_URL: mock.server.url }, { role: 'triager', ticketId: 'T-7' });
    await e.embed(['first report']);
    await e.embed(['second report', 'third report']);
    expect(await mock.llm('triager', { ticketId: 'T-7' }).complete([new HumanMessage('classify')])).toBe('classified');
    expect(mock.server.calls.map((c) => [c.n, c.kind, c.role, c.call, c.ticket, c.model, c.status, c.entry, c.input])).toEqual([
      [1, 'embeddings', 'triager', 1, 'T-7', 'mock-embed', 200, undefined, ['first report']],
      [2, 'embeddings', 'triager', 2, 'T-7', 'mock-embed', 200, undefined, ['second report', 'third report']],
      [3, 'chat', 'triager', 1, 'T-7', 'mock-model', 200, 0, undefined],
    ]);
    // The OpenAI client asks for base64 unless told otherwise; we ask for it explicitly.
    expect(mock.server.calls[0]!.request).toMatchObject({ model: 'mock-embed', input: ['first report'], encoding_format: 'base64', messages: [] });
    expect(mock.server.unused()).toEqual([]);
    expect(mock.server.failures).toEqual([]);
  });

  it('records a call without a role header under "embeddings"', async () => {
    await using mock = await mockLlm(script({}));
    await embedder({ OPENAI_BASE_URL: mock.server.url }).embed(['x']);
    expect(mock.server.calls.map((c) => [c.kind, c.role, c.call, c.ticket])).toEqual([['embeddings', 'embeddings', 1, undefined]]);
  });

  it('uses NIGHTSHIFT_EMBEDDINGS_BASE_URL over OPENAI_BASE_URL', async () => {
    await using mock = await mockLlm(script({}));
    const e = embedder({ OPENAI_BASE_URL: 'http://127.0.0.1:9/v1', NIGHTSHIFT_EMBEDDINGS_BASE_URL: mock.server.url });
    expect(await e.embed(['hello'])).toEqual([mockEmbedding('hello')]);
  });

  it('counts the tokens the endpoint reports on the meter, and stops at the budget', async () => {
    await using mock = await mockLlm(script({}));
    const meter = new TokenMeter({ ticketId: 'T-8', budget: 1_000 });
    const e = embedder({ OPENAI_BASE_URL: mock.server.url }, { role: 'triager', ticketId: 'T-8', meter });
    await e.embed(['a report of twenty characters', 'another']);
    const first = meter.forRole('triager');
    expect(first.calls).toBe(1);
    expect(first.inputTokens).toBeGreaterThan(0);
    expect(first).toMatchObject({ outputTokens: 0, totalTokens: first.inputTokens });
    const tight = new TokenMeter({ ticketId: 'T-8', budget: 1 });
    const err = await rejection(embedder({ OPENAI_BASE_URL: mock.server.url }, { role: 'triager', meter: tight }).embed(['over the budget']));
    expect(err).toBeInstanceOf(BudgetExceededError);
  });

  it('makes no call for no texts', async () => {
    await using mock = await mockLlm(script({}));
    expect(await embedder({ OPENAI_BASE_URL: mock.server.url }).embed([])).toEqual([]);
    expect(mock.server.calls).toEqual([]);
  });
});

describe('mock-llm’s embeddings endpoint', () => {
  const post = (url: string, body: unknown) =>
    fetch(`${url}/embeddings`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  it('answers plain numbers unless asked for base64, with the same float32 values', async () => {
    await using mock = await mockLlm(script({}));
    const plain = (await (await post(mock.server.url, { model: 'e', input: 'one two' })).json()) as {
      object: string;
      data: { object: string; index: number; embedding: number[] }[];
      model: string;
      usage: { prompt_tokens: number; total_tokens: number };
    };
    expect(plain).toMatchObject({ object: 'list', model: 'e', data: [{ object: 'embedding', index: 0 }] });
    expect(plain.usage.prompt_tokens).toBeGreaterThan(0);
    expect(plain.usage.total_tokens).toBe(plain.usage.prompt_tokens);
    expect(plain.data[0]!.embedding).toEqual(mockEmbedding('one two'));
    const b64 = (await (await post(mock.server.url, { model: 'e', input: ['one two'], encoding_format: 'base64' })).json()) as {
      data: { embedding: string }[];
    };
    const bytes = Buffer.from(b64.data[0]!.embedding, 'base64');
    expect(bytes).toHaveLength(MOCK_EMBEDDING_DIMENSIONS * 4);
    expect(Array.from({ length: MOCK_EMBEDDING_DIMENSIONS }, (_, i) => bytes.readFloatLE(i * 4))).toEqual(plain.data[0]!.embedding);
  });

  it('refuses a malformed request with a 400, recorded as a failure, and no call', async () => {
    await using mock = await mockLlm(script({}));
    mock.allowFailures();
    for (const body of [{ model: 'e' }, { model: 'e', input: [] }, { model: 'e', input: [1, 2] }, { model: 'e', input: 'x', encoding_format: 'hex' }]) {
      const res = await post(mock.server.url, body);
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ error: { type: 'invalid_request_error', message: expect.stringContaining('not an embeddings request') } });
    }
    expect(mock.server.failures.map((f) => [f.role, f.code])).toEqual(Array(4).fill(['embeddings', 'bad_request']));
    expect(mock.server.calls).toEqual([]);
  });
});

describe('embeddings from a misbehaving endpoint', () => {
  it.each([
    ['vectors of different lengths', list([0.1, 0.2, 0.3], [0.1, 0.2]), /gave a malformed answer: its vectors differ in length \(3, 2 numbers\)/],
    ['too few vectors', list([0.1, 0.2]), /1 embedding for 2 texts/],
    ['no data', { object: 'list' }, /not a list of embeddings/],
    ['an empty vector', list([], []), /not lists of finite numbers \(data\.0\.embedding: an embedding has at least one number\)/],
    ['a vector of strings', list(['a'], ['b']), /not lists of finite numbers \(data\.0\.embedding\.0/],
    ['base64 that is not float32s', list('AAAAAAA=', 'AAAAAAA='), /data\.0\.embedding: base64 of 5 bytes is not a list of float32s/],
    ['indexes twice the same', { data: [{ index: 0, embedding: [1] }, { index: 0, embedding: [1] }] }, /indexes are not 0 to 1/],
    ['a body that is not JSON', '{"data": [', /not JSON/],
  ])('refuses %s with a clear ModelBehaviorError', async (_name, body, message) => {
    await using server = await fakeEndpoint({ body });
    const err = await rejection(embedder({ OPENAI_BASE_URL: server.url }).embed(['one', 'two']));
    expect(err).toBeInstanceOf(ModelBehaviorError);
    expect(err).toMatchObject({ code: 'off_schema', retryable: false });
    expect(err.message.startsWith(`the embeddings model "mock-embed" at ${server.url} `)).toBe(true);
    expect(err.message).toMatch(message);
  });

  it('puts vectors in the order of their indexes', async () => {
    await using server = await fakeEndpoint({ body: { data: [{ index: 1, embedding: [0, 1] }, { index: 0, embedding: [1, 0] }] } });
    expect(await embedder({ OPENAI_BASE_URL: server.url }).embed(['x', 'y'])).toEqual([
      [1, 0],
      [0, 1],
    ]);
  });

  it('sends the key as bearer token, or a placeholder without one, and never logs it', async () => {
    await using server = await fakeEndpoint({ status: 401, body: { error: { message: 'bad key', type: 'invalid_request_error' } } });
    const sink = logSink();
    const err = await rejection(embedder({ OPENAI_BASE_URL: server.url, OPENAI_API_KEY: SECRET }, { log: sink.log, role: 'triager', ticketId: 'T-9' }).embed(['x']));
    expect(err).toBeInstanceOf(ModelRequestError);
    expect(err).toMatchObject({ status: 401 });
    expect(err.message).toContain('refused the request with HTTP 401');
    expect(server.seen[0]).toMatchObject({ authorization: `Bearer ${SECRET}`, 'x-nightshift-role': 'triager', 'x-nightshift-ticket': 'T-9' });
    expect(sink.lines.length).toBeGreaterThan(0);
    expect(JSON.stringify(sink.lines)).not.toContain(SECRET);
    await rejection(embedder({ OPENAI_BASE_URL: server.url }).embed(['x']));
    expect(server.seen[1]!.authorization).toBe('Bearer unset');
  });

  it('reports an endpoint that keeps failing as unavailable', async () => {
    await using server = await fakeEndpoint({ status: 503, body: { error: { message: 'overloaded' } } });
    const err = await rejection(embedder({ OPENAI_BASE_URL: server.url }).embed(['x']));
    expect(err).toBeInstanceOf(ModelUnavailableError);
    expect(err).toMatchObject({ status: 503, attempts: 1 });
  });

  it('stops a call in flight when its signal aborts', async () => {
    await using server = await fakeEndpoint('hold');
    const controller = new AbortController();
    const call = rejection(embedder({ OPENAI_BASE_URL: server.url }).embed(['x'], controller.signal));
    await server.request;
    const reason = new Error('shutting down');
    controller.abort(reason);
    expect(await call).toBe(reason);
  });

  it('makes no call under a signal already aborted', async () => {
    await using server = await fakeEndpoint({ body: list([1]) });
    const reason = new Error('gone');
    expect(await rejection(embedder({ OPENAI_BASE_URL: server.url }).embed(['x'], AbortSignal.abort(reason)))).toBe(reason);
    expect(server.seen).toEqual([]);
  });
});

describe('createEmbedder', () => {
  it('is null without NIGHTSHIFT_EMBEDDINGS_MODEL', () => {
    const c = LlmConfigSchema.parse({ OPENAI_BASE_URL: 'http://127.0.0.1:9/v1', NIGHTSHIFT_EMBEDDINGS_BASE_URL: 'http://127.0.0.1:9/v1' });
    expect(createEmbedder(c, { log: logSink().log, role: 'triager' })).toBeNull();
  });
});
