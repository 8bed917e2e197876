import { XMLParser } from 'fast-xml-parser';
import { z } from 'zod';
import { clip } from '../../shared/text.ts';
import { MAX_MESSAGE, MAX_NAME, type RunError, type TestCase, type TestStatus } from '../../shared/test-report.ts';

/** What one report file holds. */
export interface Parsed {
  tests: TestCase[];
  errors: RunError[];
}

/** Where the workspace appeared inside the run, to make the runners' absolute paths relative. */
export type Mount = string;

const JOIN = ' › ';

function relative(path: string | undefined | null, mount: Mount): string | null {
  if (!path) return null;
  let p = path.startsWith('file://') ? decodeURIComponent(path.slice('file://'.length)) : path;
  if (p.startsWith(`${mount}/`)) p = p.slice(mount.length + 1);
  return clip(p.trim(), MAX_NAME);
}

function message(text: string | undefined | null): string | undefined {
  if (!text) return undefined;
  const lines = text.replace(/\r/g, '').split('\n').filter((l) => l.trim() !== '');
  return clip(lines.slice(0, 8).join('\n').trim(), MAX_MESSAGE);
}

function name(parts: readonly string[]): string {
  return clip(parts.filter((p) => p !== '').join(JOIN).trim(), MAX_NAME) || '(unnamed test)';
}

function status(s: string): TestStatus {
  if (s === 'passed') return 'passed';
  if (s === 'failed') return 'failed';
  return 'skipped';
}

const JestJson = z.looseObject({
  testResults: z.array(
    z.looseObject({
      name: z.string(),
      status: z.string().optional(),
      message: z.string().nullish(),
      failureMessage: z.string().nullish(),
      testExecError: z.unknown().optional(),
      assertionResults: z.array(
        z.looseObject({
          ancestorTitles: z.array(z.string()).default([]),
          title: z.string(),
          status: z.string(),
          failureMessages: z.array(z.string()).nullish(),
        }),
      ),
    }),
  ),
});

/** The JSON report of jest (`--json`) and of vitest's `json` reporter, which share jest's format. */
export function parseJestJson(text: string, mount: Mount): Parsed {
  const report = JestJson.parse(JSON.parse(text));
  const out: Parsed = { tests: [], errors: [] };
  for (const file of report.testResults) {
    const rel = relative(file.name, mount);
    for (const a of file.assertionResults) {
      const s = status(a.status);
      const m = s === 'failed' ? message(a.failureMessages?.join('\n')) : undefined;
      out.tests.push({ file: rel, name: name([...a.ancestorTitles, a.title]), status: s, ...(m && { message: m }) });
    }
    const suiteFailed = file.testExecError != null || (file.status === 'failed' && file.assertionResults.every((a) => a.status !== 'failed'));
    if (suiteFailed) out.errors.push({ file: rel, message: message(file.message || file.failureMessage) ?? 'the test file failed outside its tests' });
  }
  return out;
}

const MochaTest = z.looseObject({ title: z.string(), fullTitle: z.string(), file: z.string().nullish(), err: z.looseObject({ message: z.string().optional(), stack: z.string().optional() }).optional() });
const MochaJson = z.looseObject({
  tests: z.array(MochaTest),
  passes: z.array(MochaTest).default([]),
  failures: z.array(MochaTest).default([]),
  pending: z.array(MochaTest).default([]),
});

/** Mocha's `json` reporter. Failures of hooks are not tests: they are errors. */
export function parseMochaJson(text: string, mount: Mount): Parsed {
  const report = MochaJson.parse(JSON.parse(text));
  const id = (t: z.infer<typeof MochaTest>) => `${t.file ?? ''}\u0000${t.fullTitle}`;
  const failed = new Map(report.failures.map((t) => [id(t), t]));
  const pending = new Set(report.pending.map(id));
  const out: Parsed = { tests: [], errors: [] };
  const seen = new Set<string>();
  for (const t of report.tests) {
    seen.add(id(t));
    const f = failed.get(id(t));
    const s: TestStatus = f ? 'failed' : pending.has(id(t)) ? 'skipped' : 'passed';
    const m = f ? message(f.err?.message || f.err?.stack) : undefined;
    out.tests.push({ file: relative(t.file, mount), name: name([t.fullTitle]), status: s, ...(m && { message: m }) });
  }
  for (const f of report.failures) {
    if (!seen.has(id(f))) out.errors.push({ file: relative(f.file, mount), message: message(`${f.fullTitle}: ${f.err?.message ?? ''}`) ?? f.fullTitle });
  }
  return out;
}

