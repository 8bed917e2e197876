import { lstat, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SuiteRun } from '../../bus/index.ts';
import { goModulePath, goTestOutput, parseGoTestJson, parseTap, prepareResults, runFailure, StageSandbox, type RepoProfile, type RunResult, type Sandbox, type TestReport } from '../../sandbox/index.ts';
import { AgentError, excludeUntracked, stripTerminalCodes, workspaceGit, type Logger, type Workspace } from '../../shared/index.ts';
import { evidenceOf } from './proof.ts';
import type { SetupCache } from './setup-cache.ts';

/** Keep this much of a run's output as evidence and as feedback for a model. */
const EVIDENCE_BYTES = 6_000;


/** A run of the suite: its evidence, and every test the runners reported (for the stage's proofs). */
export interface SuiteResult {
  run: SuiteRun;
  report: TestReport | null;
}

/**
 * The dependencies of one stage attempt: the same, but with a sandbox whose runs without network (the
 * suite, checks) share one warm session per workspace (`StageSandbox`) instead of a fresh container
 * each, while setup steps with network stay cold. Declare it with `await using` at the start of the
 * attempt: disposing it closes the sessions, whatever way the attempt ends.
 */
export function stageDeps<D extends { sandbox: Sandbox }>(deps: D): D & AsyncDisposable {
  const sandbox = new StageSandbox(deps.sandbox);
  return { ...deps, sandbox, [Symbol.asyncDispose]: () => sandbox.close() };
}

/**
 * Makes the workspace ready to test: checks the image and runs the profile's dependency setup (with
 * the network the profile asks for — the only step that may have one). A setup that fails is fatal
 * for the stage: the repository cannot be tested as it is.
 */
export async function prepareWorkspace(sandbox: Sandbox, dir: string, profile: RepoProfile, log: Logger, signal?: AbortSignal): Promise<void> {
  await sandbox.ensureImage(profile.image);
  for (const command of profile.setup ?? []) {
    const spec = {
      image: profile.image,
      workspace: dir,
      command,
      env: profile.env,
      network: profile.setupNetwork,
      timeoutMs: profile.timeouts.setupMs,
    };
    const result = await sandbox.run(spec, signal ? { signal } : {});
    const failure = runFailure(result, { timeoutMs: spec.timeoutMs });
    log.info({ command, exitCode: result.exitCode, durationMs: result.durationMs }, 'setup step ran');
    if (failure) {
      throw new AgentError('setup_failed', `setup \`${command}\` failed: ${failure}\n${tail(runOutput(result))}`, { retryable: false });
    }
  }
}

/**
 * `prepareWorkspace` for a ticket's workspace: what the setup left in the tree (a lock file, build
 * metadata) is then excluded from git, so that no agent commits it as its work. With `cache`, a setup
 * already run for this ticket on this commit with this profile is copied back instead of run again
 * (the retries and redeliveries of a stage), and a setup that runs is kept for them (`SetupCache`).
 */
export async function prepareTicketWorkspace(sandbox: Sandbox, ws: Workspace, profile: RepoProfile, log: Logger, signal?: AbortSignal, cache?: SetupCache): Promise<void> {
  const key = cache && profile.setup?.length ? await cache.keyOf(ws, profile) : null;
  if (cache && key !== null && (await cache.restore(key, ws.dir))) {
    await sandbox.ensureImage(profile.image);
    log.info({ setup: profile.setup }, 'setup reused: kept from an earlier run of this stage on this commit');
  } else {
    await prepareWorkspace(sandbox, ws.dir, profile, log, signal);
    if (cache && key !== null) {
      // Everything the setup left, ignored files (node_modules) included: nothing else has run yet.
      const outputs = (await workspaceGit(ws, ['ls-files', '-z', '--others', '--directory', '--no-empty-directory'])).split('\0').filter((p) => p !== '' && !p.includes('\n'));
      await cache.save(key, ws.dir, outputs).catch((err: unknown) => log.warn({ err }, 'could not keep the setup for a retry'));
    }
  }
  const left = await excludeUntracked(ws);
  if (left.length > 0) log.info({ paths: left.slice(0, 20), count: left.length }, 'files the setup left excluded from commits');
}

/**
 * Runs the whole test suite in a fresh sandbox, with no network, asking the runners for their own
 * per-test reports (`prepareResults`). `go test`'s events come on stdout (`parseGoTestJson`); the
 * output kept as evidence is then go's human output rebuilt from them (`goTestOutput`). Where no
 * runner reported but the output is a TAP stream (a runner told to print TAP by the repository), the
 * TAP is read instead.
 */
export async function runSuite(sandbox: Sandbox, dir: string, profile: RepoProfile, clock: () => Date, signal?: AbortSignal): Promise<SuiteResult> {
  await using results = await prepareResults(dir, sandbox.mountPoint(dir), profile.env, `${profile.test}\n${await packageScripts(dir)}`);
  const env = { ...profile.env, ...results.env };
  const spec = {
    image: profile.image,
    workspace: dir,
    command: results.command(profile.test),
    env,
    network: 'none' as const,
    timeoutMs: profile.timeouts.testMs,
    ...(results.maxOutputBytes !== undefined && { maxOutputBytes: results.maxOutputBytes }),
  };
  const result = await sandbox.run(spec, signal ? { signal } : {});
  const failure = runFailure(result, { timeoutMs: spec.timeoutMs });
  let report = await results.read();
  const go = results.go ? parseGoTestJson(stripTerminalCodes(result.stdout), stripTerminalCodes(result.stderr), await goModulePath(dir)) : null;
  if (go?.found) {
    report ??= { runners: [], tests: [], errors: [] };
    report = { runners: [...report.runners, 'go'], tests: [...report.tests, ...go.tests], errors: [...report.errors, ...go.errors] };
  }
  const output = runOutput(go?.found ? { stdout: goTestOutput(result.stdout), stderr: result.stderr } : result);
  if (!report && /^TAP version \d+$/m.test(result.stdout)) {
    const tap = parseTap(stripTerminalCodes(result.stdout));
    if (tap.tests.length > 0) report = { runners: ['tap'], ...tap };
  }
  return {
    run: {
      passed: failure === null,
      exitCode: result.exitCode,
      failure,
      durationMs: Math.round(result.durationMs),
      output: tail(output),
      command: profile.test,
      image: profile.image,
      at: clock().toISOString(),
      tests: report ? evidenceOf(report) : null,
    },
    report,
  };
}

/** The scripts of the repository's package.json as text (they say how the tests are run), or ''. */
async function packageScripts(dir: string): Promise<string> {
  try {
    const path = join(dir, 'package.json');
    const s = await lstat(path);
    if (!s.isFile() || s.size > 256 * 1024) return '';
    const scripts = (JSON.parse(await readFile(path, 'utf8')) as { scripts?: unknown }).scripts;
    return typeof scripts === 'object' && scripts !== null ? Object.values(scripts).join('\n') : '';
  } catch {
    return '';
  }
}

/**
 * What a run printed, stdout then stderr, as text: without the colours, cursor moves and other
 * terminal escape codes runners print, so that evidence, feedback for a model, escalations and the
 * pull request carry only what a person reads.
 */
export function runOutput(result: Pick<RunResult, 'stdout' | 'stderr'>): string {
  return stripTerminalCodes([result.stdout, result.stderr].filter(Boolean).join('\n'));
}

function tail(text: string): string {
  return text.length > EVIDENCE_BYTES ? `…${text.slice(-EVIDENCE_BYTES)}` : text;
}
