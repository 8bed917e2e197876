import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { Coverage, type Spec, type SuiteRun, type WritingTestsOutput } from '../../bus/index.ts';
import { CONFIG_FILE, detectProfile, isTestFile, notATestFile, testKey, testLabel, type RepoProfile } from '../../sandbox/index.ts';
import { createRepoTools, HumanMessage, runToolLoop, SystemMessage, type Llm, type RepoTools } from '../../shared/llm/index.ts';
import {
  AgentError,
  changedFiles,
  commitAll,
  commitsSince,
  pushBranch,
  resetWorktree,
  workspaceGit,
  type Workspace,
} from '../../shared/index.ts';
import { specOf } from '../kit/artifacts.ts';
import { stageLlm, type AgentDeps } from '../kit/deps.ts';
import { escalateToHuman } from '../kit/escalate.ts';
import { instructionPaths, workspaceInstructions, type Instructions } from '../kit/instructions.ts';
import { evidenceOf, listTests, proveRed, resolveCoverage, type RedProof } from '../kit/proof.ts';
import { FileWrite, RefusedFilesError, writeFiles } from '../kit/files.ts';
import { prepareTicketWorkspace, runOutput, runSuite, stageDeps, type SuiteResult } from '../kit/suite.ts';
import { setupCacheIn } from '../kit/setup-cache.ts';
import { openTicketWorkspace } from '../kit/workspace.ts';
import type { AgentHandler, HandlerContext } from '../runtime/runtime.ts';
import { TEST_AUTHOR_SYSTEM, testAuthorRequest } from './prompt.ts';

/** What the model answers: the test files and what they cover. */
export const TestPlan = z.object({
  files: z.array(FileWrite).min(1).max(20),
  changedExisting: z.array(z.object({ path: z.string().min(1), reason: z.string().min(1).max(1_000) })).max(20),
  coverage: Coverage,
});
export type TestPlan = z.infer<typeof TestPlan>;

const STAGE = 'writing_tests';

/**
 * The test author: writes tests for the spec and proves them red in the sandbox — the suite passes
 * on the unchanged code, fails with the new tests, and the new test files are sound — before it
 * commits them alone (a tests-only commit) and pushes the ticket branch. Tests that already pass, or
 * fail for the wrong reason, are sent back to the model with the evidence, a bounded number of times.
 */
export function createTestAuthor(agentDeps: AgentDeps): AgentHandler {
  return escalateToHuman(async (work, ctx) => {
    // One warm sandbox session for the attempt's commands, closed when the attempt ends.
    await using deps = stageDeps(agentDeps);
    const spec = specOf(work);
    await using ws = await openTicketWorkspace(deps, work);
    // Read before the setup step runs anything in the workspace: only what the repository holds.
    const instructions = await workspaceInstructions(ws, spec.affectedFiles, ctx.log);
    const profile = await detectProfile(ws.dir);
    await prepareTicketWorkspace(deps.sandbox, ws, profile, ctx.log, ctx.signal, setupCacheIn(deps.config.NIGHTSHIFT_WORKSPACES_DIR, ctx.log));

    const done = (await commitsSince(ws, ws.baseSha)).find((c) => c.trailers['Nightshift-Stage'] === STAGE);
    if (done) return { kind: 'advance', output: await reprove(deps, ws, profile, done.sha, done.trailers, ctx) };

    const baseline = await runSuite(deps.sandbox, ws.dir, profile, deps.clock, ctx.signal);
    if (!baseline.run.passed) {
      throw new AgentError('baseline_red', `the suite already fails on the unchanged code, so new tests cannot be proven red: ${baseline.run.failure}\n${baseline.run.output}`, {
        retryable: false,
      });
    }
    if (!baseline.report) return { kind: 'escalate', questions: [{ id: 'no-test-results', text: noResults(profile, baseline.run), blocking: true }] };
    const llm = stageLlm(deps, 'test-author', work, ctx);
    const tools = await createRepoTools({ root: ws.dir, log: ctx.log });
    let feedback: string | null = null;
    let notTestFiles = false;
    for (let attempt = 1; attempt <= deps.config.NIGHTSHIFT_TEST_AUTHOR_ATTEMPTS; attempt++) {
      const verdict = await tryOnce(deps, ws, profile, spec, work, llm, tools, feedback, baseline, instructions, ctx);
      if (verdict.ok) {
        const commit = await commitAll(ws, {
          role: 'test-author',
          message: `Add failing tests: ${work.ticket.title}`,
          trailers: { 'Nightshift-Stage': STAGE, 'Nightshift-Work': ctx.workId, [PLAN_TRAILER]: encodePlan(verdict.plan) },
        });
        if (!commit) throw new AgentError('nothing_written', 'the tests changed nothing in the repository', { retryable: false });
        await pushBranch(ws, { log: ctx.log });
        const output: WritingTestsOutput = {
          commit,
          files: verdict.files,
          changedExisting: verdict.plan.changedExisting,
          coverage: verdict.plan.coverage,
          baseline: baseline.run,
          red: verdict.red,
          proof: proofSummary(verdict.proof),
          attempts: attempt,
          ...(instructionPaths(instructions) && { instructions: instructionPaths(instructions) }),
        };
        ctx.log.info({ commit, files: verdict.files, attempts: attempt }, 'tests proven red and pushed');
        return { kind: 'advance', output };
      }
      ctx.log.warn({ attempt, reason: verdict.reason }, 'tests sent back to the model');
      feedback = verdict.reason;
      notTestFiles = verdict.notTestFiles === true;
      await resetWorktree(ws);
    }
    const attempts = deps.config.NIGHTSHIFT_TEST_AUTHOR_ATTEMPTS;
    // Refused paths are about the repository's configuration, not the ticket: say what changes it.
    const what = notTestFiles
      ? `The test author could not write tests in ${attempts} attempts: it wrote files that are not test files here. Last problem: ${feedback}\n` +
        `If this repository keeps its tests elsewhere, set test_files in ${profile.configFile ?? CONFIG_FILE} on the base branch, then answer to resume; or cancel.`
      : `The test author could not write tests that fail for the right reason in ${attempts} attempts. Last problem: ${feedback}\nClarify the acceptance criteria to resume, or cancel.`;
    return { kind: 'escalate', questions: [{ id: 'tests-not-red', text: what, blocking: true }] };
  });
}

