import type { MockScriptInput, ScriptEntryInput } from '../../shared/llm/index.ts';

type Extra = Omit<ScriptEntryInput, 'content' | 'json' | 'toolCalls' | 'httpStatus' | 'error'>;

/**
 * Builders of mock-llm script responses, so tests read like the conversation they script:
 * `script({ coder: [reply.toolCall('read_file', { path: 'a.ts' }), reply.json({ ok: true })] })`.
 */
export const reply = {
  text: (content: string, extra: Extra = {}): ScriptEntryInput => ({ content, ...extra }),
  json: (value: unknown, extra: Extra = {}): ScriptEntryInput => ({ json: value, ...extra }),
  toolCall: (name: string, args: Record<string, unknown> | string = {}, extra: Extra = {}): ScriptEntryInput => ({
    toolCalls: [{ name, arguments: args }],
    ...extra,
  }),
  toolCalls: (calls: { name: string; args?: Record<string, unknown> | string; id?: string }[], extra: Extra = {}): ScriptEntryInput => ({
    toolCalls: calls.map((c) => ({ name: c.name, arguments: c.args ?? {}, ...(c.id && { id: c.id }) })),
    ...extra,
  }),
  httpError: (httpStatus: number, error?: string, extra: Omit<Extra, 'usage' | 'finishReason'> = {}): ScriptEntryInput => ({
    httpStatus,
    ...(error && { error }),
    ...extra,
  }),
};

/** A version-1 script from per-role responses. */
export function script(roles: Record<string, ScriptEntryInput[]>, description?: string): MockScriptInput {
  return { version: 1, ...(description && { description }), roles };
}
