import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { fieldIssues, UsageError } from '../errors.ts';

/** One tool call the mock answers with. `arguments` given as an object is sent as its JSON. */
export const ScriptToolCall = z
  .object({
    /** Defaults to `call_<role>_<call>_<index>`. */
    id: z.string().min(1).optional(),
    name: z.string().min(1),
    arguments: z.union([z.string(), z.record(z.string(), z.unknown())]).default({}),
  })
  .strict();
export type ScriptToolCall = z.infer<typeof ScriptToolCall>;

/** Token figures reported for a response; estimated from the text (4 characters a token) when absent. */
export const ScriptUsage = z
  .object({
    prompt_tokens: z.number().int().min(0),
    completion_tokens: z.number().int().min(0),
  })
  .strict();
export type ScriptUsage = z.infer<typeof ScriptUsage>;

/** Checks on the request a response answers; a request that fails one gets an HTTP 500. */
export const ScriptExpect = z
  .object({
    /** Substrings the last user or tool message must contain. */
    contains: z.array(z.string()).optional(),
    /** Names of tools the request must offer (others may be offered too). */
    tools: z.array(z.string()).optional(),
    /** The `json_schema` name the request's `response_format` must ask for. */
    responseFormat: z.string().optional(),
    /** Whether the request must (true) or must not (false) be streamed. */
    stream: z.boolean().optional(),
  })
  .strict();
export type ScriptExpect = z.infer<typeof ScriptExpect>;

/**
 * One scripted response. It answers with `content` (or `json`, sent as its JSON text) and/or
 * `toolCalls`; or, with `httpStatus`, with that HTTP error. `delayMs` waits before answering.
 */
export const ScriptEntry = z
  .object({
    content: z.string().optional(),
    json: z.unknown().optional(),
    toolCalls: z.array(ScriptToolCall).min(1).optional(),
    finishReason: z.enum(['stop', 'length', 'tool_calls', 'content_filter']).optional(),
    usage: ScriptUsage.optional(),
    expect: ScriptExpect.optional(),
    delayMs: z.number().int().min(0).max(600_000).optional(),
    httpStatus: z.number().int().min(400).max(599).optional(),
    /** The error message sent with `httpStatus`. */
    error: z.string().optional(),
    /** Free text for people reading the script; ignored. */
    note: z.string().optional(),
  })
  .strict()
  .superRefine((e, ctx) => {
    const answers = [e.content !== undefined, e.json !== undefined, e.toolCalls !== undefined].filter(Boolean).length;
    if (e.httpStatus !== undefined) {
      if (answers > 0) ctx.addIssue({ code: 'custom', message: 'an httpStatus entry has no content, json or toolCalls' });
    } else if (answers === 0) {
      ctx.addIssue({ code: 'custom', message: 'needs content, json, toolCalls or httpStatus' });
    } else if (e.content !== undefined && e.json !== undefined) {
      ctx.addIssue({ code: 'custom', message: 'content and json are alternatives: give one' });
    }
    if (e.error !== undefined && e.httpStatus === undefined) {
      ctx.addIssue({ code: 'custom', path: ['error'], message: 'error goes with httpStatus' });
    }
  });
export type ScriptEntry = z.infer<typeof ScriptEntry>;
/** A scripted response as written, before defaults are applied. */
export type ScriptEntryInput = z.input<typeof ScriptEntry>;

/**
 * A mock-llm script: per agent role, the responses to its calls in order. Each response answers
 * exactly one call and is never reused. See SCRIPT.md.
 */
export const MockScript = z
  .object({
    version: z.literal(1),
    description: z.string().optional(),
    roles: z.record(z.string().min(1), z.array(ScriptEntry)),
  })
  .strict();
export type MockScript = z.infer<typeof MockScript>;
/** A script as written, before defaults are applied. */
export type MockScriptInput = z.input<typeof MockScript>;

/** Validates a script; throws UsageError `invalid_mock_script` listing every problem. */
export function parseMockScript(value: unknown, source = 'script'): MockScript {
  const parsed = MockScript.safeParse(value);
  if (!parsed.success) {
    const issues = fieldIssues(parsed.error.issues);
    throw new UsageError(`${source} is not a valid mock-llm script`, 'invalid_mock_script', issues);
  }
  return parsed.data;
}

/** Reads and validates a script file. */
export async function loadMockScript(path: string): Promise<MockScript> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read mock-llm script ${path}: ${(err as Error).message}`, 'invalid_mock_script');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${path} is not JSON: ${(err as Error).message}`, 'invalid_mock_script');
  }
  return parseMockScript(value, path);
}

/** The content a scripted entry answers with (`json` serialised), or null when it only calls tools. */
export function entryContent(entry: ScriptEntry): string | null {
  if (entry.content !== undefined) return entry.content;
  if (entry.json !== undefined) return JSON.stringify(entry.json);
  return null;
}

/** A rough token count: four characters a token, at least one. */
export function estimateTokens(text: string): number {
  return Math.max(1, Math.ceil(text.length / 4));
}
