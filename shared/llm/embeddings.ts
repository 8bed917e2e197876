import { OpenAIEmbeddings } from '@langchain/openai';
import { z } from 'zod';
import { fieldIssues, NightshiftError, type FieldIssue } from '../errors.ts';
import type { Logger } from '../log.ts';
import { inSpan, SpanKind } from '../trace.ts';
import type { Role } from '../ticket/states.ts';
import type { LlmConfig } from './config.ts';
import { ModelBehaviorError, ModelRequestError, ModelTimeoutError, ModelUnavailableError } from './errors.ts';
import { classify } from './client.ts';
import { ROLE_HEADER, TICKET_HEADER } from './headers.ts';
import type { TokenMeter, TokenUsage } from './usage.ts';

/** Texts per request; longer lists are split (OpenAI takes at most 2048 inputs a request). */
const BATCH_SIZE = 512;

/** Turns texts into vectors with an embeddings model. */
export interface Embedder {
  /** The embeddings model's name. */
  readonly model: string;
  /**
   * One vector per text, in the order of `texts`, all of one non-zero length; `[]` for no texts, without
   * a call. Throws ModelBehaviorError (`off_schema`) when the endpoint's answer is malformed, and like a
   * chat call ModelTimeoutError, ModelUnavailableError (both after the configured retries) or
   * ModelRequestError; when `signal` aborts, its reason.
   */
  embed(texts: readonly string[], signal?: AbortSignal): Promise<number[][]>;
}

/** What `createEmbedder` needs besides the configuration. */
export interface EmbedderDeps {
  log: Logger;
  /** Sent as `x-nightshift-role`. */
  role?: Role;
  /** Sent as `x-nightshift-ticket`. */
  ticketId?: string;
  /**
   * Counts the tokens of every embeddings request against the ticket's budget, under `role`
   * (`embeddings` without one); a request that goes over the budget throws BudgetExceededError.
   */
  meter?: TokenMeter;
}

/**
 * The embeddings client of `config`, or null when `NIGHTSHIFT_EMBEDDINGS_MODEL` is unset (the caller
 * then does without embeddings). It calls `POST /embeddings` at `NIGHTSHIFT_EMBEDDINGS_BASE_URL`
 * (default `OPENAI_BASE_URL`) with `OPENAI_API_KEY` as bearer token, the role and ticket headers of
 * the chat client, `NIGHTSHIFT_MODEL_TIMEOUT` per attempt and `NIGHTSHIFT_MODEL_RETRIES` retries of
 * timeouts, 429, 5xx and lost connections (never of other 4xx).
 */
