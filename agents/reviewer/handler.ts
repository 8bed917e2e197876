import { z } from 'zod';
import { CodingOutput, Coverage, ReviewComment, ReviewingOutput, type SuiteRun, WritingTestsOutput } from '../../bus/index.ts';
import { detectProfile, isTestFile, testKey, testLabel } from '../../sandbox/index.ts';
import { createRepoTools, HumanMessage, runToolLoop, SystemMessage } from '../../shared/llm/index.ts';
import { changedFiles, commitsSince, diff, inSpan, SpanKind, sumUsage, type RoleUsage } from '../../shared/index.ts';
import { artifact, instructionsFollowed, maybeArtifact, orderedPaths, pendingFeedback, specOf } from '../kit/artifacts.ts';
import { stageLlm, type AgentDeps } from '../kit/deps.ts';
import { escalateToHuman } from '../kit/escalate.ts';
import { instructionPaths, workspaceInstructions } from '../kit/instructions.ts';
import { coderViolations } from '../kit/guard.ts';
import { evidenceOf, greenProblem, resolveCoverage } from '../kit/proof.ts';
import { prepareTicketWorkspace, runSuite, stageDeps } from '../kit/suite.ts';
import { setupCacheIn } from '../kit/setup-cache.ts';
import { openTicketWorkspace } from '../kit/workspace.ts';
import type { AgentHandler } from '../runtime/runtime.ts';
import { REVIEWER_SYSTEM, reviewerRequest } from './prompt.ts';
import { pullRequestBody } from './summary.ts';

/** What the model answers. */
export const Review = z.object({
  verdict: z.enum(['approve', 'changes_requested']),
  comments: z.array(ReviewComment).max(30),
  coverage: Coverage,
  summary: z.string().min(1).max(4_000),
});

const MAX_DIFF_CHARS = 60_000;

/**
 * The reviewer: re-runs the suite in a fresh sandbox on a fresh clone, checks the test-first chain
 * on the commits themselves, reviews the diff against the spec, and either sends the work back to
 * the coder (bounded rounds) or opens the pull request with the summary.
 */
