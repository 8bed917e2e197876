import { describe, expect, it } from 'vitest';
import { ROLES } from '../ticket/states.ts';
import { LlmConfigSchema, modelFor, roleModelKey } from './config.ts';

describe('LLM configuration', () => {
  it('has defaults for everything but the key', () => {
    expect(LlmConfigSchema.parse({})).toEqual({
      OPENAI_BASE_URL: 'https://api.openai.com/v1',
      NIGHTSHIFT_MODEL: 'gpt-4o-mini',
      NIGHTSHIFT_MODEL_TIMEOUT: 120_000,
      NIGHTSHIFT_MODEL_RETRIES: 2,
      NIGHTSHIFT_TOKEN_BUDGET: 1_000_000,
    });
  });

  it('reads durations, counts and a model per role', () => {
    const config = LlmConfigSchema.parse({
      OPENAI_BASE_URL: 'http://127.0.0.1:11434/v1',
      OPENAI_API_KEY: 'sk-test',
      NIGHTSHIFT_MODEL: 'qwen2.5-coder',
      NIGHTSHIFT_MODEL_TEST_AUTHOR: 'big-model',
      NIGHTSHIFT_MODEL_TIMEOUT: '90s',
      NIGHTSHIFT_MODEL_RETRIES: '0',
      NIGHTSHIFT_TOKEN_BUDGET: '50000',
    });
    expect(config).toMatchObject({ NIGHTSHIFT_MODEL_TIMEOUT: 90_000, NIGHTSHIFT_MODEL_RETRIES: 0, NIGHTSHIFT_TOKEN_BUDGET: 50_000 });
    expect(modelFor(config, 'test-author')).toBe('big-model');
    expect(modelFor(config, 'coder')).toBe('qwen2.5-coder');
  });

  it('has an override variable for every role', () => {
    for (const role of ROLES) expect(Object.keys(LlmConfigSchema.shape)).toContain(roleModelKey(role));
    expect(roleModelKey('test-author')).toBe('NIGHTSHIFT_MODEL_TEST_AUTHOR');
  });

  it('reads an optional embeddings model and endpoint', () => {
    const config = LlmConfigSchema.parse({ NIGHTSHIFT_EMBEDDINGS_MODEL: '  nomic-embed-text ', NIGHTSHIFT_EMBEDDINGS_BASE_URL: 'http://127.0.0.1:11434/v1' });
    expect(config).toMatchObject({ NIGHTSHIFT_EMBEDDINGS_MODEL: 'nomic-embed-text', NIGHTSHIFT_EMBEDDINGS_BASE_URL: 'http://127.0.0.1:11434/v1' });
    const bad = LlmConfigSchema.safeParse({ NIGHTSHIFT_EMBEDDINGS_MODEL: '   ', NIGHTSHIFT_EMBEDDINGS_BASE_URL: 'ftp://x' });
    expect(bad.error!.issues.map((i) => i.path.join('.')).sort()).toEqual(['NIGHTSHIFT_EMBEDDINGS_BASE_URL', 'NIGHTSHIFT_EMBEDDINGS_MODEL']);
  });

  it('names every bad value', () => {
    const parsed = LlmConfigSchema.safeParse({
      OPENAI_BASE_URL: 'ftp://x',
      NIGHTSHIFT_MODEL_TIMEOUT: 'soon',
      NIGHTSHIFT_MODEL_RETRIES: '-1',
      NIGHTSHIFT_TOKEN_BUDGET: '0',
    });
    expect(parsed.success).toBe(false);
    expect(parsed.error!.issues.map((i) => i.path.join('.')).sort()).toEqual([
      'NIGHTSHIFT_MODEL_RETRIES',
      'NIGHTSHIFT_MODEL_TIMEOUT',
      'NIGHTSHIFT_TOKEN_BUDGET',
      'OPENAI_BASE_URL',
    ]);
  });
});
