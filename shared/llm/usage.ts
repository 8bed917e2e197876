import { z } from 'zod';
import { NO_USAGE, sumUsage } from '../ticket/budget.ts';
import { RoleUsage } from '../ticket/schema.ts';
import { BudgetExceededError } from './errors.ts';

const count = z.number().int().min(0);

/** Tokens of one call or a sum of calls. */
export const TokenUsage = z.object({
  inputTokens: count,
  outputTokens: count,
  totalTokens: count,
});
export type TokenUsage = z.infer<typeof TokenUsage>;

/** Tokens of a role within this meter's run, and how many calls spent them: the ticket's own record of usage. */
export { RoleUsage };

/** What a ticket has spent: the agent reports it with its stage result. */
export const UsageTotals = z.object({
  ticketId: z.string(),
  budget: count,
  /** Tokens the ticket had used before this meter was made (earlier stages, earlier attempts). */
  priorTokens: count,
  /** Prior tokens plus this run's: what counts against the budget. */
  usedTokens: count,
  remainingTokens: count,
  /** This run alone. */
  run: RoleUsage,
  byRole: z.record(z.string(), RoleUsage),
});
export type UsageTotals = z.infer<typeof UsageTotals>;

const ZERO: RoleUsage = NO_USAGE;

/** `a` and one more call that spent `u`. */
function add(a: RoleUsage, u: TokenUsage): RoleUsage {
  return sumUsage(a, { inputTokens: u.inputTokens, outputTokens: u.outputTokens, totalTokens: u.totalTokens, calls: 1 });
}

/**
 * Counts one ticket's tokens per role against its budget. Made with what the ticket already used;
 * `check` before a call throws BudgetExceededError when nothing is left, `record` after a call counts
 * it and throws when that call went over. Either way the caller escalates; it never loops on.
 */
export class TokenMeter {
  readonly ticketId: string;
  readonly budget: number;
  readonly priorTokens: number;
  #run: RoleUsage = ZERO;
  #byRole = new Map<string, RoleUsage>();

  constructor(opts: { ticketId: string; budget: number; usedTokens?: number }) {
    this.ticketId = opts.ticketId;
    this.budget = opts.budget;
    this.priorTokens = opts.usedTokens ?? 0;
  }

  get usedTokens(): number {
    return this.priorTokens + this.#run.totalTokens;
  }

  get remainingTokens(): number {
    return Math.max(0, this.budget - this.usedTokens);
  }

  /** Throws BudgetExceededError when the budget is already spent. */
  check(role: string): void {
    if (this.usedTokens >= this.budget) throw this.#exceeded(role);
  }

  /** Counts one call's tokens; throws BudgetExceededError when they took the ticket past its budget. */
  record(role: string, usage: TokenUsage): void {
    this.#run = add(this.#run, usage);
    this.#byRole.set(role, add(this.#byRole.get(role) ?? ZERO, usage));
    if (this.usedTokens > this.budget) throw this.#exceeded(role);
  }

  /** Tokens of `role` in this run (zeros when it made no call). */
  forRole(role: string): RoleUsage {
    return { ...(this.#byRole.get(role) ?? ZERO) };
  }

  totals(): UsageTotals {
    return {
      ticketId: this.ticketId,
      budget: this.budget,
      priorTokens: this.priorTokens,
      usedTokens: this.usedTokens,
      remainingTokens: this.remainingTokens,
      run: { ...this.#run },
      byRole: Object.fromEntries([...this.#byRole].map(([role, u]) => [role, { ...u }])),
    };
  }

  #exceeded(role: string): BudgetExceededError {
    return new BudgetExceededError({ ticketId: this.ticketId, role, budget: this.budget, used: this.usedTokens });
  }
}
