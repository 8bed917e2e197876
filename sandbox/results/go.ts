import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { clip } from '../../shared/text.ts';
import { MAX_MESSAGE, MAX_NAME, type RunError, type TestCase, type TestStatus } from '../../shared/test-report.ts';

/*
 * Go's per-test results: `go test -json` (test2json events, one JSON object a line) on the run's
 * stdout. The `go` shim of collect.ts adds `-json` to `go test` only; every other go command runs as
 * written (GOFLAGS=-json would reach `go vet`, which then exits 0 on its findings, and `go list`).
 */

/** One test2json event. Go 1.24 adds `build-output`/`build-fail` events (ImportPath) and FailedBuild. */
const Event = z.looseObject({
  Action: z.string(),
  Package: z.string().optional(),
  ImportPath: z.string().optional(),
  Test: z.string().optional(),
  Output: z.string().optional(),
  FailedBuild: z.string().optional(),
});
type Event = z.infer<typeof Event>;

/** The event of a stdout line, or null when the line is not one (a lint step's output, go's own lines). */
function eventOf(line: string): Event | null {
  if (!line.startsWith('{"')) return null;
  try {
    const e = Event.safeParse(JSON.parse(line));
    return e.success && (e.data.Package !== undefined || e.data.ImportPath !== undefined) ? e.data : null;
  } catch {
    return null;
  }
}

/** What `go test -json` reported, when it did. */
export interface GoParsed {
  /** Whether any test2json event was seen: a run of packages without tests reports zero tests. */
  found: boolean;
  tests: TestCase[];
  errors: RunError[];
}

/** `go test`'s own progress lines inside a test's output: not what a failure says. */
const PROGRESS = /^\s*(=== (RUN|PAUSE|CONT|NAME)\s|--- (PASS|FAIL|SKIP):\s)/;
/** go's line for a package that did not build (Go before 1.24 prints it as text, not as an event). */
const NOT_BUILT = /^FAIL\t(\S+) \[(build failed|setup failed)\]$/;

/**
 * Reads `go test -json` events from a run's stdout into tests and errors. A test's file is its
 * package's directory relative to the module (`module`, from go.mod; `.` for the module's root
 * package), or the import path for a package of another module. Subtests (`TestX/case`) are named
 * `TestX › case`. A package that did not build, or that failed outside its tests (TestMain, init, a
 * binary that stopped), is an error of that package, with go's messages from `stderr`; a test that
 * started but never finished (its binary died) failed.
 */
