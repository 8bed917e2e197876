import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  AgentError,
  ConfigError,
  ConflictError,
  describeError,
  fieldIssues,
  NightshiftError,
  UserInputError,
} from './errors.ts';

describe('error classes', () => {
  it('take their name from the class', () => {
    expect(new AgentError('llm_timeout', 'model timed out', { retryable: true }).name).toBe('AgentError');
    expect(new UserInputError('invalid_ticket', 'bad').name).toBe('UserInputError');
    expect(new ConfigError([]).name).toBe('ConfigError');
    expect(new ConflictError('lost the race').name).toBe('ConflictError');
  });

  it('take the name of a subclass declared elsewhere', () => {
    class SandboxTimeoutError extends AgentError {}
    const err = new SandboxTimeoutError('sandbox_timeout', 'took too long', { retryable: true });
    expect(err.name).toBe('SandboxTimeoutError');
    expect(err).toBeInstanceOf(AgentError);
    expect(err).toBeInstanceOf(NightshiftError);
    expect(err).toBeInstanceOf(Error);
    expect(String(err)).toBe('SandboxTimeoutError: took too long');
  });

  it('AgentError carries its code, retryability and cause', () => {
    const cause = new Error('ECONNRESET');
    const err = new AgentError('llm_unavailable', 'model endpoint unreachable', { retryable: true, cause });
    expect(err).toMatchObject({ code: 'llm_unavailable', retryable: true, message: 'model endpoint unreachable' });
    expect(err.cause).toBe(cause);
    expect(new AgentError('bad_output', 'x', { retryable: false }).retryable).toBe(false);
  });

  it('UserInputError is never retryable and keeps its issues', () => {
    const issues = [{ path: 'title', message: 'required' }];
    const err = new UserInputError('invalid_ticket', 'invalid ticket', issues);
    expect(err).toMatchObject({ code: 'invalid_ticket', retryable: false, issues });
    expect(new UserInputError('invalid_json', 'not JSON').issues).toEqual([]);
  });

  it('ConfigError lists its issues in the message', () => {
    const err = new ConfigError([
      { path: 'NATS_URL', message: 'Invalid URL' },
      { path: 'NIGHTSHIFT_PREFIX', message: 'one subject token' },
    ]);
    expect(err.message).toBe(
      'invalid configuration:\n  NATS_URL: Invalid URL\n  NIGHTSHIFT_PREFIX: one subject token',
    );
    expect(err).toMatchObject({ code: 'invalid_config', retryable: false });
  });

  it('ConflictError is retryable and keeps its cause', () => {
    const cause = new Error('wrong last sequence');
    const err = new ConflictError('ticket changed under us', { cause });
    expect(err).toMatchObject({ code: 'conflict', retryable: true });
    expect(err.cause).toBe(cause);
  });
});

describe('describeError', () => {
  it.each([
    [
      'an AgentError',
      new AgentError('llm_timeout', 'model timed out', { retryable: true }),
      { code: 'llm_timeout', message: 'model timed out', retryable: true },
    ],
    [
      'a fatal AgentError',
      new AgentError('path_outside_workspace', 'refused ../etc/passwd', { retryable: false }),
      { code: 'path_outside_workspace', message: 'refused ../etc/passwd', retryable: false },
    ],
    [
      'a UserInputError',
      new UserInputError('invalid_ticket', 'title is empty'),
      { code: 'invalid_ticket', message: 'title is empty', retryable: false },
    ],
    [
      'a ConfigError',
      new ConfigError([{ path: 'NATS_URL', message: 'Invalid URL' }]),
      { code: 'invalid_config', message: 'invalid configuration:\n  NATS_URL: Invalid URL', retryable: false },
    ],
    [
      'a ConflictError',
      new ConflictError('revision moved'),
      { code: 'conflict', message: 'revision moved', retryable: true },
    ],
    [
      'a plain Error',
      new TypeError('x is undefined'),
      { code: 'internal_error', message: 'x is undefined', retryable: true },
    ],
    ['a string', 'boom', { code: 'internal_error', message: 'boom', retryable: true }],
    ['a number', 42, { code: 'internal_error', message: '42', retryable: true }],
    ['undefined', undefined, { code: 'internal_error', message: 'undefined', retryable: true }],
    ['null', null, { code: 'internal_error', message: 'null', retryable: true }],
  ])('describes %s', (_what, err, expected) => {
    expect(describeError(err)).toEqual(expected);
  });
});

describe('fieldIssues', () => {
  it('joins paths with dots and names the root', () => {
    expect(
      fieldIssues([
        { path: [], message: 'expected object' },
        { path: ['repo', 'url'], message: 'required' },
        { path: ['labels', 2], message: 'too long' },
      ]),
    ).toEqual([
      { path: '(root)', message: 'expected object' },
      { path: 'repo.url', message: 'required' },
      { path: 'labels.2', message: 'too long' },
    ]);
  });

  it('turns real zod issues into dotted paths', () => {
    const schema = z.object({ repo: z.object({ url: z.string() }), labels: z.array(z.string()) });
    const result = schema.safeParse({ repo: {}, labels: ['ok', 3] });
    expect(result.success).toBe(false);
    expect(fieldIssues(result.error!.issues).map((i) => i.path)).toEqual(['repo.url', 'labels.1']);
  });

  it('gives a root issue for a value of the wrong kind', () => {
    const result = z.object({ a: z.string() }).safeParse('nope');
    expect(fieldIssues(result.error!.issues)).toEqual([{ path: '(root)', message: expect.any(String) }]);
  });

  it('returns nothing for no issues', () => {
    expect(fieldIssues([])).toEqual([]);
  });
});
