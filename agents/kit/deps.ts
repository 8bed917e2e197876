import type { WorkItemData } from '../../bus/index.ts';
import type { Sandbox } from '../../sandbox/index.ts';
import { createLlm, modelSettings, TokenMeter, type Llm, type TranscriptSink } from '../../shared/llm/index.ts';
import { usedTokens, type Config, type ForgeRouter, type Logger, type Role } from '../../shared/index.ts';
import type { HandlerContext } from '../runtime/runtime.ts';

/** What the built-in agents need from the world, injected so tests can choose each part. */
export interface AgentDeps {
  config: Config;
  log: Logger;
  sandbox: Sandbox;
  /** The forge of each repository: where workspaces clone from and push to, and where pull requests go. */
  forges: ForgeRouter;
  transcript: TranscriptSink;
  clock: () => Date;
}

/**
 * The model client of one stage attempt: the ticket's budget (its own, when a human set one, else
 * NIGHTSHIFT_TOKEN_BUDGET) counts what earlier stages and attempts spent, every exchange goes to the
 * transcript, and the tokens are reported with the result.
 */
export function stageLlm(deps: AgentDeps, role: Role, work: WorkItemData, ctx: HandlerContext): Llm {
  const meter = new TokenMeter({ ticketId: work.ticket.id, budget: ticketBudget(deps.config, work), usedTokens: usedTokens(work.ticket.usage) });
  ctx.trackUsage(() => meter.forRole(role));
  return createLlm({
    settings: modelSettings(deps.config, role),
    role,
    ticketId: work.ticket.id,
    meter,
    log: ctx.log,
    transcript: deps.transcript,
    signal: ctx.signal,
  });
}

/** The token budget of a ticket: the one a human gave it, else NIGHTSHIFT_TOKEN_BUDGET. */
export function ticketBudget(config: Config, work: WorkItemData): number {
  return work.ticket.budget ?? config.NIGHTSHIFT_TOKEN_BUDGET;
}