export function parseGoTestJson(stdout: string, stderr: string, module: string | null): GoParsed {
  const out: GoParsed = { found: false, tests: [], errors: [] };
  const tests = new Map<string, { pkg: string; test: string; status?: TestStatus; output: string[] }>();
  const pkgOutput = new Map<string, string[]>();
  const failedPkgs: string[] = [];
  const notBuilt = new Map<string, string>();
  const buildOutput = new Map<string, string[]>();
  for (const line of stdout.replace(/\r/g, '').split('\n')) {
    const e = eventOf(line);
    if (!e) {
      const m = NOT_BUILT.exec(line);
      if (m) notBuilt.set(m[1]!, m[2]!);
      continue;
    }
    out.found = true;
    if (e.Action === 'build-output' && e.ImportPath) {
      buildOutput.set(e.ImportPath, [...(buildOutput.get(e.ImportPath) ?? []), e.Output ?? '']);
      continue;
    }
    const pkg = e.Package;
    if (pkg === undefined) continue;
    if (e.Test === undefined) {
      if (e.Action === 'output') pkgOutput.set(pkg, [...(pkgOutput.get(pkg) ?? []), e.Output ?? '']);
      else if (e.Action === 'fail') {
        if (e.FailedBuild !== undefined) notBuilt.set(pkg, 'build failed');
        else failedPkgs.push(pkg);
      }
      continue;
    }
    const key = `${pkg}\u0000${e.Test}`;
    let t = tests.get(key);
    if (!t) tests.set(key, (t = { pkg, test: e.Test, output: [] }));
    if (e.Action === 'output') t.output.push(e.Output ?? '');
    else if (e.Action === 'pass') t.status = 'passed';
    else if (e.Action === 'fail') t.status = 'failed';
    else if (e.Action === 'skip') t.status = 'skipped';
  }
  for (const m of stderr.replace(/\r/g, '').matchAll(/^FAIL\t(\S+) \[(build failed|setup failed)\]$/gm)) notBuilt.set(m[1]!, m[2]!);
  out.found ||= notBuilt.size > 0;

  for (const t of tests.values()) {
    const status = t.status ?? 'failed';
    const detail = t.status ? t.output.filter((l) => !PROGRESS.test(l)).join('') : `the test never finished (its test binary stopped)\n${t.output.filter((l) => !PROGRESS.test(l)).join('')}`;
    const m = status === 'failed' ? message(detail) : undefined;
    out.tests.push({ file: fileOf(t.pkg, module), name: clip(t.test.split('/').join(' › ').trim(), MAX_NAME), status, ...(m && { message: m }) });
  }
  const failedTests = new Set(out.tests.filter((t) => t.status === 'failed').map((t) => t.file));
  for (const pkg of failedPkgs) {
    if (notBuilt.has(pkg) || failedTests.has(fileOf(pkg, module))) continue;
    const lines = (pkgOutput.get(pkg) ?? []).filter((l) => !/^(FAIL|ok)\s/.test(l) && l.trim() !== 'FAIL');
    out.errors.push({ file: fileOf(pkg, module), message: message(`the package failed outside its tests\n${lines.slice(-8).join('')}`)! });
  }
  for (const [pkg, what] of notBuilt) {
    const detail = buildOutput.get(pkg)?.join('') ?? compilerMessages(stderr, pkg);
    out.errors.push({ file: fileOf(pkg, module), message: message(`the package's tests did not build (${what})\n${detail}`)! });
  }
  return out;
}

/** go's messages about `pkg` on stderr: the block under `# pkg` (or `# pkg [pkg.test]`). */
function compilerMessages(stderr: string, pkg: string): string {
  const lines = stderr.replace(/\r/g, '').split('\n');
  const block: string[] = [];
  let inside = false;
  for (const line of lines) {
    if (line.startsWith('# ')) inside = line === `# ${pkg}` || line.startsWith(`# ${pkg} [`);
    else if (inside) block.push(line);
  }
  return block.join('\n');
}

function fileOf(pkg: string, module: string | null): string {
  if (module !== null) {
    if (pkg === module) return '.';
    if (pkg.startsWith(`${module}/`)) return clip(pkg.slice(module.length + 1).trim(), MAX_NAME);
  }
  return clip(pkg.trim(), MAX_NAME);
}

function message(text: string): string | undefined {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  return lines.length > 0 ? clip(lines.slice(0, 8).join('\n').trim(), MAX_MESSAGE) : undefined;
}

/**
 * The run's stdout as people read it: each test2json event replaced by its output (without go's
 * `=== RUN` lines, which `-json` adds), every other line as it was. `-json` replaces go's human
 * output on stdout; this gives it back for the evidence and the models.
 */
export function goTestOutput(stdout: string): string {
  const lines = stdout.split('\n');
  let text = '';
  lines.forEach((line, i) => {
    const e = eventOf(line.replace(/\r$/, ''));
    if (!e) text += i < lines.length - 1 ? `${line}\n` : line;
    else if ((e.Action === 'output' || e.Action === 'build-output') && e.Output && !/^=== (RUN|PAUSE|CONT|NAME)\s/.test(e.Output)) text += e.Output;
  });
  return text;
}

const MODULE_LINE = /^\s*module\s+("?)([^\s"]+)\1\s*(?:\/\/.*)?$/m;

/**
 * The module path in `dir`'s go.mod, read on the host (a regular file only, never through a link, at
 * most 256 KiB); null when there is none.
 */
export async function goModulePath(dir: string): Promise<string | null> {
  let handle;
  try {
    handle = await open(join(dir, 'go.mod'), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return null;
  }
  try {
    const s = await handle.stat();
    if (!s.isFile() || s.size > 256 * 1024) return null;
    return MODULE_LINE.exec(await handle.readFile('utf8'))?.[2] ?? null;
  } finally {
    await handle.close();
  }
}
