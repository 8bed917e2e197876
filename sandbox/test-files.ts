import { posix } from 'node:path';
import { parseYamlMapping } from './yaml.ts';

/*
 * Which files are test files. The patterns cut both ways: the test author may write only test files,
 * and the coder may touch none of them. A pattern that misses a layout lets the coder edit the tests
 * (the worse mistake: test-first is then a promise nobody checks); a pattern that is too broad stops
 * the coder from fixing real code (visible: the refusal names the file, the patterns and the
 * `.nightshift.yml` key that replaces them). So the defaults follow the conventions runners and
 * real repositories use, by directory name or file name, never by a source directory such as `src/`.
 *
 * Globs are matched with `path.matchesGlob` (minimatch syntax: `**`, `*`, `?`, `[…]`, `{a,b}`,
 * `?(…)`, `+(…)`): `*` never crosses a `/`, and `**` does not enter directories whose name starts
 * with a dot.
 */

/**
 * Node.js: the file names of vitest, jest, mocha, ava and node:test (`*.test.*`, `*.spec.*`), tsd's
 * type tests (`*.test-d.ts`, `test-d/`), a root `test.js`/`test.ts`/`test.mjs`… (the single-file
 * packages of sindresorhus and others: `test.*` matches at the root only, so `src/test.js`, a module
 * named test, stays production code), the test directories of a package or of the packages of a
 * monorepo (`test/`, `tests/`, jasmine's `spec/`, at any depth), Cypress's `cypress/`, and jest's
 * `__tests__`, with its snapshots, manual mocks and fixtures (`__snapshots__`, `__mocks__`,
 * `__fixtures__`): changing them changes what the tests check. `src/test-utils.js` or
 * `src/testing.ts` are not test files.
 *
 * Left out on purpose: `e2e/` and `*.e2e.*` (Playwright and Nest keep those in `tests/`/`test/` or name
 * them `*.spec.*`, both covered), Cypress's `*.cy.*` outside `cypress/` (a Welsh locale file is
 * `messages.cy.json`), `fixtures/` outside test directories (often production data). A `spec/` that
 * holds an API specification rather than tests is protected too: such a repository sets test_files.
 */
export const NODE_TEST_FILES: readonly string[] = [
  '**/*.test.*',
  '**/*.spec.*',
  '**/*.test-d.*',
  'test.*',
  '**/test/**',
  '**/tests/**',
  '**/spec/**',
  'test-d/**',
  'cypress/**',
  '**/__tests__/**',
  '**/__snapshots__/**',
  '**/__mocks__/**',
  '**/__fixtures__/**',
];

/** Python: pytest's file names (`test_*.py`, `*_test.py`), test directories and `conftest.py` fixtures. */
export const PYTHON_TEST_FILES: readonly string[] = ['**/test_*.py', '**/*_test.py', '**/tests/**', '**/test/**', '**/conftest.py'];

/** Go: `go test`'s `*_test.go` and the `testdata` directories the tool itself ignores when building. */
export const GO_TEST_FILES: readonly string[] = ['**/*_test.go', '**/testdata/**'];

/**
 * Whether `path` (relative to the repository root, `/`-separated) is a test file under `patterns`
 * (`RepoProfile.testFilePatterns`, matched with `path.matchesGlob`). A path that is absolute or
 * leaves the repository is not a test file.
 */
