import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import type { Logger } from '../log.ts';
import { readBody } from '../http.ts';
import { ROLE_HEADER, TICKET_HEADER } from './headers.ts';
import { entryContent, estimateTokens, parseMockScript, type MockScript, type MockScriptInput, type ScriptEntry } from './script.ts';

const ContentPart = z.looseObject({ type: z.string(), text: z.string().optional() });
const RequestMessage = z.looseObject({
  role: z.string(),
  content: z.union([z.string(), z.array(ContentPart), z.null()]).optional(),
});
const ChatRequest = z.looseObject({
  model: z.string(),
  messages: z.array(RequestMessage).min(1),
  stream: z.boolean().nullish(),
  stream_options: z.looseObject({ include_usage: z.boolean().optional() }).nullish(),
  tools: z.array(z.looseObject({ type: z.string(), function: z.looseObject({ name: z.string() }).optional() })).nullish(),
  response_format: z.looseObject({ type: z.string(), json_schema: z.looseObject({ name: z.string().optional() }).optional() }).nullish(),
});
type ChatRequest = z.infer<typeof ChatRequest>;
const EmbeddingsRequest = z.looseObject({
  model: z.string(),
  input: z.union([z.string(), z.array(z.string()).min(1)]),
  encoding_format: z.enum(['float', 'base64']).nullish(),
});

/** The role of an embeddings request without an `x-nightshift-role` header. */
const EMBEDDINGS_ROLE = 'embeddings';

/** One request the mock received, answered or not. */
export interface MockCall {
  /** 1-based, over all roles and kinds. */
  n: number;
  /** A chat completion, or an embeddings request (answered without the script). */
  kind: 'chat' | 'embeddings';
  /** The `x-nightshift-role` header; without it, the model for chat and `embeddings` for embeddings. */
  role: string;
  /** 1-based, within the role and kind: embeddings calls do not move a role's chat call numbers. */
  call: number;
  ticket: string | undefined;
  model: string;
  stream: boolean;
  /**
   * The request body as sent. An embeddings request has no messages: it is recorded with
   * `messages: []`, its texts in `input`.
   */
  request: ChatRequest;
  /** The texts of an embeddings call, in order. */
  input?: string[];
  status: number;
  /** Index of the scripted response that answered it, within the role. */
  entry: number | undefined;
}

/** A call the script did not expect: answered with an HTTP 500. */
export interface MockFailure {
  role: string;
  call: number;
  code: 'script_exhausted' | 'expect_mismatch' | 'bad_request' | 'unknown_ticket';
  message: string;
  expected: string;
}

/** A scripted response no call consumed. */
export interface UnusedEntry {
  /** The ticket whose script it is, when scripts are per ticket. */
  ticket?: string;
  role: string;
  index: number;
  entry: ScriptEntry;
}

export type MockLlmOptions = MockLlmCommon &
  (
    | { script: MockScript | MockScriptInput; tickets?: undefined }
    | {
        script?: undefined;
        /**
         * One script per ticket: a call is answered from the script of its `x-nightshift-ticket`
         * header, each ticket's roles counted apart; a call for another ticket fails (`unknown_ticket`).
         * For running several scripted tickets through one stack (`nightshift eval`).
         */
        tickets: Record<string, MockScript | MockScriptInput>;
      }
  );

interface MockLlmCommon {
  /** 0 (the default) picks a free port. */
  port?: number;
  host?: string;
  log?: Logger;
}

/** A running mock-llm server. */
export interface MockLlm extends AsyncDisposable {
  /** The base URL to use as OPENAI_BASE_URL, e.g. `http://127.0.0.1:41234/v1`. */
  readonly url: string;
  readonly calls: readonly MockCall[];
  readonly failures: readonly MockFailure[];
  /** Scripted responses never consumed, in script order. */
  unused(): UnusedEntry[];
  close(): Promise<void>;
}

