import { AIMessage, HumanMessage, type BaseMessage } from '@langchain/core/messages';
import { z } from 'zod';
import { fieldIssues, type FieldIssue } from '../errors.ts';
import type { Llm } from './client.ts';
import { ModelBehaviorError } from './errors.ts';
import type { JsonSchemaFormat } from './transcript.ts';

/** What to ask for: a zod schema and the name the model sees it under. */
export interface StructuredSpec<S extends z.ZodType> {
  schema: S;
  /** Letters, digits, `_` and `-`: the `json_schema` name, e.g. `spec`. */
  name: string;
  description?: string;
  /** Further asks after an off-schema answer; 2 unless told. */
  maxRepairs?: number;
}

/** A validated answer and how many repairs it took. */
export interface StructuredResult<T> {
  value: T;
  repairs: number;
}

/** The JSON Schema of what `schema` accepts, without `$schema` (OpenAI-compatible servers vary on it). */
export function jsonSchemaOf(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}

/** The `response_format` asking for JSON that matches `schema`. */
export function jsonSchemaFormat(name: string, schema: z.ZodType, description?: string): JsonSchemaFormat {
  return { type: 'json_schema', json_schema: { name, ...(description && { description }), schema: jsonSchemaOf(schema) } };
}

/**
 * Parses a model's answer as JSON (a whole-answer ```json fence is tolerated) and validates it.
 * Issues name schema paths; a non-JSON answer is one issue at `(root)`.
 */
export function parseAnswer<S extends z.ZodType>(schema: S, text: string): { ok: true; value: z.infer<S> } | { ok: false; issues: FieldIssue[] } {
  const trimmed = text.trim();
  const fenced = /^```(?:json)?\s*\n([\s\S]*?)\n?```$/i.exec(trimmed);
  let json: unknown;
  try {
    json = JSON.parse(fenced ? fenced[1]! : trimmed);
  } catch (err) {
    const what = trimmed === '' ? 'the answer is empty' : `the answer is not JSON (${(err as Error).message})`;
    return { ok: false, issues: [{ path: '(root)', message: what }] };
  }
  return validate(schema, json);
}

/** Validates an already-parsed value (tool arguments). */
export function validate<S extends z.ZodType>(schema: S, value: unknown): { ok: true; value: z.infer<S> } | { ok: false; issues: FieldIssue[] } {
  const parsed = schema.safeParse(value);
  return parsed.success ? { ok: true, value: parsed.data } : { ok: false, issues: fieldIssues(parsed.error.issues) };
}

/** The message that tells the model what was wrong with its answer. */
export function repairPrompt(
  name: string,
  issues: readonly FieldIssue[],
  again = 'Answer again with only the corrected JSON, nothing else.',
): string {
  return [`Your previous answer does not match the required JSON schema "${name}":`, ...issues.map((i) => `- ${i.path}: ${i.message}`), again].join('\n');
}

/**
 * Asks for JSON matching `spec.schema` (`response_format: json_schema`) and validates the answer
 * with zod. An answer that is not JSON or does not match is sent back with the validation errors,
 * at most `maxRepairs` times; then ModelBehaviorError('off_schema') carrying the issues.
 */
export async function askStructured<S extends z.ZodType>(
  llm: Llm,
  messages: readonly BaseMessage[],
  spec: StructuredSpec<S>,
): Promise<StructuredResult<z.infer<S>>> {
  const maxRepairs = spec.maxRepairs ?? 2;
  const responseFormat = jsonSchemaFormat(spec.name, spec.schema, spec.description);
  const history: BaseMessage[] = [...messages];
  for (let repairs = 0; ; repairs++) {
    const reply = await llm.call(history, { responseFormat });
    const result = parseAnswer(spec.schema, reply.text);
    if (result.ok) return { value: result.value, repairs };
    if (repairs >= maxRepairs) {
      throw new ModelBehaviorError(
        'off_schema',
        `the ${llm.role} model answered off the "${spec.name}" schema ${repairs + 1} times: ${result.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
        { issues: result.issues, lastAnswer: reply.text.slice(0, 2_000) },
      );
    }
    history.push(new AIMessage(reply.text), new HumanMessage(repairPrompt(spec.name, result.issues)));
  }
}
