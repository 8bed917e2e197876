import { BudgetExceededError } from '../../shared/llm/index.ts';
import type { AgentHandler } from '../runtime/runtime.ts';

/**
 * A ticket whose token budget runs out escalates to a human instead of failing or looping: the
 * answer resumes the stage (after the budget was raised), or the human cancels.
 */
export function escalateOnBudget(handler: AgentHandler): AgentHandler {
  return async (work, ctx) => {
    try {
      return await handler(work, ctx);
    } catch (err) {
      if (!(err instanceof BudgetExceededError)) throw err;
      ctx.log.warn({ budget: err.budget, used: err.used }, 'token budget exceeded: escalating');
      return {
        kind: 'escalate',
        questions: [
          {
            id: 'token-budget',
            text: `Ticket ${work.ticket.id} has used ${err.used} of its ${err.budget} tokens during ${work.stage}. Raise NIGHTSHIFT_TOKEN_BUDGET and answer to resume, or cancel the ticket.`,
            options: ['resume', 'cancel'],
            blocking: true,
          },
        ],
      };
    }
  };
}
