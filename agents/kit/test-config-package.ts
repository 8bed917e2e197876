import { z } from 'zod';
import { GATE_TOOLS, NOT_THE_CODERS, runsTool } from './test-config.ts';

/**
 * The test configuration in a `package.json`: pure rules over its contents before and after a change.
 * See `test-config.ts` for the principle.
 */

/**
 * Top-level keys that configure a test runner, a coverage gate or how tests are compiled: always
 * refused, whatever the test command runs.
 */
export const TEST_TOOL_KEYS: Readonly<Record<string, string>> = {
  // Runners that read their whole configuration (test files, globs, timeouts) from package.json.
  jest: 'the test runner jest',
  mocha: 'the test runner mocha',
  ava: 'the test runner ava',
  tap: 'the test runner tap',
  tsd: 'the type-level test runner tsd',
  // A wrapper whose `test` entry lists the test globs: `"ts-scripts": { "test": [] }` ran no test.
  'ts-scripts': 'the test runner wrapper ts-scripts',
  // Coverage tools: their thresholds and include/exclude lists gate `c8 --check-coverage npm test`.
  c8: 'the coverage gate c8',
  nyc: 'the coverage gate nyc',
  // Reporters that read their options (where and what they write) from package.json.
  'jest-junit': 'the test reporter jest-junit',
  // Compilation of the tests (babel-jest reads it).
  babel: 'babel, which compiles the tests',
  // Names these tools or their plugins use; no harm refusing them where nothing reads them.
  vitest: 'the test runner vitest',
  jasmine: 'the test runner jasmine',
  karma: 'the test runner karma',
  uvu: 'the test runner uvu',
  playwright: 'the test runner playwright',
  cypress: 'the test runner cypress',
};

/** Packages that run, report or compile tests: their entries in dependencies and overrides are refused. */
const TEST_PACKAGES = new Set([
  'jest', 'vitest', 'mocha', 'ava', 'tap', 'tape', 'tsd', 'uvu', 'jasmine', 'karma', 'qunit', 'c8', 'nyc', 'borp',
  'cypress', 'playwright', '@playwright/test', 'ts-jest', 'babel-jest', 'ts-scripts', 'ts-mocha', '@hapi/lab',
]);
const TEST_PACKAGE_PREFIXES = ['@jest/', 'jest-', '@vitest/', 'vitest-', 'mocha-', '@ava/', 'karma-', '@tapjs/', 'tap-', 'jasmine-'];

/** Whether a package name is one of a test tool (`TEST_PACKAGES`, or a plugin by its prefix). */
export function isTestPackage(name: string): boolean {
  return TEST_PACKAGES.has(name) || TEST_PACKAGE_PREFIXES.some((p) => name.startsWith(p));
}

const DEPENDENCY_KEYS = ['dependencies', 'devDependencies', 'optionalDependencies', 'peerDependencies'] as const;
const OVERRIDE_KEYS = ['overrides', 'resolutions'] as const;

/** A package.json as far as these rules read it: an object; the fields they use are checked where used. */
const PackageJson = z.record(z.string(), z.unknown());
type PackageJson = z.infer<typeof PackageJson>;

type Parsed = { ok: true; value: PackageJson } | { ok: false; error: string };

function parse(text: string | null): Parsed {
  if (text === null) return { ok: true, value: {} };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { ok: false, error: (err as Error).message.slice(0, 200) };
  }
  const parsed = PackageJson.safeParse(json);
  return parsed.success ? { ok: true, value: parsed.data } : { ok: false, error: 'it is not a JSON object' };
}

const record = (v: unknown): Record<string, unknown> => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
const scriptsOf = (pkg: PackageJson): Record<string, string> =>
  Object.fromEntries(Object.entries(record(pkg.scripts)).filter((e): e is [string, string] => typeof e[1] === 'string'));

