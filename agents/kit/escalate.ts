import type { StageOutcome, WorkItemData } from '../../bus/index.ts';
import { LIMITS, ROLE_OF_STAGE, type Question } from '../../shared/index.ts';
import { BudgetExceededError, ModelBehaviorError, type RepeatedCall } from '../../shared/llm/index.ts';
import type { AgentHandler } from '../runtime/runtime.ts';

/** The id of the question a ticket over its token budget asks. */
export const BUDGET_QUESTION = 'token-budget';
/** The id of the question a ticket whose model kept repeating itself asks. */
export const LOOP_QUESTION = 'model-loop';

/**
 * What makes the model stop but a person can fix turns into a question instead of a failure: a ticket
 * whose token budget runs out (the answer may raise the budget), and a model that kept repeating
 * the same tool call (the answer, shown to the model, tells it what to do instead). Either answer
 * resumes the stage; the human may also cancel. Every role that uses the model is wrapped in it.
 */
export function escalateToHuman(handler: AgentHandler): AgentHandler {
  return async (work, ctx) => {
    try {
      return await handler(work, ctx);
    } catch (err) {
      if (err instanceof BudgetExceededError) {
        ctx.log.warn({ budget: err.budget, used: err.used }, 'token budget exceeded: escalating');
        return ask(budgetQuestion(work, err));
      }
      if (err instanceof ModelBehaviorError && err.code === 'loop_detected' && err.repeated) {
        ctx.log.warn({ tool: err.repeated.tool, times: err.repeated.times }, 'the model kept repeating a tool call: escalating');
        return ask(loopQuestion(work, err.repeated));
      }
      throw err;
    }
  };
}

function ask(question: Question): StageOutcome {
  return { kind: 'escalate', questions: [question] };
}

/** The token-budget question, saying each way a person can raise the ticket's budget. */
export function budgetQuestion(work: WorkItemData, err: BudgetExceededError): Question {
  const id = work.ticket.id;
  const more = Math.min(LIMITS.tokenBudget, Math.max(err.budget * 2, err.used + 1));
  return {
    id: BUDGET_QUESTION,
    text:
      `Ticket ${id} has used ${err.used} of its ${err.budget} tokens during ${work.stage}. ` +
      `To raise this ticket's budget and resume, answer with a larger one — ` +
      `CLI: \`nightshift answer ${id} --budget ${more} "go on"\`; ` +
      `Slack: a reply to the escalation whose first line is \`budget: ${more}\`; ` +
      `GitHub: comment \`/nightshift budget ${more}\` on the issue. ` +
      `An answer without a budget resumes with the same one; or cancel the ticket.`,
    options: ['resume', 'cancel'],
    blocking: true,
  };
}

/** The question of a model stuck repeating one call: which call, bounded, and what an answer does. */
export function loopQuestion(work: WorkItemData, repeated: RepeatedCall): Question {
  const role = ROLE_OF_STAGE[work.stage];
  return {
    id: LOOP_QUESTION,
    text:
      `The ${role} model of ticket ${work.ticket.id} kept repeating itself during ${work.stage}: ` +
      `it called ${repeated.tool} ${repeated.times} times with the same arguments ${repeated.arguments}, so it was stopped. ` +
      `Answer with what it should do instead (your answer is shown to the model when the stage resumes), or cancel the ticket.`,
    blocking: true,
  };
}
