import { cpSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { coderViolations } from '../../agents/kit/guard.ts';
import { prepareWorkspace, runSuite, type SuiteResult } from '../../agents/kit/suite.ts';
import { detectProfile, isTestFile, type Sandbox } from '../../sandbox/index.ts';
import { changedFiles, commitsSince, excludeUntracked, git, openWorkspace, workspaceGit, type Logger, type Workspace } from '../../shared/index.ts';
import type { LoadedCase } from './cases.ts';

/** The held-out tests of a case, read before the run: files by path, or a patch. */
export type HeldOut = { files: Record<string, string> } | { patch: string };

/** One integrity check: whether it held, and why not (or what it saw). */
export interface Check {
  ok: boolean;
  detail: string;
}

/** What the judge found, independently of the agents' own reports: from the repository and the sandbox. */
export interface Verdict {
  /** The ticket branch was pushed. */
  branch: Check;
  /** The branch's first commit changes test files only. */
  testsFirst: Check;
  /** The suite fails at the tests commit. */
  redAtTests: Check;
  /** The suite passes at the head of the branch. */
  greenAtHead: Check;
  /** No commit after the tests commit changes a test file or test configuration. */
  testsUntouched: Check;
  /** The held-out tests pass on the result. */
  heldOut: Check;
}

export const CHECKS = ['branch', 'testsFirst', 'redAtTests', 'greenAtHead', 'testsUntouched', 'heldOut'] as const satisfies readonly (keyof Verdict)[];

/**
 * Makes the case's repository on this machine at `dir/origin`, at its base commit on `main`, and
 * reads its held-out tests. `files` cases are committed fresh; `path` and `url` cases are cloned and
 * `main` set to the base commit (the agents push their branch to this copy, never upstream).
 */
export async function materialize(c: LoadedCase, dir: string): Promise<{ origin: string; baseSha: string; heldOut: HeldOut }> {
  const origin = join(dir, 'origin');
  const repo = c.spec.repo;
  const identity = { name: 'nightshift eval', email: 'eval@nightshift.invalid' };
  if ('files' in repo) {
    mkdirSync(origin, { recursive: true });
    cpSync(join(c.dir, repo.files), origin, { recursive: true });
    await git(origin, ['init', '--quiet', '--initial-branch=main']);
    await git(origin, ['add', '--all']);
    await git(origin, ['commit', '--quiet', '-m', `${c.spec.name}: base`], { identity });
  } else {
    const source = 'url' in repo ? repo.url : join(c.dir, repo.path);
    await git(dir, ['clone', '--quiet', '--no-tags', '--', source, origin]);
    await git(origin, ['checkout', '--quiet', '-B', 'main', repo.commit]);
  }
  const baseSha = (await git(origin, ['rev-parse', 'HEAD'])).trim();
  const held = c.spec.heldOut;
  let heldOut: HeldOut;
  if ('files' in held) heldOut = { files: readTree(join(c.dir, held.files)) };
  else if ('patch' in held) heldOut = { patch: readFileSync(join(c.dir, held.patch), 'utf8') };
  else {
    const files: Record<string, string> = {};
    for (const path of held.paths) files[path] = await git(origin, ['show', `${held.commit}:${path}`]);
    heldOut = { files };
  }
  return { origin, baseSha, heldOut };
}

function readTree(root: string, prefix = ''): Record<string, string> {
  const files: Record<string, string> = {};
  for (const entry of readdirSync(join(root, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) Object.assign(files, readTree(root, rel));
    else if (entry.isFile()) files[rel] = readFileSync(join(root, rel), 'utf8');
  }
  return files;
}

export interface JudgeOptions {
  origin: string;
  ticketId: string;
  heldOut: HeldOut;
  heldOutCommand: string | undefined;
  sandbox: Sandbox;
  /** Where the judge's own clones go. */
  workspaces: string;
  log: Logger;
}

const fail = (detail: string): Check => ({ ok: false, detail });
const pass = (detail: string): Check => ({ ok: true, detail });

/**
 * Judges a ticket's branch on its own: a fresh clone of the origin, the repository's test command
 * run in the sandbox at the tests commit and at the head, the commits' files against the test file
 * patterns and test configuration rules, and the held-out tests laid over the head.
 */
export async function judge(opts: JudgeOptions): Promise<Verdict> {
  await using ws = await openWorkspace({ repo: { path: opts.origin, baseBranch: 'main' }, ticketId: opts.ticketId, root: opts.workspaces });
  const none = fail('not judged: no branch');
  if (!ws.resumed) return { branch: fail(`no branch ${ws.branch} on the origin`), testsFirst: none, redAtTests: none, greenAtHead: none, testsUntouched: none, heldOut: none };
  const head = (await workspaceGit(ws, ['rev-parse', 'HEAD'])).trim();
  const commits = await commitsSince(ws, ws.baseSha);
  const testsCommit = commits[0]!.sha;
  await workspaceGit(ws, ['checkout', '--quiet', '--detach', ws.baseSha]);
  const baseProfile = await detectProfile(ws.dir);
  await workspaceGit(ws, ['checkout', '--quiet', '--detach', head]);

  const firstFiles = (await changedFiles(ws, ws.baseSha, testsCommit)).map((f) => f.path);
  const notTests = firstFiles.filter((f) => !isTestFile(f, baseProfile.testFilePatterns));
  const testsFirst = notTests.length === 0 ? pass(`${firstFiles.join(', ')}`) : fail(`the first commit also changes ${notTests.join(', ')}`);

  const later = (await changedFiles(ws, testsCommit, head)).map((f) => f.path);
  const touched = later.filter((f) => isTestFile(f, baseProfile.testFilePatterns));
  const configured = testsCommit === head ? [] : await coderViolations(ws, testsCommit, baseProfile);
  const testsUntouched =
    touched.length + configured.length === 0
      ? pass(`${commits.length - 1} later commit(s), no test touched`)
      : fail([...touched.map((f) => `${f}: a test file`), ...configured.map((v) => `${v.path}: ${v.reason}`)].join('; '));

  const profile = await detectProfile(ws.dir);
  await prepareWorkspace(opts.sandbox, ws.dir, profile, opts.log);
  await excludeUntracked(ws);
  const green = await runSuite(opts.sandbox, ws.dir, profile, () => new Date());
  const greenAtHead = green.run.passed ? pass(summary(green)) : fail(`the suite fails at the head: ${green.run.failure}; ${summary(green)}`);
  await workspaceGit(ws, ['checkout', '--quiet', '--detach', testsCommit]);
  const red = await runSuite(opts.sandbox, ws.dir, profile, () => new Date());
  const redAtTests = red.run.passed ? fail(`the suite passes at the tests commit: ${summary(red)}`) : pass(`${red.run.failure}; ${summary(red)}`);
  await workspaceGit(ws, ['checkout', '--quiet', '--detach', head]);

  const heldOut = await runHeldOut(ws, opts, profile);
  return { branch: pass(`${ws.branch}: ${commits.length} commit(s)`), testsFirst, redAtTests, greenAtHead, testsUntouched, heldOut };
}

async function runHeldOut(ws: Workspace, opts: JudgeOptions, profile: Awaited<ReturnType<typeof detectProfile>>): Promise<Check> {
  if ('patch' in opts.heldOut) {
    const patch = join(dirname(ws.dir), 'held-out.patch');
    writeFileSync(patch, opts.heldOut.patch);
    try {
      await workspaceGit(ws, ['apply', '--whitespace=nowarn', patch]);
    } catch (err) {
      return fail(`the held-out patch does not apply to the result: ${(err as Error).message.slice(0, 500)}`);
    }
  } else {
    for (const [path, content] of Object.entries(opts.heldOut.files)) {
      mkdirSync(dirname(join(ws.dir, path)), { recursive: true });
      writeFileSync(join(ws.dir, path), content);
    }
  }
  const run = await runSuite(opts.sandbox, ws.dir, { ...profile, test: opts.heldOutCommand ?? profile.test }, () => new Date());
  const failed = run.report?.tests.filter((t) => t.status === 'failed').length ?? 0;
  if (!run.run.passed || failed > 0) return fail(`\`${run.run.command}\`: ${run.run.failure ?? `${failed} failed`}; ${summary(run)}\n${run.run.output.slice(-1_500)}`);
  return pass(summary(run));
}

function summary(r: SuiteResult): string {
  const t = r.run.tests?.totals;
  return t ? `${t.total} tests, ${t.passed} passed, ${t.failed} failed, ${t.skipped} skipped` : 'no per-test results';
}
