import type { ServerResponse } from 'node:http';
import { z } from 'zod';
import { entryContent, estimateTokens, type ScriptEntry } from './script.ts';

/*
 * How mock-llm answers a chat completion request from a scripted entry: the request as it reads it,
 * the check of the entry's `expect`, and the answer as one completion or as a stream of chunks.
 */

const ContentPart = z.looseObject({ type: z.string(), text: z.string().optional() });
const RequestMessage = z.looseObject({
  role: z.string(),
  content: z.union([z.string(), z.array(ContentPart), z.null()]).optional(),
});
/** A chat completion request, as far as mock-llm reads it. */
export const ChatRequest = z.looseObject({
  model: z.string(),
  messages: z.array(RequestMessage).min(1),
  stream: z.boolean().nullish(),
  stream_options: z.looseObject({ include_usage: z.boolean().optional() }).nullish(),
  tools: z.array(z.looseObject({ type: z.string(), function: z.looseObject({ name: z.string() }).optional() })).nullish(),
  response_format: z.looseObject({ type: z.string(), json_schema: z.looseObject({ name: z.string().optional() }).optional() }).nullish(),
});
export type ChatRequest = z.infer<typeof ChatRequest>;

/** What a scripted entry answers to a request: the assistant message, why it ended, and the usage. */
export interface Answer {
  content: string | null;
  toolCalls: { id: string; name: string; arguments: string }[];
  finishReason: string;
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
}

export function buildAnswer(entry: ScriptEntry, req: ChatRequest, role: string, call: number): Answer {
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

/** The answer as a chat completion. */
export function completion(a: Answer, req: ChatRequest, n: number) {
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

/** The answer as server-sent chunks (content and tool call arguments in pieces), with the usage when asked for. */
export function stream(res: ServerResponse, a: Answer, req: ChatRequest, n: number): void {
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

/** What of the entry's `expect` the request misses (the first thing), or undefined when it matches. */
export function checkExpect(entry: ScriptEntry, req: ChatRequest): { message: string; expected: string } | undefined {
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
