import { LIMITS, TokenBudget, type RoleUsage } from './schema.ts';

/** No tokens, no calls. */
export const NO_USAGE: RoleUsage = Object.freeze({ inputTokens: 0, outputTokens: 0, totalTokens: 0, calls: 0 });

/** The sum of usages (tokens and calls); missing ones count as none. */
export function sumUsage(...parts: readonly (RoleUsage | undefined)[]): RoleUsage {
  const sum = { ...NO_USAGE };
  for (const u of parts) {
    if (!u) continue;
    sum.inputTokens += u.inputTokens;
    sum.outputTokens += u.outputTokens;
    sum.totalTokens += u.totalTokens;
    sum.calls += u.calls;
  }
  return sum;
}

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

/** The answer recorded when a person raised the budget and said nothing else. */
export function budgetAnswerText(budget: number): string {
  return `Raised the token budget to ${budget} tokens: go on.`;
}

/**
 * A person's answer whose first line may raise the ticket's budget: a line starting with `directive`
 * (Slack's `budget:`, GitHub's `/nightshift budget`), then the budget, then optionally words; those
 * words and the lines after it are the answer (budgetAnswerText when there are none). Text without
 * the directive is an answer as it is. A directive with an unusable budget is an error, never an answer.
 */
export function budgetDirective(text: string, directive: RegExp): { ok: true; text: string; budget?: number } | { ok: false; message: string } {
  const trimmed = text.trim();
  const [first = '', ...more] = trimmed.split('\n');
  const m = new RegExp(`^(?:${directive.source})`, directive.flags.replace(/[gy]/g, '')).exec(first.trim());
  if (!m) return { ok: true, text: trimmed };
  const rest = first.trim().slice(m[0].length).trim();
  const [value = '', ...words] = rest.split(/\s+/);
  if (value === '') return { ok: false, message: 'the budget is missing: give a whole number of tokens after it' };
  const parsed = parseBudget(value);
  if (!parsed.ok) return parsed;
  const answer = [words.join(' '), ...more].join('\n').trim();
  return { ok: true, budget: parsed.value, text: answer || budgetAnswerText(parsed.value) };
}
