import { describe, expect, it } from 'vitest';
import { AgentError, ConfigError, UsageError, UserInputError } from '../shared/index.ts';
import { EXIT, exitCodeOf } from './exit.ts';
import { InvalidBudgetError, WaitTimeoutError } from '../bus/index.ts';

describe('the exit-code table', () => {
  it('gives bad usage and bad configuration 2, a wait given up 3, and anything else 1', () => {
    expect(exitCodeOf(new UsageError('unknown command "x"'))).toBe(EXIT.usage);
    expect(exitCodeOf(new UsageError('"T-1" is not a ticket id', 'invalid_ticket_id'))).toBe(2);
    expect(exitCodeOf(new InvalidBudgetError('--budget: not a number'))).toBe(2);
    expect(exitCodeOf(new ConfigError([{ path: 'GITHUB_WEBHOOK_SECRET', message: 'missing' }]))).toBe(2);
    const ticket = { id: 'tk-0123456789', state: 'coding' } as ConstructorParameters<typeof WaitTimeoutError>[0];
    expect(exitCodeOf(new WaitTimeoutError(ticket, 'done', 1_000))).toBe(EXIT.timedOut);
    expect(exitCodeOf(new UserInputError('ticket_not_found', 'no ticket tk-0123456789'))).toBe(EXIT.failed);
    expect(exitCodeOf(new AgentError('sandbox_failed', 'boom', { retryable: false }))).toBe(1);
    expect(exitCodeOf(new Error('unexpected'))).toBe(1);
    expect(exitCodeOf('a string')).toBe(1);
  });
});