const TAP_LINE = /^(not )?ok\b\s*\d*\s*(?:-\s*)?(.*?)(?:\s+#\s*(skip|todo)\b.*)?$/i;
/**
 * What ava reports as a failed "test" when a file breaks outside its tests: an uncaught error (titled
 * by the error, e.g. `Error [ERR_MODULE_NOT_FOUND]: Cannot find module…`), a file that exited or timed
 * out, a file without tests.
 */
const AVA_NOT_A_TEST =
  /^(?:[A-Z]\w*)?Error(?: \[[A-Z_]+\])?: |(?:^|›\s)(?:uncaught exception|unhandled rejection|timed out.*|no tests found in .*)$| exited with a non-zero exit code: \d+$|^Couldn’t find any files to test$/i;

/**
 * A TAP stream (ava's `--tap`, or any runner's TAP output): the top-level `ok`/`not ok` lines; a
 * `# SKIP` or `# TODO` directive means the test did not run. ava's reports of a file that broke
 * outside its tests (an uncaught exception, no tests found) are errors, not tests.
 */
export function parseTap(text: string): Parsed {
  const out: Parsed = { tests: [], errors: [] };
  const lines = text.replace(/\r/g, '').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = TAP_LINE.exec(lines[i]!);
    if (!m) continue;
    const title = m[2]!.replace(/\\#/g, '#').trim() || `test ${out.tests.length + 1}`;
    let detail = '';
    if (lines[i + 1]?.trim() === '---') {
      const block: string[] = [];
      for (i += 2; i < lines.length && lines[i]!.trim() !== '...'; i++) block.push(lines[i]!.trim());
      detail = block.join('\n');
    }
    if (m[1] && !m[3] && AVA_NOT_A_TEST.test(title)) {
      out.errors.push({ file: null, message: message(`${title}\n${detail}`) ?? title });
      continue;
    }
    const s: TestStatus = m[3] ? 'skipped' : m[1] ? 'failed' : 'passed';
    const msg = s === 'failed' ? message(detail) : undefined;
    out.tests.push({ file: null, name: name([title]), status: s, ...(msg && { message: msg }) });
  }
  return out;
}

type XmlNode = Record<string, unknown>;
const xml = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  textNodeName: '#text',
  isArray: (tag) => tag === 'testsuite' || tag === 'testcase',
  processEntities: true,
  parseTagValue: false,
  parseAttributeValue: false,
});

function attr(node: XmlNode, key: string): string | undefined {
  const v = node[`@${key}`];
  return typeof v === 'string' ? v : undefined;
}

function child(node: XmlNode, key: string): XmlNode | string | undefined {
  const v = node[key];
  if (Array.isArray(v)) return v[0] as XmlNode | string;
  return v as XmlNode | string | undefined;
}

function text(node: XmlNode | string | undefined): string {
  if (node === undefined) return '';
  if (typeof node === 'string') return node;
  return [attr(node, 'message'), typeof node['#text'] === 'string' ? node['#text'] : ''].filter(Boolean).join('\n');
}

/** The classes of a pytest test: its `classname` without the module, which its file names. */
function pytestClasses(classname: string, file: string | undefined): string[] {
  const module = file?.replace(/\.py$/, '').replaceAll('/', '.');
  if (module && classname === module) return [];
  if (module && classname.startsWith(`${module}.`)) return classname.slice(module.length + 1).split('.');
  return classname ? [classname] : [];
}

/**
 * A JUnit XML report: node:test's `junit` reporter (suites nest as `testsuite` elements and a file
 * that failed to load is reported as a test named by its path) or pytest's `--junitxml` with `junit_family=xunit1` (tests named by their classes and
 * function, `TestGroup › test_inner`, with their file; a collection error is a test case with an
 * empty class name).
 */
export function parseJunit(textOf: string, mount: Mount, flavor: 'node:test' | 'pytest'): Parsed {
  const doc = xml.parse(textOf) as XmlNode;
  const out: Parsed = { tests: [], errors: [] };
  const walk = (node: XmlNode, path: string[]) => {
    for (const suite of (node.testsuite as XmlNode[] | undefined) ?? []) {
      const n = attr(suite, 'name') ?? '';
      walk(suite, flavor === 'pytest' ? path : [...path, n]);
    }
    for (const tc of (node.testcase as XmlNode[] | undefined) ?? []) {
      const title = attr(tc, 'name') ?? '';
      const classname = attr(tc, 'classname') ?? '';
      const file = attr(tc, 'file');
      const failure = child(tc, 'failure') ?? child(tc, 'error');
      const skipped = child(tc, 'skipped') !== undefined;
      const m = failure !== undefined ? message(text(failure)) : undefined;
      // node:test names a file that failed to load by its path; pytest reports a collection error with no class.
      const loadFailure =
        flavor === 'node:test' ? file !== undefined && (title === file || relative(title, mount) === relative(file, mount)) : classname === '';
      if (loadFailure && failure !== undefined) {
        out.errors.push({ file: relative(file ?? title, mount), message: m ?? 'the file failed outside its tests' });
        continue;
      }
      const full = flavor === 'pytest' ? name([...pytestClasses(classname, file), title]) : name([...path, title]);
      const s: TestStatus = failure !== undefined ? 'failed' : skipped ? 'skipped' : 'passed';
      out.tests.push({ file: relative(file, mount), name: full, status: s, ...(m && { message: m }) });
    }
  };
  const root = (doc.testsuites as XmlNode | undefined) ?? doc;
  walk(typeof root === 'object' && root !== null ? root : {}, []);
  return out;
}
