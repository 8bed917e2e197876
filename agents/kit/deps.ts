import type { WorkItemData } from '../../bus/index.ts';
import type { Sandbox } from '../../sandbox/index.ts';
import { createLlm, modelSettings, TokenMeter, type Llm, type TranscriptSink } from '../../shared/llm/index.ts';
import type { Config, ForgeRouter, Logger, Role } from '../../shared/index.ts';
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
 * The model client of one stage attempt: the ticket's budget counts what earlier stages and
 * attempts spent, every exchange goes to the transcript, and the tokens are reported with the result.
 */
export function stageLlm(deps: AgentDeps, role: Role, work: WorkItemData, ctx: HandlerContext): Llm {
  const usedTokens = Object.values(work.ticket.usage).reduce((n, u) => n + u.totalTokens, 0);
  const meter = new TokenMeter({ ticketId: work.ticket.id, budget: deps.config.NIGHTSHIFT_TOKEN_BUDGET, usedTokens });
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
