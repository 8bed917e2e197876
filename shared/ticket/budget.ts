import { LIMITS, TokenBudget, type RoleUsage } from './schema.ts';

/** Tokens a ticket has spent, all roles and attempts: what counts against its budget. */
export function usedTokens(usage: Readonly<Record<string, RoleUsage>>): number {
  return Object.values(usage).reduce((n, u) => n + u.totalTokens, 0);
}

/**
 * A budget as people write it (`600000`, `600_000`, `600,000`), validated: a positive whole number of
 * at most LIMITS.tokenBudget tokens. The error says what is wrong, for the person who wrote it.
 */
export function parseBudget(text: string): { ok: true; value: TokenBudget } | { ok: false; message: string } {
  const raw = text.trim();
  if (!/^\d{1,3}(?:[_,]?\d{3})*$|^\d+$/.test(raw)) return { ok: false, message: `budget "${raw.slice(0, 40)}" is not a whole number of tokens` };
  const parsed = TokenBudget.safeParse(Number(raw.replace(/[_,]/g, '')));
  if (!parsed.success) return { ok: false, message: `budget ${raw} is out of range: give 1 to ${LIMITS.tokenBudget} tokens` };
  return { ok: true, value: parsed.data };
}

/** Why `budget` cannot be a ticket's budget given what it spent (null when it can): it must leave tokens to spend. */
export function budgetProblem(budget: number, usage: Readonly<Record<string, RoleUsage>>): string | null {
  const parsed = TokenBudget.safeParse(budget);
  if (!parsed.success) return `budget ${budget} is out of range: give 1 to ${LIMITS.tokenBudget} tokens`;
  const used = usedTokens(usage);
  if (budget <= used) return `budget ${budget} is not above the ${used} tokens the ticket has used already`;
  return null;
}