/** A stable text of a JSON value: objects with their keys sorted, so that only content counts. */
function stable(v: unknown): string {
  if (v === undefined) return '<absent>';
  if (Array.isArray(v)) return `[${v.map(stable).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stable((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/**
 * The scripts that `commands` run, transitively: `npm test`/`npm t`, `npm run X`, `npm run-script X`,
 * `pnpm [run] X`, `yarn [run] X`, `bun run X`, `node --run X`, `npm-run-all`/`run-s`/`run-p` patterns and
 * `concurrently "npm:X"`, each with its `preX`/`postX`. Only names that are scripts count.
 */
export function scriptsRunBy(commands: readonly string[], scripts: Readonly<Record<string, string>>): string[] {
  const names = Object.keys(scripts);
  const reached = new Set<string>();
  const queue = [...commands];
  const visit = (name: string) => {
    for (const n of [name, `pre${name}`, `post${name}`]) {
      if (Object.hasOwn(scripts, n) && !reached.has(n)) {
        reached.add(n);
        queue.push(scripts[n]!);
      }
    }
  };
  while (queue.length > 0) for (const ref of scriptReferences(queue.shift()!, names)) visit(ref);
  return [...reached].sort();
}

/** Script names one command refers to (see `scriptsRunBy`). */
function scriptReferences(command: string, names: readonly string[]): string[] {
  const refs: string[] = [];
  for (const segment of command.split(/&&|\|\||[;&|()\n]/)) {
    const words = segment.trim().split(/\s+/).map((w) => w.replace(/^['"]|['"]$/g, '')).filter(Boolean);
    while (words.length > 0 && (/^[A-Za-z_][A-Za-z0-9_]*=/.test(words[0]!) || ['cross-env', 'npx', 'env', 'exec'].includes(words[0]!))) words.shift();
    const args = words.slice(1).filter((w) => !w.startsWith('-'));
    const tool = baseName(words[0] ?? '');
    if (tool === 'npm' || tool === 'pnpm' || tool === 'yarn' || tool === 'bun') {
      const [sub, name] = args;
      if (sub === 'test' || sub === 't' || sub === 'tst') refs.push('test');
      else if (sub === 'run' || sub === 'run-script' || sub === 'rum' || sub === 'urn') refs.push(...(name ? [name] : []));
      else if (tool !== 'npm' && sub) refs.push(sub);
      else if (sub === 'start' || sub === 'stop' || sub === 'restart') refs.push(sub);
    } else if (tool === 'node') {
      const run = words.indexOf('--run');
      if (run > 0 && words[run + 1]) refs.push(words[run + 1]!);
      for (const w of words) if (w.startsWith('--run=')) refs.push(w.slice('--run='.length));
    } else if (tool === 'npm-run-all' || tool === 'run-s' || tool === 'run-p') {
      for (const pattern of args) refs.push(...names.filter((n) => runAllGlob(pattern).test(n)));
    } else if (tool === 'concurrently') {
      for (const a of args) if (a.startsWith('npm:')) refs.push(...names.filter((n) => runAllGlob(a.slice(4)).test(n)));
    }
  }
  return refs;
}

const baseName = (word: string) => word.slice(word.lastIndexOf('/') + 1);

/** npm-run-all's glob: `*` within a `:`-separated segment, `**` across them. */
function runAllGlob(pattern: string): RegExp {
  const body = pattern
    .split('**')
    .map((part) => part.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^:]*'))
    .join('.*');
  return new RegExp(`^${body}$`);
}

/**
 * The commands a test command runs through a package.json: `testCommand` itself, `scripts.test` (and
 * its `pre`/`post`), and every script they reach. Lint gates and `$npm_package_…` references are
 * looked for in these.
 */
export function testCommands(pkg: unknown, testCommand: string): string[] {
  const scripts = scriptsOf(record(pkg));
  return [testCommand, ...scriptsRunBy([testCommand, 'npm test'], scripts).map((n) => scripts[n]!)];
}

/**
 * Why a change of a package.json from `before` to `after` (null: absent) changes test configuration;
 * empty when it does not. `testCommand` is the repository's test command (`RepoProfile.test`).
 */
export function packageJsonReasons(before: string | null, after: string | null, testCommand: string): string[] {
  const a = parse(before);
  const b = parse(after);
  if (!b.ok) return [`does not parse after the change (${b.error}): its test configuration cannot be checked; ${NOT_THE_CODERS}`];
  if (!a.ok) return [`did not parse before the change (${a.error}): its test configuration cannot be compared; ${NOT_THE_CODERS}`];
  const was = a.value;
  const now = b.value;
  const reasons: string[] = [];
  const changed = (x: unknown, y: unknown) => stable(x) !== stable(y);

  for (const [key, tool] of Object.entries(TEST_TOOL_KEYS)) {
    if (changed(was[key], now[key])) reasons.push(`"${key}" configures ${tool}; ${NOT_THE_CODERS}`);
  }

  const commands = [...testCommands(was, testCommand), ...testCommands(now, testCommand)];
  for (const tool of GATE_TOOLS) {
    if (!runsTool(commands, tool.bin)) continue;
    for (const key of tool.keys) {
      if (changed(was[key], now[key])) reasons.push(`"${key}" configures ${tool.bin}, which the test command runs; ${NOT_THE_CODERS}`);
    }
  }
  // `$npm_package_config_x` in a script the test command runs reads the `config` field.
  const fields = new Set(commands.flatMap((c) => [...c.matchAll(/npm_package_([A-Za-z0-9]+)/g)].map((m) => m[1]!)));
  for (const field of [...fields].sort()) {
    if (changed(was[field], now[field])) reasons.push(`"${field}" is read by the test command (as $npm_package_${field}…); ${NOT_THE_CODERS}`);
  }

  const wasScripts = scriptsOf(was);
  const nowScripts = scriptsOf(now);
  const run = new Set([...scriptsRunBy([testCommand, 'npm test'], wasScripts), ...scriptsRunBy([testCommand, 'npm test'], nowScripts)]);
  const scriptNames = [...new Set([...Object.keys(record(was.scripts)), ...Object.keys(record(now.scripts))])].sort();
  for (const name of scriptNames) {
    if (!changed(record(was.scripts)[name], record(now.scripts)[name])) continue;
    if (/test/i.test(name)) reasons.push(`scripts "${name}" is a test script; ${NOT_THE_CODERS}`);
    else if (run.has(name)) reasons.push(`scripts "${name}" is run by the test command; ${NOT_THE_CODERS}`);
  }

  for (const key of DEPENDENCY_KEYS) {
    const w = record(was[key]);
    const n = record(now[key]);
    for (const name of [...new Set([...Object.keys(w), ...Object.keys(n)])].sort()) {
      if (isTestPackage(name) && changed(w[name], n[name])) reasons.push(`${key} "${name}" is a test tool; ${NOT_THE_CODERS}`);
    }
  }
  for (const [where, w, n] of [
    ...OVERRIDE_KEYS.map((k) => [k, record(was[k]), record(now[k])] as const),
    ['pnpm.overrides', record(record(was.pnpm).overrides), record(record(now.pnpm).overrides)] as const,
  ]) {
    for (const spec of [...new Set([...Object.keys(w), ...Object.keys(n)])].sort()) {
      if (overridesTestPackage(spec, w[spec], n[spec]) && changed(w[spec], n[spec])) {
        reasons.push(`${where} "${spec}" replaces a test tool; ${NOT_THE_CODERS}`);
      }
    }
  }
  return reasons;
}

/**
 * Whether an override entry reaches a test package: its selector (`vitest`, `vitest@1`, `a>vitest`,
 * yarn's `a/vitest` or `**\/@vitest/runner`) names one, or a nested override object does.
 */
function overridesTestPackage(spec: string, ...values: unknown[]): boolean {
  const withoutVersion = (name: string) => name.replace(/^(@?[^@]+)@.*$/, '$1');
  const candidates = spec.split('>').flatMap((piece) => piece.split('/').map((_, i, parts) => parts.slice(i).join('/')));
  if (candidates.some((c) => isTestPackage(withoutVersion(c)))) return true;
  return values.some((v) => Object.entries(record(v)).some(([k, nested]) => overridesTestPackage(k, nested)));
}

/** npm's lockfiles, which `npm ci` installs from: `package-lock.json` and `npm-shrinkwrap.json`. */
export const LOCKFILES = ['package-lock.json', 'npm-shrinkwrap.json'] as const;

/**
 * Why a change of an npm lockfile changes what runs the tests: an entry of a test tool (`packages`
 * of lockfile v2/v3, `dependencies` of v1, at any depth) added, changed or removed — a changed
 * `resolved` or `version` installs another test runner than the tests were proven red with.
 */
export function lockfileReasons(before: string | null, after: string | null): string[] {
  const a = parse(before);
  const b = parse(after);
  if (!b.ok) return [`does not parse after the change (${b.error}): its test tools cannot be checked; ${NOT_THE_CODERS}`];
  if (!a.ok) return [`did not parse before the change (${a.error}): its test tools cannot be compared; ${NOT_THE_CODERS}`];
  const was = testEntries(a.value);
  const now = testEntries(b.value);
  return [...new Set([...was.keys(), ...now.keys()])]
    .sort()
    .filter((k) => was.get(k) !== now.get(k))
    .map((k) => `"${k}" is a test tool's entry; ${NOT_THE_CODERS}`);
}

/** A lockfile's entries of test tools: their key (`node_modules/vitest`, v1 `dependencies/vitest`) → stable text. */
function testEntries(lock: PackageJson): Map<string, string> {
  const entries = new Map<string, string>();
  for (const [key, value] of Object.entries(record(lock.packages))) {
    const name = key.slice(key.lastIndexOf('node_modules/') + 'node_modules/'.length);
    if (key.includes('node_modules/') && isTestPackage(name)) entries.set(key, stable(value));
  }
  const v1 = (deps: unknown, at: string) => {
    for (const [name, value] of Object.entries(record(deps))) {
      const key = `${at}dependencies/${name}`;
      if (isTestPackage(name)) entries.set(key, stable(value));
      v1(record(value).dependencies, `${key}/`);
    }
  };
  v1(lock.dependencies, '');
  return entries;
}
