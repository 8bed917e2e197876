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
  return new ChatOpenAICompletions({
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
