import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { chmod, lstat, mkdir, open, readdir, rm, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { constants } from 'node:fs';
import { SandboxError } from '../errors.ts';
import { parseJestJson, parseJunit, parseMochaJson, parseTap, type Parsed } from './parse.ts';
import type { Runner, RunError, TestReport } from '../../shared/test-report.ts';

/** The workspace directory the sandbox uses for its own files (`SCRATCH_DIR` of detect.ts). */
const SCRATCH = '.nightshift';
const PRELOAD = readFileSync(new URL('./preload.cjs', import.meta.url), 'utf8');
const GO_SHIM = readFileSync(new URL('./go-shim.sh', import.meta.url), 'utf8');
/** A report file larger than this is not read. */
const MAX_REPORT_BYTES = 32 * 1024 * 1024;

/** One test run's way of getting per-test results out of the sandbox. */
export interface ResultsRun {
  /** Environment to add to the run's (NODE_OPTIONS and the others merged with what `env` already had). */
  env: Record<string, string>;
  /**
   * The test command as the sandbox runs it: in a Go repository (a go.mod at the root, or a test
   * command that runs go), the directory of the `go` shim (which adds `-json` to `go test`) first on
   * PATH, then `test` unchanged; any other test command as it is.
   */
  command(test: string): string;
  /**
   * The run's output bound when it has to be larger than the default: go's events come on stdout
   * (about eight times what `go test -v` prints), so a Go repository's run may print up to 16 MiB.
   */
  maxOutputBytes: number | undefined;
  /** Whether the run is a Go repository's: the shim is on PATH and `go test`'s events are on stdout. */
  go: boolean;
  /**
   * Reads what the runners wrote, after the run has ended; null when no runner reported. Rejects only
   * when the results directory was tampered with (replaced by a link or another kind of file).
   */
  read(): Promise<TestReport | null>;
  /** Removes the results directory. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** How the run's reports are named, by runner. */
const FILES: { re: RegExp; runner: Runner; parse: (text: string, mount: string) => Parsed }[] = [
  { re: /^vitest-\d+\.json$/, runner: 'vitest', parse: parseJestJson },
  { re: /^jest-\d+\.json$/, runner: 'jest', parse: parseJestJson },
  { re: /^mocha-\d+\.json$/, runner: 'mocha', parse: parseMochaJson },
  { re: /^ava-\d+\.tap$/, runner: 'ava', parse: (t) => parseTap(t) },
  { re: /^node-test\.xml$/, runner: 'node:test', parse: (t, m) => parseJunit(t, m, 'node:test') },
  { re: /^pytest\.xml$/, runner: 'pytest', parse: (t, m) => parseJunit(t, m, 'pytest') },
];

/**
 * Prepares a run of the suite to report per test, without changing a file of the repository: a fresh
 * results directory in the workspace's scratch directory (`.nightshift/results-<random>`, which git
 * ignores), the in-sandbox preload that adds the reporters of vitest, jest, mocha and ava, node's own
 * test reporters and pytest's JUnit report through the environment, and a `go` first on PATH that
 * adds `-json` to `go test` (its events on stdout: `parseGoTestJson`).
 *
 * `hostDir` is the workspace on the host, `mount` where the run sees it (`Sandbox.mountPoint`), `env`
 * the profile's environment and `testConfig` the text that configures the test command (a
 * repository that picks node's test reporters itself is left to them: nightshift's would clash).
 */
export async function prepareResults(hostDir: string, mount: string, env: Record<string, string>, testConfig: string): Promise<ResultsRun> {
  const name = `results-${randomBytes(8).toString('hex')}`;
  const scratch = join(hostDir, SCRATCH);
  await mkdir(scratch, { recursive: true });
  const s = await lstat(scratch);
  if (!s.isDirectory()) throw new SandboxError('invalid_workspace', `${SCRATCH} in the workspace is not a directory`);
  const host = join(scratch, name);
  await mkdir(host);
  await chmod(host, 0o777);
  await writeFile(join(host, 'preload.cjs'), PRELOAD, { mode: 0o444 });
  // Read-only, like the preload. The code under test runs as the workspace's owner and could still
  // change it (docs/test-first.md, "Where it stops").
  await mkdir(join(host, 'bin'));
  await writeFile(join(host, 'bin', 'go'), GO_SHIM, { mode: 0o555 });
  await chmod(join(host, 'bin'), 0o555);
  const inside = posix.join(mount, SCRATCH, name);
  const nodeOptions = [env.NODE_OPTIONS, `--require=${quote(posix.join(inside, 'preload.cjs'))}`];
  if (!testConfig.includes('--test-reporter')) {
    nodeOptions.push('--test-reporter=spec', '--test-reporter-destination=stdout', '--test-reporter=junit', `--test-reporter-destination=${quote(posix.join(inside, 'node-test.xml'))}`);
  }
  const added: Record<string, string> = {
    NIGHTSHIFT_RESULTS_DIR: inside,
    NODE_OPTIONS: nodeOptions.filter(Boolean).join(' '),
    PYTEST_ADDOPTS: [env.PYTEST_ADDOPTS, `--junitxml=${posix.join(inside, 'pytest.xml')}`, '-o', 'junit_family=xunit1'].filter(Boolean).join(' '),
  };
  const bin = posix.join(inside, 'bin');
  const go = GO_WORD.test(testConfig) || (await lstat(join(hostDir, 'go.mod')).then((g) => g.isFile(), () => false));
  return {
    env: added,
    maxOutputBytes: go ? GO_MAX_OUTPUT_BYTES : undefined,
    go,
    command: (test) => (go ? `PATH=${shellQuote(bin)}:"$PATH"; export PATH\n${test}` : test),
    read: () => readReports(host, mount),
    [Symbol.asyncDispose]: async () => {
      await chmod(join(host, 'bin'), 0o755).catch(() => undefined);
      await rm(host, { recursive: true, force: true });
    },
  };
}

const GO_MAX_OUTPUT_BYTES = 16 * 1024 * 1024;

/** A test command that runs go (as a word of a command, possibly through a path). */
const GO_WORD = /(?:^|[\s;&|()'"/])go(?=$|[\s;&|()'"])/m;

function shellQuote(text: string): string {
  return `'${text.replaceAll("'", "'\\''")}'`;
}

function quote(path: string): string {
  return /[\s"\\]/.test(path) ? `"${path.replace(/(["\\])/g, '\\$1')}"` : path;
}

async function readReports(host: string, mount: string): Promise<TestReport | null> {
  const s = await lstat(host);
  if (!s.isDirectory()) throw new SandboxError('invalid_workspace', 'the results directory was replaced during the run');
  const report: TestReport = { runners: [], tests: [], errors: [] };
  let found = false;
  for (const entry of (await readdir(host)).sort()) {
    const kind = FILES.find((f) => f.re.test(entry));
    if (!kind) continue;
    const text = await readRegular(join(host, entry));
    if (text === null) continue;
    found = true;
    let parsed: Parsed;
    try {
      parsed = kind.parse(text, mount);
    } catch (err) {
      report.errors.push(unreadable(entry, err));
      continue;
    }
    if (!report.runners.includes(kind.runner)) report.runners.push(kind.runner);
    report.tests.push(...parsed.tests);
    report.errors.push(...parsed.errors);
  }
  return found ? report : null;
}

function unreadable(entry: string, err: unknown): RunError {
  return { file: null, message: `the report ${entry} could not be read: ${(err as Error).message.slice(0, 300)}` };
}

/** A regular file's text, never through a link; null for anything else or a file too large. */
async function readRegular(path: string): Promise<string | null> {
  let handle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return null;
  }
  try {
    const s = await handle.stat();
    if (!s.isFile() || s.size > MAX_REPORT_BYTES) return null;
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}