/**
 * An OpenAI-compatible chat completions server answering from a script. It fails loudly: a call for
 * a role with no scripted response left, or whose `expect` does not match, gets an HTTP 500 naming the
 * role, the call and what was expected; it never cycles through responses. It also serves embeddings,
 * computed (`mockEmbedding`), never scripted.
 */
export async function startMockLlm(opts: MockLlmOptions): Promise<MockLlm> {
  const single = opts.script !== undefined ? parseMockScript(opts.script) : undefined;
  const perTicket = new Map(Object.entries(opts.tickets ?? {}).map(([id, s]) => [id, parseMockScript(s)]));
  const scripts = single ? [{ ticket: undefined, script: single }] : [...perTicket].map(([ticket, script]) => ({ ticket, script }));
  /** Where a role's counters live: per role, or per ticket and role. */
  const keyOf = (ticket: string | undefined, role: string) => (single ? role : `${ticket ?? ''}\u0000${role}`);
  const next = new Map<string, number>();
  const perRole = new Map<string, number>();
  const perRoleEmbeddings = new Map<string, number>();
  const calls: MockCall[] = [];
  const failures: MockFailure[] = [];
  const pending = new Set<NodeJS.Timeout>();
  const created = Math.floor(Date.now() / 1000);

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      opts.log?.error({ err }, 'mock-llm: request failed');
      if (!res.headersSent) sendJson(res, 500, errorBody('mock_llm_error', (err as Error).message));
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]!.replace(/\/+$/, '');
    if (req.method === 'GET' && (path === '/v1/models' || path === '/models')) {
      const ids = [...new Set(scripts.flatMap((s) => Object.keys(s.script.roles)))];
      sendJson(res, 200, { object: 'list', data: ids.map((id) => ({ id, object: 'model', created, owned_by: 'nightshift-mock-llm' })) });
      return;
    }
    if (req.method === 'POST' && (path === '/v1/embeddings' || path === '/embeddings')) {
      await embeddings(req, res);
      return;
    }
    if (req.method !== 'POST' || (path !== '/v1/chat/completions' && path !== '/chat/completions')) {
      sendJson(
        res,
        404,
        errorBody('not_found', `mock-llm serves POST /v1/chat/completions, POST /v1/embeddings and GET /v1/models, not ${req.method} ${path}`),
      );
      return;
    }
    const raw = (await readBody(req)).toString('utf8');
    let parsed: ChatRequest;
    try {
      parsed = ChatRequest.parse(JSON.parse(raw));
    } catch (err) {
      const message = `mock-llm: the request is not a chat completion request: ${(err as Error).message}`;
      failures.push({ role: header(req, ROLE_HEADER) ?? '?', call: 0, code: 'bad_request', message, expected: 'a chat completion request' });
      sendJson(res, 400, errorBody('invalid_request_error', message));
      return;
    }
    const role = header(req, ROLE_HEADER) ?? parsed.model;
    const ticket = header(req, TICKET_HEADER);
    const key = keyOf(ticket, role);
    const call = (perRole.get(key) ?? 0) + 1;
    perRole.set(key, call);
    const record: MockCall = {
      n: calls.length + 1,
      kind: 'chat',
      role,
      call,
      ticket,
      model: parsed.model,
      stream: parsed.stream === true,
      request: parsed,
      status: 0,
      entry: undefined,
    };
    calls.push(record);

    const script = single ?? (ticket !== undefined ? perTicket.get(ticket) : undefined);
    if (!script) {
      fail(res, record, {
        code: 'unknown_ticket',
        message: `mock-llm: no script for ticket ${ticket === undefined ? '(no x-nightshift-ticket header)' : `"${ticket}"`} (role "${role}", call ${call})`,
        expected: `a call for one of the scripted tickets: ${[...perTicket.keys()].join(', ')}`,
      });
      return;
    }
    const entries = script.roles[role] ?? [];
    const index = next.get(key) ?? 0;
    const entry = entries[index];
    if (!entry) {
      const scripted = entries.length;
      fail(res, record, {
        code: 'script_exhausted',
        message: `mock-llm: no scripted response left for role "${role}" (call ${call}; the script has ${scripted} for it)`,
        expected: scripted === 0 ? `no call for role "${role}"` : `at most ${scripted} call${scripted === 1 ? '' : 's'} for role "${role}"`,
      });
      return;
    }
    const mismatch = checkExpect(entry, parsed);
    if (mismatch) {
      fail(res, record, {
        code: 'expect_mismatch',
        message: `mock-llm: role "${role}" call ${call} (scripted response ${index + 1}): ${mismatch.message}`,
        expected: mismatch.expected,
      });
      return;
    }
    next.set(key, index + 1);
    record.entry = index;
    if (entry.delayMs) {
      const closed = await waitOrClose(res, entry.delayMs);
      if (closed) {
        record.status = 499;
        return;
      }
    }
    if (entry.httpStatus !== undefined) {
      record.status = entry.httpStatus;
      sendJson(res, entry.httpStatus, errorBody('mock_scripted_error', entry.error ?? `scripted HTTP ${entry.httpStatus}`));
      return;
    }
    record.status = 200;
    const answer = buildAnswer(entry, parsed, role, call);
    if (record.stream) stream(res, answer, parsed, record.n);
    else sendJson(res, 200, completion(answer, parsed, record.n));
  }

  /** Embeddings, computed from the texts: they consume no scripted response. */
  async function embeddings(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = (await readBody(req)).toString('utf8');
    let parsed: z.infer<typeof EmbeddingsRequest>;
    try {
      parsed = EmbeddingsRequest.parse(JSON.parse(raw));
    } catch (err) {
      const message = `mock-llm: the request is not an embeddings request: ${(err as Error).message}`;
      failures.push({
        role: header(req, ROLE_HEADER) ?? EMBEDDINGS_ROLE,
        call: 0,
        code: 'bad_request',
        message,
        expected: 'an embeddings request: { model, input: string | string[], encoding_format?: "float" | "base64" }',
      });
      sendJson(res, 400, errorBody('invalid_request_error', message));
      return;
    }
    const role = header(req, ROLE_HEADER) ?? EMBEDDINGS_ROLE;
    const call = (perRoleEmbeddings.get(role) ?? 0) + 1;
    perRoleEmbeddings.set(role, call);
    const input = typeof parsed.input === 'string' ? [parsed.input] : parsed.input;
    calls.push({
      n: calls.length + 1,
      kind: 'embeddings',
      role,
      call,
      ticket: header(req, TICKET_HEADER),
      model: parsed.model,
      stream: false,
      request: { ...parsed, messages: [] },
      input,
      status: 200,
      entry: undefined,
    });
    const base64 = parsed.encoding_format === 'base64';
    const tokens = input.reduce((sum, text) => sum + estimateTokens(text), 0);
    sendJson(res, 200, {
      object: 'list',
      data: input.map((text, index) => {
        const vector = mockEmbedding(text);
        return { object: 'embedding', index, embedding: base64 ? float32Base64(vector) : vector };
      }),
      model: parsed.model,
      usage: { prompt_tokens: tokens, total_tokens: tokens },
    });
  }

  function fail(res: ServerResponse, record: MockCall, failure: Omit<MockFailure, 'role' | 'call'>) {
    record.status = 500;
    failures.push({ role: record.role, call: record.call, ...failure });
    opts.log?.error({ role: record.role, call: record.call, code: failure.code, expected: failure.expected }, failure.message);
    sendJson(res, 500, {
      error: { message: failure.message, type: 'mock_llm_error', code: failure.code, role: record.role, call: record.call, expected: failure.expected },
    });
  }

  function waitOrClose(res: ServerResponse, ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(false), ms);
      pending.add(timer);
      const onClose = () => done(true);
      res.on('close', onClose);
      function done(closed: boolean) {
        clearTimeout(timer);
        pending.delete(timer);
        res.off('close', onClose);
        resolve(closed);
      }
    });
  }

  server.keepAliveTimeout = 1_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let closing: Promise<void> | undefined;

  const close = () => {
    closing ??= new Promise<void>((resolve) => {
      for (const t of pending) clearTimeout(t);
      pending.clear();
      server.close(() => resolve());
      server.closeAllConnections();
    });
    return closing;
  };

  return {
    url: `http://${host}:${address.port}/v1`,
    calls,
    failures,
    unused: () =>
      scripts.flatMap(({ ticket, script }) =>
        Object.entries(script.roles).flatMap(([role, entries]) => {
          const from = next.get(keyOf(ticket, role)) ?? 0;
          return entries.slice(from).map((entry, i) => ({ ...(ticket !== undefined && { ticket }), role, index: from + i, entry }));
        }),
      ),
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** The length of mock-llm's embeddings. */
export const MOCK_EMBEDDING_DIMENSIONS = 256;

/**
 * mock-llm's embedding of `text`: feature hashing of its lowercased words (runs of letters and digits),
 * each word adding ±1 to one of 256 dimensions (by its FNV-1a hash, mixed: the bucket from the low
 * bits, the sign from the top bit), then scaled to length 1 (all zeros for a text without words).
 * Values are float32, so the plain and base64 answers agree. Equal texts get equal vectors; texts
 * sharing words get a positive cosine, unless hash collisions happen to cancel it.
 */
export function mockEmbedding(text: string): number[] {
  const vector = new Array<number>(MOCK_EMBEDDING_DIMENSIONS).fill(0);
  for (const word of text.toLowerCase().split(/[^\p{L}\p{N}]+/u)) {
    if (!word) continue;
    const h = wordHash(word);
    const at = h % MOCK_EMBEDDING_DIMENSIONS;
    vector[at] = vector[at]! + (h >= 0x8000_0000 ? -1 : 1);
  }
  const norm = Math.sqrt(vector.reduce((sum, x) => sum + x * x, 0));
  return vector.map((x) => (norm === 0 ? 0 : Math.fround(x / norm)));
}

/**
 * 32-bit FNV-1a of the UTF-8 bytes of `s`, unsigned, with murmur3's finalizer: FNV-1a's low bits alone
 * put too many short words in one bucket.
 */
function wordHash(s: string): number {
  let h = 0x811c_9dc5;
  for (const byte of Buffer.from(s, 'utf8')) h = Math.imul(h ^ byte, 0x0100_0193);
  h = Math.imul(h ^ (h >>> 16), 0x85eb_ca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2_ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Base64 of little-endian float32s, as OpenAI answers `encoding_format: "base64"`. */
function float32Base64(vector: readonly number[]): string {
  const bytes = Buffer.alloc(vector.length * 4);
  vector.forEach((x, i) => bytes.writeFloatLE(x, i * 4));
  return bytes.toString('base64');
}

interface Answer {
  content: string | null;
  toolCalls: { id: string; name: string; arguments: string }[];
  finishReason: string;
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
}

function buildAnswer(entry: ScriptEntry, req: ChatRequest, role: string, call: number): Answer {
  const content = entryContent(entry);
  const toolCalls = (entry.toolCalls ?? []).map((t, i) => ({
    id: t.id ?? `call_${role.replace(/[^A-Za-z0-9]/g, '_')}_${call}_${i + 1}`,
    name: t.name,
    arguments: typeof t.arguments === 'string' ? t.arguments : JSON.stringify(t.arguments),
  }));
  const prompt = entry.usage?.prompt_tokens ?? estimateTokens(JSON.stringify(req.messages));
  const completionTokens =
    entry.usage?.completion_tokens ?? estimateTokens((content ?? '') + toolCalls.map((t) => t.name + t.arguments).join(''));
  return {
    content,
    toolCalls,
    finishReason: entry.finishReason ?? (toolCalls.length ? 'tool_calls' : 'stop'),
    usage: { prompt_tokens: prompt, completion_tokens: completionTokens, total_tokens: prompt + completionTokens },
  };
}

function completion(a: Answer, req: ChatRequest, n: number) {
  return {
    id: `chatcmpl-mock-${n}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: req.model,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: a.content,
          refusal: null,
          ...(a.toolCalls.length && {
            tool_calls: a.toolCalls.map((t) => ({ id: t.id, type: 'function', function: { name: t.name, arguments: t.arguments } })),
          }),
        },
        logprobs: null,
        finish_reason: a.finishReason,
      },
    ],
    usage: a.usage,
  };
}

const PIECE = 24;

function pieces(text: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += PIECE) out.push(text.slice(i, i + PIECE));
  return out;
}

function stream(res: ServerResponse, a: Answer, req: ChatRequest, n: number): void {
  const includeUsage = req.stream_options?.include_usage === true;
  const base = { id: `chatcmpl-mock-${n}`, object: 'chat.completion.chunk', created: Math.floor(Date.now() / 1000), model: req.model };
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
  const send = (delta: Record<string, unknown>, finish: string | null = null) =>
    res.write(`data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], ...(includeUsage && { usage: null }) })}\n\n`);
  send({ role: 'assistant', content: '' });
  for (const piece of pieces(a.content ?? '')) send({ content: piece });
  a.toolCalls.forEach((t, index) => {
    send({ tool_calls: [{ index, id: t.id, type: 'function', function: { name: t.name, arguments: '' } }] });
    for (const piece of pieces(t.arguments)) send({ tool_calls: [{ index, function: { arguments: piece } }] });
  });
  send({}, a.finishReason);
  if (includeUsage) res.write(`data: ${JSON.stringify({ ...base, choices: [], usage: a.usage })}\n\n`);
  res.end('data: [DONE]\n\n');
}

function textOf(content: z.infer<typeof RequestMessage>['content']): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((p) => p.text ?? '').join('');
  return '';
}

function checkExpect(entry: ScriptEntry, req: ChatRequest): { message: string; expected: string } | undefined {
  const ex = entry.expect;
  if (!ex) return undefined;
  if (ex.contains?.length) {
    const last = [...req.messages].reverse().find((m) => m.role === 'user' || m.role === 'tool');
    const text = last ? textOf(last.content) : '';
    const missing = ex.contains.filter((s) => !text.includes(s));
    if (missing.length) {
      const shown = text.length > 400 ? `${text.slice(0, 400)}…` : text;
      return {
        message: `expected the last user/tool message to contain ${missing.map((s) => JSON.stringify(s)).join(', ')}; it was ${last ? `(${last.role}) ${JSON.stringify(shown)}` : 'absent'}`,
        expected: `contains ${missing.map((s) => JSON.stringify(s)).join(', ')}`,
      };
    }
  }
  if (ex.tools?.length) {
    const offered = (req.tools ?? []).map((t) => t.function?.name).filter((n): n is string => n !== undefined);
    const missing = ex.tools.filter((t) => !offered.includes(t));
    if (missing.length) {
      return {
        message: `expected tools ${missing.join(', ')} to be offered; offered: ${offered.join(', ') || 'none'}`,
        expected: `tools ${ex.tools.join(', ')}`,
      };
    }
  }
  if (ex.responseFormat !== undefined) {
    const rf = req.response_format;
    const name = rf?.type === 'json_schema' ? rf.json_schema?.name : undefined;
    if (name !== ex.responseFormat) {
      return {
        message: `expected response_format json_schema "${ex.responseFormat}"; got ${rf ? `${rf.type}${name ? ` "${name}"` : ''}` : 'none'}`,
        expected: `response_format json_schema "${ex.responseFormat}"`,
      };
    }
  }
  if (ex.stream !== undefined && (req.stream === true) !== ex.stream) {
    return {
      message: `expected a ${ex.stream ? 'streamed' : 'non-streamed'} request`,
      expected: ex.stream ? 'stream: true' : 'stream: false',
    };
  }
  return undefined;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  const s = Array.isArray(v) ? v[0] : v;
  return s ? s : undefined;
}


function errorBody(type: string, message: string) {
  return { error: { message, type, code: null } };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