type Verdict = { ok: true; plan: TestPlan; files: string[]; red: SuiteRun; proof: RedProof } | { ok: false; reason: string; notTestFiles?: boolean };

async function tryOnce(
  deps: AgentDeps,
  ws: Workspace,
  profile: RepoProfile,
  spec: Spec,
  work: Parameters<AgentHandler>[0],
  llm: Llm,
  tools: RepoTools,
  feedback: string | null,
  baseline: SuiteResult,
  instructions: Instructions,
  ctx: HandlerContext,
): Promise<Verdict> {
  const { value: plan } = await runToolLoop(
    llm,
    [new SystemMessage(TEST_AUTHOR_SYSTEM), new HumanMessage(testAuthorRequest(work, spec, profile, feedback, instructions))],
    { tools, output: TestPlan },
  );
  const declared = new Set(plan.changedExisting.map((c) => c.path.replace(/^\.\//, '')));
  let files: string[];
  let notTestFiles = false;
  try {
    files = await writeFiles(ws.dir, plan.files, (rel) => {
      if (!isTestFile(rel, profile.testFilePatterns)) {
        notTestFiles = true;
        return notATestFile(profile);
      }
      if (existsSync(join(ws.dir, rel)) && !declared.has(rel)) return 'an existing test file: list it in changedExisting with the reason';
      return null;
    });
  } catch (err) {
    if (err instanceof RefusedFilesError) return { ok: false, reason: err.message, notTestFiles };
    throw err;
  }
  const broken = await unsoundFiles(deps, ws, profile, files, ctx);
  if (broken) return { ok: false, reason: broken };
  const red = await runSuite(deps.sandbox, ws.dir, profile, deps.clock, ctx.signal);
  if (red.run.exitCode === null) {
    return { ok: false, reason: `The suite did not finish normally with your tests: ${red.run.failure}. Tests must fail by assertion, not hang or flood the output.` };
  }
  const proven = judgeRed(baseline, red, files, plan);
  if (!proven.ok) return proven;
  return { ok: true, plan: proven.plan, files, red: proven.red, proof: proven.proof };
}

/**
 * The red run judged per test (`proveRed`), and the plan's coverage checked against the tests that ran:
 * a test named there must be one the runner reported. On success, the plan with the runner's names and
 * the red run's evidence, which names the new and covered tests and indexes every test.
 */
function judgeRed(
  baseline: SuiteResult,
  red: SuiteResult,
  files: readonly string[],
  plan: Pick<TestPlan, 'changedExisting' | 'coverage'>,
): { ok: true; plan: TestPlan; red: SuiteRun; proof: RedProof } | { ok: false; reason: string } {
  const proven = proveRed(baseline.report!, red.report, files, plan.changedExisting.map((c) => c.path));
  if (!proven.ok) {
    const passing = proven.reason.includes('PASS on the unchanged code') ? 'Your tests PASS on the unchanged code, so they do not test the new behaviour. ' : '';
    return { ok: false, reason: `${passing}The suite does not prove your tests red: ${proven.reason}.\n${red.run.output}` };
  }
  if (red.run.passed) return { ok: false, reason: `The suite passes with your tests (exit code 0), so nothing is proven red.\n${red.run.output}` };
  const coverage = resolveCoverage(plan.coverage, red.report!.tests);
  if (coverage.unknown.length > 0) {
    return {
      ok: false,
      reason:
        `Your coverage names tests that are not in the runner's results: ${coverage.unknown.map((n) => `"${n}"`).join(', ')}. ` +
        `Name each test as the runner reports it; your new tests are: ${listTests(proven.proof.newTests)}.`,
    };
  }
  const keep = new Set([...proven.proof.newTests, ...red.report!.tests.filter((t) => coverage.coverage.some((c) => c.tests.includes(testLabel(t))))].map(testKey));
  return {
    ok: true,
    plan: { ...(plan as TestPlan), coverage: coverage.coverage },
    red: { ...red.run, tests: evidenceOf(red.report!, { keep, index: true }) },
    proof: proven.proof,
  };
}

/** What the red proof says about the new tests, by name, for the summary. */
function proofSummary(proof: RedProof): NonNullable<WritingTestsOutput['proof']> {
  return { newTests: proof.newTests.slice(0, 300).map(testLabel), alreadyPassing: proof.alreadyPassing.slice(0, 300).map(testLabel) };
}

/** The question for a person when the baseline run reported no per-test results: nothing can be proven without them. */
function noResults(profile: RepoProfile, run: SuiteRun): string {
  return (
    `The suite passes on the unchanged code, but no test runner reported per-test results, so nightshift cannot prove tests red or green. ` +
    `It reads the reports of vitest, jest, mocha and ava (added through NODE_OPTIONS), node:test (its junit reporter), pytest (PYTEST_ADDOPTS) and go test (-json, added to go test by a go first on PATH), ` +
    `or TAP printed by the test command. \`${profile.test}\` gave none of them (a test script that sets NODE_OPTIONS itself, a runner nightshift does not read, or no test at all). ` +
    `Set test: in ${profile.configFile ?? CONFIG_FILE} on the base branch to a command that runs the tests with one of these runners, then answer to resume; or cancel.\n` +
    `Output of the run:\n${run.output.slice(-1_500)}`
  );
}

/**
 * A new test file that cannot even be parsed fails the suite for the wrong reason. JavaScript files
 * are checked with `node --check` in the sandbox; other languages rely on the red run's evidence.
 */
async function unsoundFiles(deps: AgentDeps, ws: Workspace, profile: RepoProfile, files: readonly string[], ctx: HandlerContext): Promise<string | null> {
  const js = files.filter((f) => /\.(c|m)?js$/.test(f));
  if (js.length === 0) return null;
  const result = await deps.sandbox.run(
    { image: profile.image, workspace: ws.dir, command: ['node', '-e', CHECK, ...js], network: 'none', timeoutMs: 60_000 },
    { signal: ctx.signal },
  );
  if (result.exitCode === 0) return null;
  return `These test files do not parse, so they would fail for the wrong reason:\n${runOutput(result).slice(-3_000)}`;
}

const CHECK = `const { spawnSync } = require('node:child_process');
let bad = 0;
for (const f of process.argv.slice(1)) {
  const r = spawnSync(process.execPath, ['--check', f], { encoding: 'utf8' });
  if (r.status !== 0) { bad++; process.stdout.write(f + ':\\n' + r.stderr + '\\n'); }
}
process.exit(bad ? 1 : 0);`;

/**
 * A redelivery after the tests were already committed and pushed: prove the same commit again
 * (green before it, red with it) and report it, without asking the model again.
 */
async function reprove(
  deps: AgentDeps,
  ws: Workspace,
  profile: RepoProfile,
  commit: string,
  trailers: Record<string, string>,
  ctx: HandlerContext,
): Promise<WritingTestsOutput> {
  const files = (await changedFiles(ws, `${commit}^`, commit)).map((f) => f.path);
  await workspaceGit(ws, ['checkout', '--quiet', '--detach', `${commit}^`]);
  const baseline = await runSuite(deps.sandbox, ws.dir, profile, deps.clock, ctx.signal);
  await workspaceGit(ws, ['checkout', '--quiet', ws.branch]);
  const red = await runSuite(deps.sandbox, ws.dir, profile, deps.clock, ctx.signal);
  const plan = decodePlan(trailers[PLAN_TRAILER]);
  if (!baseline.run.passed || !baseline.report) {
    throw new AgentError('tests_not_red', `the suite no longer passes with per-test results on the parent of the committed tests ${commit.slice(0, 12)}`, { retryable: false });
  }
  const proven = judgeRed(baseline, red, files, { changedExisting: plan.changedExisting, coverage: plan.coverage });
  if (!proven.ok) {
    throw new AgentError('tests_not_red', `the committed tests ${commit.slice(0, 12)} are no longer proven red against their base: ${proven.reason.slice(0, 2_000)}`, { retryable: false });
  }
  ctx.log.info({ commit }, 'tests already committed: proven again');
  return {
    commit,
    files,
    changedExisting: plan.changedExisting,
    coverage: proven.plan.coverage,
    baseline: baseline.run,
    red: proven.red,
    proof: proofSummary(proven.proof),
    attempts: 1,
  };
}

/** The tests commit carries what its tests cover, so a redelivery can report it without the model. */
const PLAN_TRAILER = 'Nightshift-Test-Plan';
const CommittedPlan = TestPlan.pick({ changedExisting: true, coverage: true });

function encodePlan(plan: TestPlan): string {
  return Buffer.from(JSON.stringify({ changedExisting: plan.changedExisting, coverage: plan.coverage })).toString('base64');
}

function decodePlan(text: string | undefined): z.infer<typeof CommittedPlan> {
  try {
    return CommittedPlan.parse(JSON.parse(Buffer.from(text ?? '', 'base64').toString('utf8')));
  } catch {
    return { changedExisting: [], coverage: [] };
  }
}
