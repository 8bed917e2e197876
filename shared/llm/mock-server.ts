import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import type { Logger } from '../log.ts';
import { readBody } from '../http.ts';
import { ROLE_HEADER, TICKET_HEADER } from './headers.ts';
import { buildAnswer, ChatRequest, checkExpect, completion, stream } from './mock-answer.ts';
import { float32Base64, mockEmbedding } from './mock-embedding.ts';
import { estimateTokens, parseMockScript, type MockScript, type MockScriptInput, type ScriptEntry } from './script.ts';

export { MOCK_EMBEDDING_DIMENSIONS, mockEmbedding } from './mock-embedding.ts';

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
