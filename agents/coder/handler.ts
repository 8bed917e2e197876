import { z } from 'zod';
import { type CodingOutput, ReviewingOutput, WritingTestsOutput } from '../../bus/index.ts';
import { detectProfile, isTestFile } from '../../sandbox/index.ts';
import { createRepoTools, HumanMessage, runToolLoop, SystemMessage } from '../../shared/llm/index.ts';
import { AgentError, changedFiles, commitAll, commitsSince, pushBranch, resetWorktree } from '../../shared/index.ts';
import { artifact, maybeArtifact, pendingFeedback, specOf } from '../kit/artifacts.ts';
import { stageLlm, type AgentDeps } from '../kit/deps.ts';
import { escalateToHuman } from '../kit/escalate.ts';
import { instructionPaths, workspaceInstructions } from '../kit/instructions.ts';
import { FileWrite, RefusedFilesError, writeFiles } from '../kit/files.ts';
import { greenProblem } from '../kit/proof.ts';
import { coderViolations } from '../kit/guard.ts';
import { prepareTicketWorkspace, runSuite, stageDeps } from '../kit/suite.ts';
import { setupCacheIn } from '../kit/setup-cache.ts';
import { openTicketWorkspace } from '../kit/workspace.ts';
import type { AgentHandler } from '../runtime/runtime.ts';
import { CODER_SYSTEM, coderRequest } from './prompt.ts';

/** What the model answers: whole files to write, and what it did. */
export const Change = z.object({
  files: z.array(FileWrite).min(1).max(30),
  notes: z.string().max(4_000),
});

const STAGE = 'coding';
/** The coding round a coder commit was made in (the work item's `round`). */
const ROUND_TRAILER = 'Nightshift-Round';

/**
 * Whether a commit is this round's pushed work: made by any attempt of the same coding round (a
 * redelivery, or a new attempt after a timeout or a failure that came after the push), or by this
 * very dispatch. A commit of an earlier round (before a review sent the work back) is not.
 */
function isThisRound(trailers: Record<string, string>, round: number | undefined, workId: string): boolean {
  if (trailers['Nightshift-Work'] === workId) return true;
  return round !== undefined && trailers['Nightshift-Stage'] === STAGE && trailers[ROUND_TRAILER] === String(round);
}

/**
 * The coder: changes production code until the whole suite passes in the sandbox, in a bounded
 * number of attempts, each fed the previous failure. A mechanical guard on the diff since the tests
 * commit throws away any change to tests, test configuration or test scripts.
 */
