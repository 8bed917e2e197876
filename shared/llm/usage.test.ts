import { describe, expect, it } from 'vitest';
import { BudgetExceededError } from './errors.ts';
import { TokenMeter, UsageTotals } from './usage.ts';

const u = (inputTokens: number, outputTokens: number) => ({ inputTokens, outputTokens, totalTokens: inputTokens + outputTokens });

describe('TokenMeter', () => {
  it('counts tokens per role on top of what the ticket used before', () => {
    const meter = new TokenMeter({ ticketId: 'T1', budget: 1_000, usedTokens: 100 });
    meter.record('refiner', u(50, 10));
    meter.record('coder', u(200, 40));
    meter.record('coder', u(300, 60));
    const totals = meter.totals();
    expect(UsageTotals.parse(totals)).toEqual(totals);
    expect(totals).toEqual({
      ticketId: 'T1',
      budget: 1_000,
      priorTokens: 100,
      usedTokens: 760,
      remainingTokens: 240,
      run: { inputTokens: 550, outputTokens: 110, totalTokens: 660, calls: 3 },
      byRole: {
        refiner: { inputTokens: 50, outputTokens: 10, totalTokens: 60, calls: 1 },
        coder: { inputTokens: 500, outputTokens: 100, totalTokens: 600, calls: 2 },
      },
    });
    expect(meter.forRole('reviewer')).toEqual({ inputTokens: 0, outputTokens: 0, totalTokens: 0, calls: 0 });
  });

  it('refuses to start a call once the budget is spent', () => {
    const meter = new TokenMeter({ ticketId: 'T1', budget: 500, usedTokens: 500 });
    const err = (() => {
      try {
        meter.check('coder');
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(BudgetExceededError);
    expect(err).toMatchObject({ code: 'budget_exceeded', retryable: false, ticketId: 'T1', role: 'coder', budget: 500, used: 500 });
  });

  it('throws after the call that crossed the budget, having counted it', () => {
    const meter = new TokenMeter({ ticketId: 'T1', budget: 500 });
    meter.record('coder', u(300, 100));
    meter.check('coder');
    expect(() => meter.record('coder', u(90, 20))).toThrow(BudgetExceededError);
    expect(meter.usedTokens).toBe(510);
    expect(meter.remainingTokens).toBe(0);
    expect(() => meter.check('reviewer')).toThrow(/used 510 of its 500 tokens \(stopped in reviewer\)/);
  });

  it('lets a call end exactly on the budget, and stops the next one', () => {
    const meter = new TokenMeter({ ticketId: 'T1', budget: 100 });
    meter.record('coder', u(80, 20));
    expect(() => meter.check('coder')).toThrow(BudgetExceededError);
  });
});