export function createEmbedder(config: LlmConfig, deps: EmbedderDeps): Embedder | null {
  const model = config.NIGHTSHIFT_EMBEDDINGS_MODEL;
  if (model === undefined) return null;
  const baseURL = config.NIGHTSHIFT_EMBEDDINGS_BASE_URL ?? config.OPENAI_BASE_URL;
  const timeoutMs = config.NIGHTSHIFT_MODEL_TIMEOUT;
  const retries = config.NIGHTSHIFT_MODEL_RETRIES;
  const headers: Record<string, string> = {
    ...(deps.role !== undefined && { [ROLE_HEADER]: deps.role }),
    ...(deps.ticketId !== undefined && { [TICKET_HEADER]: deps.ticketId }),
  };
  const log = deps.log.child({
    ...(deps.role !== undefined && { role: deps.role }),
    ...(deps.ticketId !== undefined && { ticketId: deps.ticketId }),
    embeddingsModel: model,
  });
  const source = `the embeddings model "${model}" at ${baseURL}`;

  /** What went wrong, as the errors the chat client throws. */
  function failure(err: unknown): Error {
    if (err instanceof NightshiftError) return err;
    if (err instanceof SyntaxError) {
      return new ModelBehaviorError('off_schema', `${source} answered with a body that is not JSON: ${firstLine(err)}`, { cause: err });
    }
    const kind = classify(err).kind;
    const attempts = retries + 1;
    const status = (err as { status?: number }).status;
    switch (kind) {
      case 'timeout':
        return new ModelTimeoutError(timeoutMs, attempts);
      case 'retry':
        return new ModelUnavailableError(
          `${source} failed${status ? ` with HTTP ${status}` : ''}: ${firstLine(err)} (${attempts} attempt${attempts === 1 ? '' : 's'})`,
          { status, attempts, cause: err },
        );
      case 'reject':
        return new ModelRequestError(`${source} refused the request with HTTP ${status}: ${firstLine(err)}`, { status: status!, cause: err });
      case 'other':
        return err instanceof Error ? err : new Error(String(err));
    }
  }

  async function embed(texts: readonly string[], signal?: AbortSignal): Promise<number[][]> {
    if (texts.length === 0) return [];
    signal?.throwIfAborted();
    // One span per call (its batches and retries included): the model and how many texts, never the texts.
    const attributes = { 'gen_ai.operation.name': 'embeddings', 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': model, 'nightshift.embeddings.texts': texts.length };
    return inSpan(`embeddings ${model}`, { kind: SpanKind.CLIENT, attributes }, () => embedNow(texts, signal));
  }

  async function embedNow(texts: readonly string[], signal?: AbortSignal): Promise<number[][]> {
    // One client per call, so that the call's signal reaches its requests.
    const meterRole = deps.role ?? 'embeddings';
    const client = new CheckedEmbeddings(source, (usage) => deps.meter?.record(meterRole, usage), {
      model,
      // The OpenAI client refuses to start without a key; local endpoints ignore it.
      apiKey: config.OPENAI_API_KEY ?? 'unset',
      // Per attempt. The client's own `timeout` wins over `configuration.timeout`.
      timeout: timeoutMs,
      maxRetries: retries,
      onFailedAttempt: (err: unknown) => {
        // Returning retries the attempt (after a backoff); throwing ends the call.
        if (signal?.aborted) throw err;
        const kind = classify(err).kind;
        if (kind !== 'timeout' && kind !== 'retry') throw err;
        log.warn({ err: firstLine(err) }, 'embeddings call failed; retrying');
      },
      batchSize: BATCH_SIZE,
      stripNewLines: false,
      // Asked for explicitly, the client hands the answer back undecoded for `vectorsOf` to check.
      encodingFormat: 'base64',
      configuration: {
        baseURL,
        defaultHeaders: headers,
        ...(signal && { fetch: abortableFetch(signal) }),
      },
    });
    const started = Date.now();
    try {
      const vectors = await abortable(client.embedDocuments([...texts]), signal);
      const lengths = new Set(vectors.map((v) => v.length));
      if (lengths.size > 1) throw malformed(source, `its vectors differ in length (${[...lengths].join(', ')} numbers)`, []);
      log.debug({ texts: texts.length, dimensions: vectors[0]!.length, ms: Date.now() - started }, 'embeddings call');
      return vectors;
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      const error = failure(err);
      log.warn({ texts: texts.length, err: error.message }, 'embeddings call failed');
      throw error;
    }
  }

  return { model, embed };
}

/**
 * Cosine similarity of two vectors of one length, in [-1, 1]; 0 when either is all zeros. Throws a
 * RangeError when the lengths differ.
 */
export function cosine(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length) throw new RangeError(`cosine of vectors of different lengths (${a.length} and ${b.length})`);
  let dot = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    dot += x * y;
    aa += x * x;
    bb += y * y;
  }
  if (aa === 0 || bb === 0) return 0;
  return Math.max(-1, Math.min(1, dot / Math.sqrt(aa * bb)));
}

/** LangChain's OpenAI embeddings with every answer checked (and put in input order) before it is used. */
class CheckedEmbeddings extends OpenAIEmbeddings {
  readonly source: string;
  readonly onUsage: (usage: TokenUsage) => void;

  constructor(source: string, onUsage: (usage: TokenUsage) => void, fields: ConstructorParameters<typeof OpenAIEmbeddings>[0]) {
    super(fields);
    this.source = source;
    this.onUsage = onUsage;
  }