export function createCoder(agentDeps: AgentDeps): AgentHandler {
  return escalateToHuman(async (work, ctx) => {
    // One warm sandbox session for the attempt's commands, closed when the attempt ends.
    await using deps = stageDeps(agentDeps);
    const spec = specOf(work);
    const tests = artifact(work, 'writing_tests', WritingTestsOutput);
    const review = maybeArtifact(work, 'reviewing', ReviewingOutput);
    const reviewText = review?.verdict === 'changes_requested' ? review.comments.map((c) => `- ${c.path ? `${c.path}: ` : ''}${c.text}`).join('\n') : null;
    const people = pendingFeedback(work);
    const redEvidence = tests.red.tests;
    if (!redEvidence?.index) {
      throw new AgentError('no_test_results', `the tests stage of ticket ${work.ticket.id} kept no per-test results of its red run, so no green run can be proven against it`, { retryable: false });
    }
    await using ws = await openTicketWorkspace(deps, work);
    // Read before the setup step runs anything in the workspace: only what the repository holds.
    const instructions = await workspaceInstructions(ws, [...spec.affectedFiles, ...tests.files], ctx.log);
    const followed = instructionPaths(instructions);
    const profile = await detectProfile(ws.dir);
    await prepareTicketWorkspace(deps.sandbox, ws, profile, ctx.log, ctx.signal, setupCacheIn(deps.config.NIGHTSHIFT_WORKSPACES_DIR, ctx.log));

    // Pushed by an earlier attempt of this round (then lost: a crash, a timeout): adopted if still green.
    const redelivered = (await commitsSince(ws, tests.commit)).findLast((c) => isThisRound(c.trailers, work.round, ctx.workId));
    if (redelivered) {
      const green = await runSuite(deps.sandbox, ws.dir, profile, deps.clock, ctx.signal);
      if (green.run.passed && greenProblem(redEvidence, green.report) === null && (await coderViolations(ws, tests.commit, profile)).length === 0) {
        const files = (await changedFiles(ws, tests.commit)).map((f) => f.path);
        return { kind: 'advance', output: { commit: redelivered.sha, files, green: green.run, attempts: 1, notes: redelivered.subject } satisfies CodingOutput };
      }
    }

    const llm = stageLlm(deps, 'coder', work, ctx);
    const tools = await createRepoTools({ root: ws.dir, log: ctx.log });
    let feedback: string | null = null;
    for (let attempt = 1; attempt <= deps.config.NIGHTSHIFT_CODER_ATTEMPTS; attempt++) {
      const { value: change } = await runToolLoop(
        llm,
        [new SystemMessage(CODER_SYSTEM), new HumanMessage(coderRequest(work, spec, tests, profile, reviewText, feedback, people, instructions))],
        { tools, output: Change },
      );
      try {
        await writeFiles(ws.dir, change.files, (rel) => (isTestFile(rel, profile.testFilePatterns) ? 'a test file: the coder may not touch tests' : null));
      } catch (err) {
        if (!(err instanceof RefusedFilesError)) throw err;
        feedback = err.message;
        ctx.log.warn({ attempt, problems: err.problems }, 'change refused before writing');
        continue;
      }
      const violations = await coderViolations(ws, tests.commit, profile);
      if (violations.length > 0) {
        feedback = `Change rejected: ${violations.map((v) => `${v.path}: ${v.reason}`).join('; ')}`;
        ctx.log.warn({ attempt, violations }, 'change rejected by the test guard');
        await resetWorktree(ws);
        continue;
      }
      const green = await runSuite(deps.sandbox, ws.dir, profile, deps.clock, ctx.signal);
      if (!green.run.passed) {
        feedback = `The suite still fails (${green.run.failure}):\n${green.run.output}`;
        ctx.log.warn({ attempt, failure: green.run.failure }, 'suite still red');
        await resetWorktree(ws);
        continue;
      }
      const missing = greenProblem(redEvidence, green.report);
      if (missing) {
        feedback = `The suite exits 0, but it is not green: ${missing}. Every test that ran red must run and pass.`;
        ctx.log.warn({ attempt, red: redEvidence.totals, green: green.run.tests?.totals ?? null, problem: missing }, 'green run does not cover the red run');
        await resetWorktree(ws);
        continue;
      }
      const commit = await commitAll(ws, {
        role: 'coder',
        message: `Implement: ${work.ticket.title}\n\n${change.notes}`,
        trailers: { 'Nightshift-Stage': STAGE, 'Nightshift-Work': ctx.workId, ...(work.round !== undefined && { [ROUND_TRAILER]: String(work.round) }) },
      });
      if (!commit) {
        feedback = 'Your answer changed nothing.';
        continue;
      }
      await pushBranch(ws, { log: ctx.log });
      const files = (await changedFiles(ws, tests.commit)).map((f) => f.path);
      ctx.log.info({ commit, attempts: attempt }, 'suite green; change pushed');
      return {
        kind: 'advance',
        output: { commit, files, green: green.run, attempts: attempt, notes: change.notes, ...(followed && { instructions: followed }) } satisfies CodingOutput,
      };
    }
    return {
      kind: 'escalate',
      questions: [
        {
          id: 'not-green',
          text: `The coder could not make the suite pass in ${deps.config.NIGHTSHIFT_CODER_ATTEMPTS} attempts. Last problem: ${feedback?.slice(0, 1_500)}\nGive guidance to resume, or cancel.`,
          blocking: true,
        },
      ],
    };
  });
}
