import { RefiningOutput, Spec } from '../../bus/index.ts';
import { createRepoTools, HumanMessage, runToolLoop, SystemMessage } from '../../shared/llm/index.ts';
import { maybeArtifact } from '../kit/artifacts.ts';
import { stageLlm, type AgentDeps } from '../kit/deps.ts';
import { escalateToHuman } from '../kit/escalate.ts';
import { instructionPaths, workspaceInstructions } from '../kit/instructions.ts';
import { openTicketWorkspace } from '../kit/workspace.ts';
import type { AgentHandler } from '../runtime/runtime.ts';
import { REFINER_SYSTEM, refinerRequest } from './prompt.ts';

/**
 * The refiner: reads the repository through its tools and turns the ticket into a spec. Blocking
 * open questions park the ticket in awaiting_human; the answers come back with the next attempt.
 */
export function createRefiner(deps: AgentDeps): AgentHandler {
  return escalateToHuman(async (work, ctx) => {
    await using ws = await openTicketWorkspace(deps, work);
    const llm = stageLlm(deps, 'refiner', work, ctx);
    const earlier = maybeArtifact(work, 'refining', RefiningOutput)?.spec;
    const instructions = await workspaceInstructions(ws, earlier?.affectedFiles ?? [], ctx.log);
    const followed = instructionPaths(instructions);
    const { value: spec } = await runToolLoop(
      llm,
      [new SystemMessage(REFINER_SYSTEM), new HumanMessage(refinerRequest(work, earlier, instructions))],
      { tools: await createRepoTools({ root: ws.dir, log: ctx.log }), output: Spec },
    );
    const blocking = spec.openQuestions.filter((q) => q.blocking);
    ctx.log.info({ criteria: spec.acceptanceCriteria.length, blocking: blocking.length }, 'spec written');
    if (blocking.length > 0) {
      return {
        kind: 'escalate',
        questions: blocking.map((q) => ({ id: q.id, text: q.text, blocking: true, ...(q.options && { options: q.options }) })),
        output: { spec, ...(followed && { instructions: followed }) },
      };
    }
    return { kind: 'advance', output: { spec, ...(followed && { instructions: followed }) } };
  });
}