export function createReviewer(agentDeps: AgentDeps): AgentHandler {
  return escalateToHuman(async (work, ctx) => {
    // One warm sandbox session for the attempt's commands, closed when the attempt ends.
    await using deps = stageDeps(agentDeps);
    const spec = specOf(work);
    const tests = artifact(work, 'writing_tests', WritingTestsOutput);
    const coding = artifact(work, 'coding', CodingOutput);
    const prior = maybeArtifact(work, 'reviewing', ReviewingOutput);
    const answersSeen = work.ticket.answers.length;
    const round = prior && prior.answersSeen === answersSeen ? prior.round + 1 : 1;
    await using ws = await openTicketWorkspace(deps, work);
    // Read before the setup step runs anything in the workspace: only what the repository holds.
    const instructions = await workspaceInstructions(ws, [...spec.affectedFiles, ...tests.files, ...coding.files], ctx.log);
    const followed = instructionPaths(instructions);
    const profile = await detectProfile(ws.dir);
    await prepareTicketWorkspace(deps.sandbox, ws, profile, ctx.log, ctx.signal, setupCacheIn(deps.config.NIGHTSHIFT_WORKSPACES_DIR, ctx.log));
    const result = await runSuite(deps.sandbox, ws.dir, profile, deps.clock, ctx.signal);
    const covered = (names: readonly { tests: readonly string[] }[]) => new Set(names.flatMap((c) => c.tests));
    const keepOf = (labels: Set<string>) => (result.report?.tests ?? []).filter((t) => labels.has(testLabel(t))).map(testKey);
    let fresh: SuiteRun = { ...result.run, tests: result.report ? evidenceOf(result.report, { keep: keepOf(covered(tests.coverage)) }) : null };

    const problems: string[] = [];
    if (!fresh.passed) problems.push(`The suite fails in a fresh sandbox on a fresh clone (${fresh.failure}):\n${fresh.output}`);
    else {
      const notGreen = tests.red.tests ? greenProblem(tests.red.tests, result.report) : 'the tests stage kept no per-test results of its red run';
      if (notGreen) problems.push(`The suite exits 0 in a fresh sandbox, but it is not green per test: ${notGreen}.`);
    }
    const testsCommitFiles = await changedFiles(ws, `${tests.commit}^`, tests.commit);
    const notTests = testsCommitFiles.filter((f) => !isTestFile(f.path, profile.testFilePatterns));
    if (notTests.length > 0) problems.push(`The tests commit also changes non-test files: ${notTests.map((f) => f.path).join(', ')}`);
    for (const v of await coderViolations(ws, tests.commit, profile)) problems.push(`${v.path}: ${v.reason}`);
    const first = (await commitsSince(ws, ws.baseSha))[0];
    if (first?.sha !== tests.commit) problems.push('The branch does not start with the tests commit.');

    const tooManyRounds = round > deps.config.NIGHTSHIFT_REVIEW_ROUNDS;
    if (problems.length > 0) {
      const reason = problems.join('\n\n');
      ctx.log.warn({ problems: problems.length }, 'mechanical review failed');
      if (tooManyRounds) return escalation(round, reason);
      const output: ReviewingOutput = { verdict: 'changes_requested', comments: problems.map((text) => ({ text })), fresh, summary: reason, round, answersSeen };
      return { kind: 'send_back', to: 'coding', reason: reason.slice(0, 3_900), output };
    }

    const llm = stageLlm(deps, 'reviewer', work, ctx);
    const full = await diff(ws, ws.baseSha);
    const shown = full.length > MAX_DIFF_CHARS ? `${full.slice(0, MAX_DIFF_CHARS)}\n… (diff cut; read the files with the tools)` : full;
    const { value: review } = await runToolLoop(
      llm,
      [new SystemMessage(REVIEWER_SYSTEM), new HumanMessage(reviewerRequest(work, spec, tests, coding, shown, pendingFeedback(work), instructions))],
      { tools: await createRepoTools({ root: ws.dir, log: ctx.log }), output: Review },
    );
    if (review.verdict === 'changes_requested') {
      const reason = review.comments.map((c) => `${c.path ? `${c.path}: ` : ''}${c.text}`).join('\n') || review.summary;
      if (tooManyRounds) return escalation(round, reason);
      const output: ReviewingOutput = {
        verdict: 'changes_requested',
        comments: review.comments,
        fresh,
        summary: review.summary,
        round,
        answersSeen,
        ...(followed && { instructions: followed }),
      };
      ctx.log.info({ round, comments: review.comments.length }, 'changes requested');
      return { kind: 'send_back', to: 'coding', reason: reason.slice(0, 3_900), output };
    }

    const usage: Record<string, RoleUsage> = { ...work.ticket.usage };
    usage.reviewer = sumUsage(usage.reviewer, llm.meter.forRole('reviewer'));
    // The reviewer's mapping counts only for tests the runner reported; other names are said, not shown as tests.
    const reviewed = resolveCoverage(review.coverage, result.report?.tests ?? []);
    fresh = { ...fresh, tests: result.report ? evidenceOf(result.report, { keep: keepOf(covered([...tests.coverage, ...reviewed.coverage])) }) : null };
    // The instruction files every stage followed, this one included, named on the pull request.
    const instructionsOfAll = orderedPaths([...instructionsFollowed(work), ...(followed ?? [])]);
    const body = pullRequestBody({
      work,
      spec,
      tests,
      coding,
      fresh,
      review: { ...review, coverage: reviewed.coverage, unknownTests: reviewed.unknown },
      usage,
      round,
      instructions: instructionsOfAll,
    });
    const forge = deps.forges.forgeFor(work.ticket.repo);
    const pr = await inSpan('open pull request', { kind: SpanKind.CLIENT, attributes: { 'nightshift.ticket.id': work.ticket.id, 'nightshift.round': round } }, async (span) => {
      const opened = await forge.openPullRequest({
        ticketId: work.ticket.id,
        repo: work.ticket.repo.url ?? work.ticket.repo.path!,
        branch: ws.branch,
        base: ws.baseBranch,
        baseSha: ws.baseSha,
        headSha: coding.commit,
        title: work.ticket.title,
        body,
      });
      span.setAttributes({ 'nightshift.pr.forge': opened.forge, 'nightshift.pr.number': opened.number });
      return opened;
    });
    ctx.log.info({ number: pr.number, url: pr.url, forge: pr.forge }, 'pull request opened');
    const output: ReviewingOutput = {
      verdict: 'approve',
      comments: review.comments,
      fresh,
      pullRequest: { number: pr.number, url: pr.url, forge: pr.forge },
      summary: body,
      round,
      answersSeen,
      ...(followed && { instructions: followed }),
    };
    return { kind: 'advance', output };
  });
}

function escalation(round: number, reason: string) {
  return {
    kind: 'escalate' as const,
    questions: [
      {
        id: 'review-rounds',
        text: `Review round ${round}: the change still needs work after the allowed rounds.\n${reason.slice(0, 2_000)}\nGive guidance to resume, or cancel.`,
        blocking: true,
      },
    ],
  };
}
