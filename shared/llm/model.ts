import type { CallbackManagerForLLMRun } from '@langchain/core/callbacks/manager';
import { AIMessage, type BaseMessage } from '@langchain/core/messages';
import type { ChatResult } from '@langchain/core/outputs';
import { makeInvalidToolCall, parseToolCall } from '@langchain/core/output_parsers/openai_tools';
import { ChatOpenAICompletions } from '@langchain/openai';
import type { Role } from '../ticket/states.ts';
import { modelFor, type LlmConfig } from './config.ts';
import { ROLE_HEADER, TICKET_HEADER } from './headers.ts';

/** How one role talks to its model. */
export interface ModelSettings {
  /** OpenAI-compatible base URL, with its `/v1`. */
  baseURL: string;
  apiKey: string | undefined;
  model: string;
  /** Bound on one attempt. */
  timeoutMs: number;
  /** Further attempts after a timeout, 429, 5xx or lost connection. */
  retries: number;
  /** First wait before a retry; doubles per retry up to `retryDelayMaxMs`. */
  retryDelayMs: number;
  retryDelayMaxMs: number;
  /** Sampling temperature; the endpoint's default when undefined. */
  temperature?: number;
}

/** The settings of `role` under `config`; `overrides` win (tests shorten the retry delays). */
export function modelSettings(config: LlmConfig, role: Role, overrides: Partial<ModelSettings> = {}): ModelSettings {
  return {
    baseURL: config.OPENAI_BASE_URL,
    apiKey: config.OPENAI_API_KEY,
    model: modelFor(config, role),
    timeoutMs: config.NIGHTSHIFT_MODEL_TIMEOUT,
    retries: config.NIGHTSHIFT_MODEL_RETRIES,
    retryDelayMs: 1_000,
    retryDelayMaxMs: 30_000,
    ...overrides,
  };
}

/**
 * The LangChain chat model of one role working on one ticket. Every request carries the
 * `x-nightshift-role` and `x-nightshift-ticket` headers. It speaks the Chat Completions API, the one
 * every OpenAI-compatible server serves: `ChatOpenAI` would switch some model names (`*codex*`,
 * `gpt-5.6*`) to the Responses API, which vLLM, Ollama and mock-llm do not have. LangChain's own
 * retries and timeout are off: `createLlm` bounds and retries each call itself.
 */
export function createChatModel(settings: ModelSettings, ids: { role: string; ticketId: string }): ChatOpenAICompletions {
  return new Completions({
    model: settings.model,
    // The OpenAI client refuses to start without a key; local endpoints ignore it.
    apiKey: settings.apiKey ?? 'unset',
    maxRetries: 0,
    streamUsage: true,
    ...(settings.temperature !== undefined && { temperature: settings.temperature }),
    configuration: {
      baseURL: settings.baseURL,
      defaultHeaders: { [ROLE_HEADER]: ids.role, [TICKET_HEADER]: ids.ticketId },
    },
  });
}

type CompletionMessage = Parameters<ChatOpenAICompletions['_convertCompletionsMessageToBaseMessage']>[0];
type RawToolCall = NonNullable<CompletionMessage['tool_calls']>[number];

/** Where a reply's raw tool calls wait while LangChain builds its message, when none of them parsed. */
const MALFORMED_TOOL_CALLS = 'nightshift_malformed_tool_calls';

/**
 * Chat Completions without LangChain's stale-package warning on malformed tool calls. `@langchain/core`'s
 * `AIMessage` constructor prints "New LangChain packages are available…" (console.warn, twice per reply)
 * whenever a message carries raw tool calls but no parsed ones, a check meant for integrations too old
 * to parse them; a reply whose every tool call has malformed arguments (the model's mistake, which the
 * tool loop answers) meets it too. Such a reply is built with its raw calls set aside, and they are put
 * back as `additional_kwargs.tool_calls` once LangChain has made its last copy of the message, so the
 * conversation sent next still carries the calls its tool answers refer to. Replies with any parsed
 * call, and streamed replies (built from chunks, which do not check), go LangChain's own way.
 */
class Completions extends ChatOpenAICompletions {
  protected override _convertCompletionsMessageToBaseMessage(message: CompletionMessage, rawResponse: Parameters<ChatOpenAICompletions['_convertCompletionsMessageToBaseMessage']>[1]): BaseMessage {
    const raw = message.tool_calls ?? [];
    const errors = raw.map(parseError);
    if (raw.length === 0 || errors.some((e) => e === undefined)) return super._convertCompletionsMessageToBaseMessage(message, rawResponse);
    const { tool_calls: _, ...rest } = message;
    const base = super._convertCompletionsMessageToBaseMessage(rest as CompletionMessage, rawResponse);
    const { tool_calls: __, ...kwargs } = base.additional_kwargs;
    return new AIMessage({
      content: base.content,
      tool_calls: [],
      invalid_tool_calls: raw.map((r, i) => makeInvalidToolCall(r as Parameters<typeof makeInvalidToolCall>[0], errors[i]!)),
      additional_kwargs: { ...kwargs, [MALFORMED_TOOL_CALLS]: raw },
      response_metadata: base.response_metadata,
      ...(base.id && { id: base.id }),
    });
  }

  override async _generate(messages: BaseMessage[], options: this['ParsedCallOptions'], runManager?: CallbackManagerForLLMRun): Promise<ChatResult> {
    const result = await super._generate(messages, options, runManager);
    for (const { message } of result.generations) {
      const kwargs = message.additional_kwargs as Record<string, unknown>;
      if (!(MALFORMED_TOOL_CALLS in kwargs)) continue;
      kwargs.tool_calls = kwargs[MALFORMED_TOOL_CALLS];
      delete kwargs[MALFORMED_TOOL_CALLS];
    }
    return result;
  }
}

/** Why LangChain would not parse `raw` (its own message), or undefined when it would. */
function parseError(raw: RawToolCall): string | undefined {
  if (raw.type !== 'function') return undefined;
  try {
    parseToolCall(raw as Parameters<typeof parseToolCall>[0], { returnId: true });
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}
