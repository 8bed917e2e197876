import { randomUUID } from 'node:crypto';
import { AIMessage, type AIMessageChunk, type BaseMessage } from '@langchain/core/messages';
import { convertMessagesToCompletionsMessageParams } from '@langchain/openai';
import { delay } from '../async.ts';
import { describeError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { observeModelCall } from '../metrics.ts';
import { markError, SpanKind, tracer } from '../trace.ts';
import { ModelRequestError, ModelTimeoutError, ModelUnavailableError } from './errors.ts';
import { createChatModel, type ModelSettings } from './model.ts';
import { estimateTokens } from './script.ts';
import { ChatMessage, Exchange, type JsonSchemaFormat, type RecordedToolCall, type ToolDefinition, type TranscriptSink } from './transcript.ts';
import type { TokenMeter, TokenUsage } from './usage.ts';

/** Options of one model call. */
export interface CallOptions {
  tools?: readonly ToolDefinition[];
  toolChoice?: 'auto' | 'none' | 'required';
  /** Asks for JSON matching a schema. Such calls are streamed (see `call`). */
  responseFormat?: JsonSchemaFormat;
  stream?: boolean;
}

/** A tool call of a reply. `args` is undefined when the arguments were not a JSON object (`error` says why). */
export interface ModelToolCall {
  id: string;
  name: string;
  args: Record<string, unknown> | undefined;
  /** The arguments as JSON text. */
  arguments: string;
  error?: string;
}

/** What one model call returned. */
export interface ModelReply {
  /** The reply as a message, to append to the conversation. */
  message: AIMessage;
  text: string;
  toolCalls: ModelToolCall[];
  finishReason: string | undefined;
  usage: TokenUsage;
}

/**
 * One role's model for one ticket: every call is bounded by the timeout, retried on timeouts,
 * 429, 5xx and lost connections (never on other 4xx), counted against the ticket's budget and
 * recorded to the transcript.
 */
export interface Llm {
  readonly role: string;
  readonly ticketId: string;
  readonly model: string;
  readonly meter: TokenMeter;
  /**
   * One model call. Throws BudgetExceededError (before the call when nothing is left, or after a call
   * that went over), ModelTimeoutError, ModelUnavailableError or ModelRequestError.
   */
  call(messages: readonly BaseMessage[], opts?: CallOptions): Promise<ModelReply>;
  /** A plain text answer. */
  complete(messages: readonly BaseMessage[]): Promise<string>;
}

export interface LlmDeps {
  settings: ModelSettings;
  role: string;
  ticketId: string;
  meter: TokenMeter;
  log: Logger;
  transcript?: TranscriptSink;
  /** Aborts calls in flight and retry waits (shutdown); the abort error is rethrown as is. */
  signal?: AbortSignal;
  now?: () => number;
}

/** How a failed model request ends: timed out, worth another attempt, refused for good, or something else. */
export type Failure =
  | { kind: 'timeout' }
  | { kind: 'retry'; status: number | undefined; retryAfterMs: number | undefined; err: unknown }
  | { kind: 'reject'; status: number; err: unknown }
  | { kind: 'other'; err: unknown };

export function createLlm(deps: LlmDeps): Llm {
  const { settings, role, ticketId, meter, transcript } = deps;
  const log = deps.log.child({ role, ticketId, model: settings.model });
  const now = deps.now ?? Date.now;
  const model = createChatModel(settings, { role, ticketId });
  let seq = 0;

  async function attempt(messages: BaseMessage[], opts: CallOptions, stream: boolean, signal: AbortSignal): Promise<AIMessage> {
    const callOptions = {
      signal,
      ...(opts.tools?.length && { tools: [...opts.tools] }),
      ...(opts.toolChoice && opts.tools?.length && { tool_choice: opts.toolChoice }),
      ...(opts.responseFormat && { response_format: opts.responseFormat }),
    };
    if (!stream) return (await model.invoke(messages, callOptions)) as AIMessage;
    let full: AIMessageChunk | undefined;
    for await (const chunk of await model.stream(messages, callOptions)) full = full ? full.concat(chunk) : chunk;
    // An empty stream is a connection that ended early: classified as worth another attempt.
    if (!full) throw new ModelUnavailableError('the model streamed no chunks', { status: undefined, attempts: 1 });
    return new AIMessage({
      content: full.content,
      tool_calls: full.tool_calls ?? [],
      invalid_tool_calls: full.invalid_tool_calls ?? [],
      ...(full.usage_metadata && { usage_metadata: full.usage_metadata }),
      response_metadata: full.response_metadata,
      ...(full.id && { id: full.id }),
    });
  }

  async function record(exchange: Exchange): Promise<void> {
    if (!transcript) return;
    try {
      await transcript.record(exchange);
    } catch (err) {
      log.error({ err, exchange: exchange.id }, 'could not record a model exchange');
    }
  }

  async function call(input: readonly BaseMessage[], opts: CallOptions = {}): Promise<ModelReply> {
    meter.check(role);
    const messages = [...input];
    // A non-streamed json_schema request goes through the OpenAI SDK's parse(), which throws away an
    // answer that is not JSON (with its usage); streamed, every answer comes back for us to judge.
    const stream = opts.stream === true || opts.responseFormat !== undefined;
    const request = {
      messages: ChatMessage.array().parse(convertMessagesToCompletionsMessageParams({ messages, model: settings.model })),
      ...(opts.tools?.length && { tools: [...opts.tools] }),
      ...(opts.toolChoice && opts.tools?.length && { toolChoice: opts.toolChoice }),
      ...(opts.responseFormat && { responseFormat: opts.responseFormat }),
      stream,
    };
    seq += 1;
    const attempts = settings.retries + 1;
    for (let n = 1; ; n++) {
      deps.signal?.throwIfAborted();
      const started = now();
      const base = { v: 1 as const, id: randomUUID(), ticketId, role, model: settings.model, seq, attempt: n, startedAt: new Date(started).toISOString(), request };
      const deadline = new AbortController();
      const timer = setTimeout(() => deadline.abort(), settings.timeoutMs);
      const signal = deps.signal ? AbortSignal.any([deadline.signal, deps.signal]) : deadline.signal;
      // One span per request, under the active one (the stage): what was asked of which model and
      // what it cost, never the messages.
      const span = tracer.startSpan(`chat ${settings.model}`, {
        kind: SpanKind.CLIENT,
        attributes: {
          'gen_ai.operation.name': 'chat',
          'gen_ai.provider.name': 'openai',
          'gen_ai.request.model': settings.model,
          'nightshift.role': role,
          'nightshift.ticket.id': ticketId,
          'nightshift.model.call': seq,
          'nightshift.model.attempt': n,
        },
      });
      let message: AIMessage;
      try {
        message = await attempt(messages, opts, stream, signal);
      } catch (err) {
        markError(span, deadline.signal.aborted ? new ModelTimeoutError(settings.timeoutMs, n) : err);
        span.end();
        if (deps.signal?.aborted) throw err;
        const failure = classify(err, deadline.signal.aborted);
        const ended = now();
        observeModelCall(role, ended - started);
        const error = failureError(failure, n);
        const status = failure.kind === 'retry' || failure.kind === 'reject' ? failure.status : undefined;
        await record(
          Exchange.parse({
            ...base,
            endedAt: new Date(ended).toISOString(),
            durationMs: ended - started,
            error: { ...describeError(error), ...(status !== undefined && { status }) },
          }),
        );
        if ((failure.kind === 'timeout' || failure.kind === 'retry') && n < attempts) {
          const wait = Math.min(settings.retryDelayMs * 2 ** (n - 1), settings.retryDelayMaxMs);
          const retryAfter = failure.kind === 'retry' ? Math.min(failure.retryAfterMs ?? 0, settings.retryDelayMaxMs) : 0;
          log.warn({ attempt: n, of: attempts, err: error.message, retryInMs: Math.max(wait, retryAfter) }, 'model call failed; retrying');
          await delay(Math.max(wait, retryAfter), deps.signal);
          continue;
        }
        log.warn({ attempt: n, of: attempts, err: error.message }, 'model call failed');
        throw error;
      } finally {
        clearTimeout(timer);
      }
      try {
        const ended = now();
        const text = message.text;
        const toolCalls = toolCallsOf(message);
        const usage = usageOf(message, request.messages, text, toolCalls);
        const finishReason = finishReasonOf(message);
        await record(
          Exchange.parse({
            ...base,
            endedAt: new Date(ended).toISOString(),
            durationMs: ended - started,
            response: {
              content: text,
              toolCalls: toolCalls.map((t): RecordedToolCall => ({ id: t.id, name: t.name, arguments: t.arguments })),
              ...(finishReason && { finishReason }),
            },
            usage,
          }),
        );
        log.debug(
          { seq, attempt: n, ms: ended - started, inputTokens: usage.inputTokens, outputTokens: usage.outputTokens, toolCalls: toolCalls.map((t) => t.name) },
          'model call',
        );
        meter.record(role, { inputTokens: usage.inputTokens, outputTokens: usage.outputTokens, totalTokens: usage.totalTokens });
        observeModelCall(role, ended - started, usage);
        span.setAttributes({
          'gen_ai.usage.input_tokens': usage.inputTokens,
          'gen_ai.usage.output_tokens': usage.outputTokens,
          'nightshift.model.tool_calls': toolCalls.length,
          ...(finishReason && { 'gen_ai.response.finish_reasons': [finishReason] }),
        });
        return { message, text, toolCalls, finishReason, usage: { inputTokens: usage.inputTokens, outputTokens: usage.outputTokens, totalTokens: usage.totalTokens } };
      } catch (err) {
        // A call that went over the ticket's budget, say.
        markError(span, err);
        throw err;
      } finally {
        span.end();
      }
    }
  }

  function failureError(f: Failure, attemptsMade: number): Error {
    switch (f.kind) {
      case 'timeout':
        return new ModelTimeoutError(settings.timeoutMs, attemptsMade);
      case 'retry':
        return new ModelUnavailableError(
          `the model endpoint ${settings.baseURL} failed${f.status ? ` with HTTP ${f.status}` : ''}: ${firstLine(f.err)} (${attemptsMade} attempt${attemptsMade === 1 ? '' : 's'})`,
          { status: f.status, attempts: attemptsMade, cause: f.err },
        );
      case 'reject':
        return new ModelRequestError(`the model endpoint ${settings.baseURL} refused the request with HTTP ${f.status}: ${firstLine(f.err)}`, {
          status: f.status,
          cause: f.err,
        });
      case 'other':
        return f.err instanceof Error ? f.err : new Error(String(f.err));
    }
  }

  return {
    role,
    ticketId,
    model: settings.model,
    meter,
    call,
    complete: async (messages) => (await call(messages)).text,
  };
}

/**
 * Classifies an error of the OpenAI client (chat or embeddings): timeouts, 429, 5xx and lost
 * connections are worth another attempt; other 4xx are not.
 */
export function classify(err: unknown, timedOut = false): Failure {
  if (timedOut) return { kind: 'timeout' };
  if (typeof err !== 'object' || err === null) return { kind: 'other', err };
  const e = err as { name?: unknown; status?: unknown; headers?: unknown };
  if (e.name === 'TimeoutError') return { kind: 'timeout' };
  if (typeof e.status === 'number') {
    if (e.status === 429 || e.status >= 500) return { kind: 'retry', status: e.status, retryAfterMs: retryAfterMs(e.headers), err };
    return { kind: 'reject', status: e.status, err };
  }
  // The OpenAI client's connection errors carry a `status` that is undefined.
  if ('status' in e) return { kind: 'retry', status: undefined, retryAfterMs: undefined, err };
  return { kind: 'other', err };
}

function retryAfterMs(headers: unknown): number | undefined {
  const value = headers instanceof Headers ? headers.get('retry-after') : undefined;
  const seconds = value ? Number(value) : NaN;
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1_000 : undefined;
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
}

function toolCallsOf(message: AIMessage): ModelToolCall[] {
  const valid = (message.tool_calls ?? []).map((t, i) => ({
    id: t.id ?? `call_${i + 1}`,
    name: t.name,
    args: t.args as Record<string, unknown>,
    arguments: JSON.stringify(t.args),
  }));
  const invalid = (message.invalid_tool_calls ?? []).map((t, i) => ({
    id: t.id ?? `call_invalid_${i + 1}`,
    name: t.name ?? '',
    args: undefined,
    arguments: t.args ?? '',
    error: t.error ?? 'the arguments are not a JSON object',
  }));
  return [...valid, ...invalid];
}

function usageOf(message: AIMessage, request: readonly ChatMessage[], text: string, toolCalls: readonly ModelToolCall[]): TokenUsage & { estimated: boolean } {
  const u = message.usage_metadata;
  if (u && (u.input_tokens > 0 || u.output_tokens > 0)) {
    return { inputTokens: u.input_tokens, outputTokens: u.output_tokens, totalTokens: u.total_tokens || u.input_tokens + u.output_tokens, estimated: false };
  }
  const inputTokens = estimateTokens(JSON.stringify(request));
  const outputTokens = estimateTokens(text + toolCalls.map((t) => t.name + t.arguments).join(''));
  return { inputTokens, outputTokens, totalTokens: inputTokens + outputTokens, estimated: true };
}

function finishReasonOf(message: AIMessage): string | undefined {
  const r = message.response_metadata?.finish_reason;
  return typeof r === 'string' ? r : undefined;
}
