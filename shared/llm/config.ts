import { z } from 'zod';
import { duration, positiveInt } from '../zod.ts';
import type { Role } from '../ticket/states.ts';

const modelName = z.string().trim().min(1);

/**
 * The LLM settings, by environment variable name: a fragment of the process configuration.
 * `NIGHTSHIFT_MODEL` is every role's model unless `NIGHTSHIFT_MODEL_<ROLE>` names another
 * (`NIGHTSHIFT_MODEL_TEST_AUTHOR` for the test author).
 */
export const LlmConfigSchema = z.object({
  /** Any OpenAI-compatible endpoint, with its `/v1`: OpenAI, vLLM, Ollama, LiteLLM, `nightshift mock-llm`. */
  OPENAI_BASE_URL: z.url({ protocol: /^https?$/ }).default('https://api.openai.com/v1'),
  /** Sent as the bearer token. Optional: local endpoints usually need none. */
  OPENAI_API_KEY: z.string().min(1).optional(),
  NIGHTSHIFT_MODEL: modelName.default('gpt-4o-mini'),
  NIGHTSHIFT_MODEL_TRIAGER: modelName.optional(),
  NIGHTSHIFT_MODEL_REFINER: modelName.optional(),
  NIGHTSHIFT_MODEL_TEST_AUTHOR: modelName.optional(),
  NIGHTSHIFT_MODEL_CODER: modelName.optional(),
  NIGHTSHIFT_MODEL_REVIEWER: modelName.optional(),
  /** Bound on one attempt of one model call. */
  NIGHTSHIFT_MODEL_TIMEOUT: duration.default(120_000),
  /** Retries of a call that timed out or got 429/5xx/no connection; other 4xx are never retried. */
  NIGHTSHIFT_MODEL_RETRIES: z.coerce.number().int().min(0).max(10).default(2),
  /** Tokens (prompt + completion, all roles) one ticket may use; past it the ticket escalates. */
  NIGHTSHIFT_TOKEN_BUDGET: positiveInt.default(1_000_000),
  /**
   * The embeddings model the triager compares bug reports with (`createEmbedder`). Unset: no
   * embeddings, the triager compares reports by their words.
   */
  NIGHTSHIFT_EMBEDDINGS_MODEL: modelName.optional(),
  /**
   * Where the embeddings model is served, with its `/v1`, when not at `OPENAI_BASE_URL` (the default).
   * `OPENAI_API_KEY` is its bearer token too.
   */
  NIGHTSHIFT_EMBEDDINGS_BASE_URL: z.url({ protocol: /^https?$/ }).optional(),
});

export type LlmConfig = z.infer<typeof LlmConfigSchema>;

/** The variable that overrides `NIGHTSHIFT_MODEL` for one role, e.g. `NIGHTSHIFT_MODEL_TEST_AUTHOR`. */
export function roleModelKey(role: Role): `NIGHTSHIFT_MODEL_${string}` & keyof LlmConfig {
  return `NIGHTSHIFT_MODEL_${role.toUpperCase().replaceAll('-', '_')}` as `NIGHTSHIFT_MODEL_${string}` & keyof LlmConfig;
}

/** The model a role uses under `config`. */
export function modelFor(config: LlmConfig, role: Role): string {
  return (config[roleModelKey(role)] as string | undefined) ?? config.NIGHTSHIFT_MODEL;
}
