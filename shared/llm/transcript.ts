import { z } from 'zod';
import type { MockScript, ScriptEntry } from './script.ts';
import { TokenUsage } from './usage.ts';

/** A message as sent to the Chat Completions API. */
export const ChatMessage = z.looseObject({
  role: z.string(),
  content: z.union([z.string(), z.array(z.looseObject({ type: z.string() })), z.null()]).optional(),
  tool_calls: z
    .array(z.looseObject({ id: z.string(), type: z.string(), function: z.object({ name: z.string(), arguments: z.string() }) }))
    .optional(),
  tool_call_id: z.string().optional(),
  name: z.string().optional(),
});
export type ChatMessage = z.infer<typeof ChatMessage>;

/** A function tool offered to the model, in the Chat Completions format. */
export const ToolDefinition = z.object({
  type: z.literal('function'),
  function: z.object({
    name: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
    description: z.string().optional(),
    parameters: z.record(z.string(), z.unknown()),
  }),
});
export type ToolDefinition = z.infer<typeof ToolDefinition>;

/** A `response_format` asking for JSON matching a schema. */
export const JsonSchemaFormat = z.object({
  type: z.literal('json_schema'),
  json_schema: z.object({
    name: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
    description: z.string().optional(),
    schema: z.record(z.string(), z.unknown()),
    strict: z.boolean().optional(),
  }),
});
export type JsonSchemaFormat = z.infer<typeof JsonSchemaFormat>;

/** A tool call as the model made it; `arguments` is the JSON text. */
export const RecordedToolCall = z.object({ id: z.string(), name: z.string(), arguments: z.string() });
export type RecordedToolCall = z.infer<typeof RecordedToolCall>;

/**
 * One attempt of one model call: what was asked, what came back (or the error), the tokens it cost.
 * A ticket's exchanges, in order, are enough to replay its run through mock-llm (`toMockScript`).
 */
export const Exchange = z.object({
  v: z.literal(1),
  id: z.string(),
  ticketId: z.string(),
  role: z.string(),
  model: z.string(),
  /** 1-based number of the call within the client that made it; retries share it. */
  seq: z.number().int().min(1),
  /** 1-based attempt of that call. */
  attempt: z.number().int().min(1),
  startedAt: z.iso.datetime(),
  endedAt: z.iso.datetime(),
  durationMs: z.number().min(0),
  request: z.object({
    messages: z.array(ChatMessage),
    tools: z.array(ToolDefinition).optional(),
    toolChoice: z.string().optional(),
    responseFormat: JsonSchemaFormat.optional(),
    stream: z.boolean(),
  }),
  response: z
    .object({
      content: z.string(),
      toolCalls: z.array(RecordedToolCall),
      finishReason: z.string().optional(),
    })
    .optional(),
  /** `estimated` when the endpoint reported no usage and the figures were counted from the text. */
  usage: TokenUsage.extend({ estimated: z.boolean() }).optional(),
  error: z
    .object({ code: z.string(), message: z.string(), retryable: z.boolean(), status: z.number().int().optional() })
    .optional(),
});
export type Exchange = z.infer<typeof Exchange>;

/**
 * Where exchanges go. The agent main implements it over the bus; `record` is awaited after every
 * attempt, and a rejection is logged, never fatal to the call.
 */
export interface TranscriptSink {
  record(exchange: Exchange): Promise<void>;
}

/** A sink that keeps exchanges in memory (tests, the CLI). */
export interface MemoryTranscript extends TranscriptSink {
  readonly exchanges: Exchange[];
}

export function memoryTranscript(): MemoryTranscript {
  const exchanges: Exchange[] = [];
  return {
    exchanges,
    record: async (exchange) => {
      exchanges.push(Exchange.parse(exchange));
    },
  };
}

export interface ToMockScriptOptions {
  description?: string;
  /**
   * Also expect each request's last user/tool message to start as recorded (its first `n`
   * characters). Off by default: prompts holding ids or paths of the recorded run would not match.
   */
  expectPromptPrefix?: number;
}

/**
 * A mock-llm script that answers a replay of these exchanges exactly as they were answered: per
 * role, in the order they were made. Failed attempts (timeouts, HTTP errors) are left out: the
 * replay answers each call at its first attempt. Each response expects the same tools and
 * response format as recorded.
 */
export function toMockScript(exchanges: readonly Exchange[], opts: ToMockScriptOptions = {}): MockScript {
  const ordered = exchanges
    .filter((e) => e.response !== undefined)
    .map((e, i) => ({ e, i }))
    .sort((a, b) => a.e.startedAt.localeCompare(b.e.startedAt) || a.i - b.i)
    .map(({ e }) => e);
  const roles: Record<string, ScriptEntry[]> = {};
  for (const e of ordered) {
    const r = e.response!;
    const tools = e.request.tools?.map((t) => t.function.name);
    const format = e.request.responseFormat?.json_schema.name;
    const last = [...e.request.messages].reverse().find((m) => m.role === 'user' || m.role === 'tool');
    const lastText = typeof last?.content === 'string' ? last.content : '';
    const prefix = opts.expectPromptPrefix && lastText ? lastText.slice(0, opts.expectPromptPrefix) : undefined;
    const entry: ScriptEntry = {
      ...((r.content !== '' || r.toolCalls.length === 0) && { content: r.content }),
      ...(r.toolCalls.length > 0 && { toolCalls: r.toolCalls.map((t) => ({ id: t.id, name: t.name, arguments: t.arguments })) }),
      ...(r.finishReason && !['stop', 'tool_calls'].includes(r.finishReason) && { finishReason: r.finishReason as ScriptEntry['finishReason'] }),
      ...(e.usage && !e.usage.estimated && { usage: { prompt_tokens: e.usage.inputTokens, completion_tokens: e.usage.outputTokens } }),
    };
    const expect = {
      ...(tools?.length && { tools }),
      ...(format && { responseFormat: format }),
      ...(prefix && { contains: [prefix] }),
    };
    if (Object.keys(expect).length) entry.expect = expect;
    (roles[e.role] ??= []).push(entry);
  }
  return { version: 1, ...(opts.description && { description: opts.description }), roles };
}
