import { describe, expect, it } from 'vitest';
import { describeError, NightshiftError } from '../errors.ts';
import { BudgetExceededError, ModelBehaviorError, ModelRequestError, ModelTimeoutError, ModelUnavailableError } from './errors.ts';

describe('LLM errors', () => {
  it('take their name from the class and say whether a retry can help', () => {
    const cases: [NightshiftError, string, string, boolean][] = [
      [new ModelBehaviorError('off_schema', 'bad'), 'ModelBehaviorError', 'off_schema', false],
      [new ModelBehaviorError('loop_detected', 'again'), 'ModelBehaviorError', 'loop_detected', false],
      [new BudgetExceededError({ ticketId: 'T', role: 'coder', budget: 1, used: 2 }), 'BudgetExceededError', 'budget_exceeded', false],
      [new ModelTimeoutError(500, 3), 'ModelTimeoutError', 'model_timeout', true],
      [new ModelUnavailableError('down', { status: 503, attempts: 3 }), 'ModelUnavailableError', 'model_unavailable', true],
      [new ModelRequestError('no', { status: 401 }), 'ModelRequestError', 'model_request_rejected', false],
    ];
    for (const [err, name, code, retryable] of cases) {
      expect(err).toBeInstanceOf(NightshiftError);
      expect(err.name).toBe(name);
      expect(describeError(err)).toMatchObject({ code, retryable });
    }
  });

  it('carry what the caller needs', () => {
    expect(new ModelTimeoutError(500, 3)).toMatchObject({ timeoutMs: 500, attempts: 3, message: 'the model did not answer within 500ms (3 attempts)' });
    const issues = [{ path: 'criteria', message: 'Required' }];
    expect(new ModelBehaviorError('off_schema', 'bad', { issues, lastAnswer: '{}' })).toMatchObject({ issues, lastAnswer: '{}' });
  });
});