  protected override async embeddingWithRetry(request: Parameters<OpenAIEmbeddings['embeddingWithRetry']>[0]) {
    const response = await super.embeddingWithRetry(request);
    const expected = Array.isArray(request.input) ? request.input.length : 1;
    const vectors = vectorsOf(response, expected, this.source);
    // Tokens the endpoint reports; one that reports none is estimated at 4 characters a token.
    const reported = EmbeddingsUsage.safeParse((response as { usage?: unknown }).usage);
    const input = reported.success ? reported.data.prompt_tokens : Math.ceil([request.input].flat().join('').length / 4);
    this.onUsage({ inputTokens: input, outputTokens: 0, totalTokens: input });
    return { ...response, data: vectors.map((embedding, index) => ({ object: 'embedding' as const, index, embedding })) };
  }
}

const EmbeddingsUsage = z.looseObject({ prompt_tokens: z.number().int().min(0) });

const EmbeddingsBody = z.looseObject({
  data: z.array(
    z.looseObject({
      index: z.number().int().min(0).optional(),
      /** A list of numbers, or base64 of little-endian float32s. */
      embedding: z.union([z.array(z.unknown()), z.string()]),
    }),
  ),
});
/** zod's numbers are finite. */
const Vector = z.array(z.number()).min(1, 'an embedding has at least one number');

/** The vectors of an embeddings answer to `expected` texts, in input order; throws ModelBehaviorError. */
function vectorsOf(body: unknown, expected: number, source: string): number[][] {
  const parsed = EmbeddingsBody.safeParse(body);
  if (!parsed.success) throw malformed(source, 'it is not a list of embeddings', fieldIssues(parsed.error.issues));
  const data = parsed.data.data;
  if (data.length !== expected) {
    throw malformed(source, `it has ${data.length} embedding${data.length === 1 ? '' : 's'} for ${expected} text${expected === 1 ? '' : 's'}`, [
      { path: 'data', message: `expected ${expected} embeddings, got ${data.length}` },
    ]);
  }
  // OpenAI numbers each embedding with the index of its text; a server that does not keeps input order.
  let order = data.map((_, i) => i);
  if (data.some((d) => d.index !== undefined)) {
    const indexes = data.map((d) => d.index);
    if (new Set(indexes).size !== expected || indexes.some((i) => i === undefined || i >= expected)) {
      throw malformed(source, `its indexes are not 0 to ${expected - 1}, once each`, [{ path: 'data', message: `indexes ${JSON.stringify(indexes)}` }]);
    }
    order = [...order].sort((x, y) => data[x]!.index! - data[y]!.index!);
  }
  const issues: FieldIssue[] = [];
  const vectors = order.map((at) => {
    const raw = data[at]!.embedding;
    const path = `data.${at}.embedding`;
    let numbers: unknown = raw;
    if (typeof raw === 'string') {
      const bytes = Buffer.from(raw, 'base64');
      if (bytes.length % 4 !== 0) {
        issues.push({ path, message: `base64 of ${bytes.length} bytes is not a list of float32s` });
        return [];
      }
      numbers = Array.from({ length: bytes.length / 4 }, (_, i) => bytes.readFloatLE(i * 4));
    }
    const vector = Vector.safeParse(numbers);
    if (!vector.success) {
      issues.push(...fieldIssues(vector.error.issues).map((i) => ({ path: i.path === '(root)' ? path : `${path}.${i.path}`, message: i.message })));
      return [];
    }
    return vector.data;
  });
  if (issues.length) throw malformed(source, `its embeddings are not lists of finite numbers (${issues[0]!.path}: ${issues[0]!.message})`, issues);
  const lengths = [...new Set(vectors.map((v) => v.length))];
  if (lengths.length > 1) {
    throw malformed(
      source,
      `its vectors differ in length (${lengths.join(', ')} numbers)`,
      vectors.map((v, i) => ({ path: `data.${order[i]}.embedding`, message: `${v.length} numbers` })),
    );
  }
  return vectors;
}

function malformed(source: string, detail: string, issues: FieldIssue[]): ModelBehaviorError {
  return new ModelBehaviorError('off_schema', `${source} gave a malformed answer: ${detail}`, { issues });
}

/** `fetch` whose requests also end when `signal` aborts. */
function abortableFetch(signal: AbortSignal) {
  return (input: string | URL | Request, init?: RequestInit): Promise<Response> =>
    fetch(input, { ...init, signal: init?.signal ? AbortSignal.any([init.signal, signal]) : signal });
}

/** `work`, or the abort reason as soon as `signal` aborts. */
function abortable<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  work.catch(() => undefined);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
}