export function isTestFile(path: string, patterns: readonly string[]): boolean {
  const p = posix.normalize(path.replaceAll('\\', '/')).replace(/^\.\//, '');
  if (p.startsWith('/') || p === '..' || p.startsWith('../')) return false;
  return patterns.some((pattern) => posix.matchesGlob(p, pattern));
}

/**
 * Why a path is refused as a test file, for the test author and for the people it escalates to: the
 * patterns in force and the configuration key that replaces them. The caller names the file.
 */
export function notATestFile(profile: { testFilePatterns: readonly string[]; configFile: string | null }): string {
  const file = profile.configFile ?? '.nightshift.yml';
  return (
    `not a test file under the patterns in force (${profile.testFilePatterns.join(', ')}); ` +
    `if this repository keeps its tests elsewhere, set test_files in ${file}`
  );
}

/** Repository files a Node.js profile reads test file patterns from, besides package.json. */
export const RUNNER_CONFIG_FILES = ['.mocharc.json', '.mocharc.yml', '.mocharc.yaml', 'jest.config.json'] as const;

/** What the runners' own configuration says the test files are. */
export interface RunnerTestFiles {
  /** Patterns to add to the defaults, each once. */
  patterns: string[];
  /** For people: where patterns came from, and what was ignored and why. */
  notes: string[];
}

const MAX_PATTERNS = 50;
const MAX_PATTERN_LENGTH = 300;
const MAGIC = /[*?[\]{}()!+@]/;
const TEST_DIR = /^(?:.*[-_.])?(?:tests?|specs?|e2e|test-d|__[a-z]+__)(?:[-_.].*)?$/i;
const FILE_NAME = /\.[A-Za-z0-9]+$/;
/** Directories where production code lives: a runner's pattern over all of one is not taken as tests. */
const SOURCE_DIR = /^(?:src|source|lib|app|apps|packages|pkg|internal|cmd|server|client|dist|build|bin|scripts|modules)$/i;

/**
 * The test files that the runners' static configuration names, in the repository's own files (never
 * configuration that is code: `ava.config.js`, `jest.config.ts`, `.mocharc.js` are not run):
 *
 * - package.json: `ava.files`, `jest.testMatch`, `mocha.spec`, `tsd.directory`;
 * - `.mocharc.json`, `.mocharc.yml`/`.yaml` (its `spec` key, read as YAML): `spec`;
 * - `jest.config.json`: `testMatch`.
 *
 * Negated patterns (`!…`) are dropped (they only narrow the runner's set), `./` and jest's
 * `<rootDir>/` prefixes removed, and a plain path without an extension (`test/unit`) means the
 * directory and everything under it. A pattern is ignored, with a note, when it leaves the repository,
 * or names no test file and no test directory and covers a whole source directory or the whole
 * repository (`src/**\/*.js`, `**\/*.ts`): protecting all of that would stop the coder from changing
 * real code. A directory of its own (`qa/**\/*.js`) is taken as tests.
 * `jest.testRegex` is a regular expression, not a glob: it is noted, not used. Nothing here throws: a
 * configuration the runner cannot read either is the runner's problem, noted here.
 *
 * `pkg` is package.json parsed; `files` maps the names of `RUNNER_CONFIG_FILES` present to their text.
 */
export function runnerTestFiles(pkg: Record<string, unknown>, files: Partial<Record<(typeof RUNNER_CONFIG_FILES)[number], string>>): RunnerTestFiles {
  const out: RunnerTestFiles = { patterns: [], notes: [] };
  const add = (source: string, value: unknown) => addPatterns(out, source, value);
  add('package.json "ava.files"', field(pkg, 'ava', 'files'));
  add('package.json "jest.testMatch"', field(pkg, 'jest', 'testMatch'));
  add('package.json "mocha.spec"', field(pkg, 'mocha', 'spec'));
  add('package.json "tsd.directory"', field(pkg, 'tsd', 'directory'));
  if (field(pkg, 'jest', 'testRegex') !== undefined) out.notes.push(testRegexNote('package.json "jest.testRegex"'));

  const mocharc = files['.mocharc.json'];
  if (mocharc !== undefined) {
    const json = parseJson(mocharc);
    if (json === undefined) out.notes.push('.mocharc.json is not JSON: its "spec" was not read');
    else add('.mocharc.json "spec"', json['spec']);
  }
  for (const name of ['.mocharc.yml', '.mocharc.yaml'] as const) {
    const text = files[name];
    if (text !== undefined) add(`${name} "spec"`, yamlSpec(out, name, text));
  }
  const jest = files['jest.config.json'];
  if (jest !== undefined) {
    const json = parseJson(jest);
    if (json === undefined) out.notes.push('jest.config.json is not JSON: its "testMatch" was not read');
    else {
      add('jest.config.json "testMatch"', json['testMatch']);
      if (json['testRegex'] !== undefined) out.notes.push(testRegexNote('jest.config.json "testRegex"'));
    }
  }
  return out;
}

function addPatterns(out: RunnerTestFiles, source: string, value: unknown): void {
  if (value === undefined || value === null) return;
  const list = typeof value === 'string' ? [value] : Array.isArray(value) ? value : null;
  if (list === null || list.some((v) => typeof v !== 'string')) {
    out.notes.push(`${source} is not a string or a list of strings: not read`);
    return;
  }
  const used: string[] = [];
  for (const raw of list as string[]) {
    const pattern = raw.trim().replace(/^<rootDir>\//, '').replace(/^(?:\.\/)+/, '').replace(/\/+$/, '');
    if (pattern === '' || pattern.startsWith('!')) continue;
    const problem = patternProblem(pattern);
    if (problem) {
      out.notes.push(`${source}: ignored "${raw}": ${problem}; set test_files in .nightshift.yml to choose the test files`);
      continue;
    }
    const directory = !MAGIC.test(pattern) && !FILE_NAME.test(pattern.split('/').at(-1)!);
    for (const p of directory ? [pattern, `${pattern}/**`] : [pattern]) {
      if (out.patterns.length >= MAX_PATTERNS) {
        out.notes.push(`${source}: more than ${MAX_PATTERNS} test file patterns; the rest were not read`);
        return;
      }
      if (!out.patterns.includes(p)) out.patterns.push(p);
      used.push(p);
    }
  }
  if (used.length > 0) out.notes.push(`test files also from ${source}: ${used.join(', ')}`);
}

/** Why a runner's pattern is not used, or null. */
function patternProblem(pattern: string): string | null {
  if (pattern.length > MAX_PATTERN_LENGTH) return `longer than ${MAX_PATTERN_LENGTH} characters`;
  if (pattern.startsWith('/') || pattern.includes('\\') || pattern.split('/').includes('..')) return 'not a path inside the repository';
  const segments = pattern.split('/');
  const name = segments.at(-1)!;
  if (!MAGIC.test(name) && FILE_NAME.test(name)) return null; // one named file: `src/checks.js`
  // A plain path without an extension is a directory: all of it is tests.
  const dirs = MAGIC.test(name) || FILE_NAME.test(name) ? segments.slice(0, -1) : segments;
  if (dirs.some((s) => TEST_DIR.test(s))) return null;
  // A glob whose file name says what makes a test beyond its extension: `*.check.js` does, `*.js` does not.
  const stem = name.replace(/\.(?:\{[^}]*\}|\[[^\]]*\]|[^./])*$/, '').replace(/\[[^\]]*\]/g, '');
  if (MAGIC.test(name) && /[A-Za-z0-9_-]{2,}/.test(stem)) return null;
  // A directory of its own (`qa/`, `checks/`), not one where production code lives.
  const literal = dirs.filter((s) => !MAGIC.test(s));
  if (literal.length > 0 && !literal.some((s) => SOURCE_DIR.test(s))) return null;
  return 'it names no test file or test directory, and the coder could change no file it matches';
}

function testRegexNote(source: string): string {
  return `${source} is a regular expression, not read: if it names test files outside the defaults, list them in test_files in .nightshift.yml`;
}

function field(pkg: Record<string, unknown>, key: string, sub: string): unknown {
  const section = pkg[key];
  return section !== null && typeof section === 'object' && !Array.isArray(section) ? (section as Record<string, unknown>)[sub] : undefined;
}

function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The `spec` of a mocha YAML configuration, or undefined (with a note when the file does not read as YAML). */
function yamlSpec(out: RunnerTestFiles, name: string, text: string): unknown {
  const parsed = parseYamlMapping(text);
  if (!parsed.ok) {
    out.notes.push(`${name}: not valid YAML (line ${parsed.issues[0]!.line}: ${parsed.issues[0]!.message}): not read`);
    return undefined;
  }
  return (parsed.value as Record<string, unknown>)['spec'];
}
