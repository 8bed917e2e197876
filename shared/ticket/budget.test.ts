import { describe, expect, it } from 'vitest';
import { budgetDirective, budgetProblem, parseBudget, usedTokens } from './budget.ts';

const usage = {
  refiner: { inputTokens: 900, outputTokens: 100, totalTokens: 1_000, calls: 2 },
  coder: { inputTokens: 150, outputTokens: 50, totalTokens: 200, calls: 1 },
};

describe('token budgets', () => {
  it('counts what a ticket used over every role', () => {
    expect(usedTokens(usage)).toBe(1_200);
    expect(usedTokens({})).toBe(0);
  });

  it.each([
    ['600000', 600_000],
    [' 600000 ', 600_000],
    ['600_000', 600_000],
    ['600,000', 600_000],
    ['1000000000', 1_000_000_000],
  ])('reads %j as %i', (text, value) => {
    expect(parseBudget(text)).toEqual({ ok: true, value });
  });

  it.each([
    ['', 'is not a whole number'],
    ['lots', 'is not a whole number'],
    ['-5', 'is not a whole number'],
    ['1.5', 'is not a whole number'],
    ['1e6', 'is not a whole number'],
    ['60,00', 'is not a whole number'],
    ['0x10', 'is not a whole number'],
    ['0', 'out of range: give 1 to 1000000000 tokens'],
    ['1000000001', 'out of range'],
    ['99999999999999999999999', 'out of range'],
  ])('refuses %j: %s', (text, message) => {
    const r = parseBudget(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toContain(message);
  });

  it('takes only a budget above what the ticket used', () => {
    expect(budgetProblem(1_201, usage)).toBeNull();
    expect(budgetProblem(1_200, usage)).toBe('budget 1200 is not above the 1200 tokens the ticket has used already');
    expect(budgetProblem(5, {})).toBeNull();
    expect(budgetProblem(0, {})).toContain('out of range');
  });

  describe('budgetDirective', () => {
    const slack = /budget\s*:/i;
    it('takes text without the directive as an answer as it is', () => {
      expect(budgetDirective('  use -v\nand --verbose ', slack)).toEqual({ ok: true, text: 'use -v\nand --verbose' });
      expect(budgetDirective('the budget: is fine', slack)).toEqual({ ok: true, text: 'the budget: is fine' });
    });

    it('reads the budget of the first line, the rest being the answer', () => {
      expect(budgetDirective('budget: 600000', slack)).toEqual({ ok: true, budget: 600_000, text: 'Raised the token budget to 600000 tokens: go on.' });
      expect(budgetDirective('Budget:600_000 and skip the docs', slack)).toEqual({ ok: true, budget: 600_000, text: 'and skip the docs' });
      expect(budgetDirective(' budget : 2000\nread only src/', slack)).toEqual({ ok: true, budget: 2_000, text: 'read only src/' });
      expect(budgetDirective('/nightshift budget 9000\n\nthanks', /\/nightshift\s+budget\b/i)).toEqual({ ok: true, budget: 9_000, text: 'thanks' });
    });

    it('refuses a directive with no usable budget', () => {
      expect(budgetDirective('budget:', slack)).toEqual({ ok: false, message: 'the budget is missing: give a whole number of tokens after it' });
      expect(budgetDirective('budget: lots', slack)).toMatchObject({ ok: false, message: expect.stringContaining('not a whole number') });
      expect(budgetDirective('budget: 0', slack)).toMatchObject({ ok: false, message: expect.stringContaining('out of range') });
    });
  });
});
