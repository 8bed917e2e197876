import { lstat, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { fieldIssues, parseDuration } from '../shared/index.ts';
import { ProfileError } from './errors.ts';
import {
  DEFAULT_NODE_IMAGE,
  GO_IMAGE,
  GO_IMAGE_TAG,
  GO_IMAGE_VERSION,
  hasRecipe,
  PYTHON_IMAGE,
  PYTHON_IMAGE_TAG,
  PYTHON_IMAGE_VERSION,
} from './images.ts';
import { GO_TEST_FILES, NODE_TEST_FILES, PYTHON_TEST_FILES, RUNNER_CONFIG_FILES, runnerTestFiles } from './test-files.ts';
import { parseYamlMapping } from './yaml.ts';

/** The repository configuration file. `.nightshift.yaml` is accepted too (not both). */
export const CONFIG_FILE = '.nightshift.yml';

/**
 * The workspace directory the sandbox uses for its own files (a Python venv, Go's module cache).
 * It must never be committed: workspaces exclude it (`.git/info/exclude`).
 */
export const SCRATCH_DIR = '.nightshift';

/**
 * The files that make a repository a Python one, in the order `detectedFrom` prefers them: the project
 * manifests, the requirements files installed with `pip install -r` (requirements.txt and its usual
 * development and test companions), and tox.ini (which alone means: run pytest).
 */
export const PYTHON_MANIFESTS = [
  'pyproject.toml',
  'setup.py',
  'setup.cfg',
  'requirements.txt',
  'requirements-dev.txt',
  'requirements-test.txt',
  'requirements_dev.txt',
  'requirements_test.txt',
  'tox.ini',
] as const;

const MAX_FILE_BYTES = 256 * 1024;
const MINUTE = 60_000;

/** How to run a repository's code in the sandbox: chosen by `detectProfile`. */
export const RepoProfile = z.object({
  /** The manifest the defaults were detected from, if any. */
  detectedFrom: z.enum(['package.json', ...PYTHON_MANIFESTS, 'go.mod']).nullable(),
  /** The configuration file that overrode them, if any. */
  configFile: z.enum(['.nightshift.yml', '.nightshift.yaml']).nullable(),
  /** Sandbox image for setup and tests. */
  image: z.string().min(1),
  /**
   * Whether nightshift ships the recipe that builds `image` (`IMAGE_RECIPES`). When false and the
   * image is absent, `Sandbox.ensureImage` fails with a message saying so; callers report it.
   */
  imageShipped: z.boolean(),
  /**
   * Dependency installation, run before the tests in order with `sh -c`, stopping at the first
   * failure; null when there is nothing to install.
   */
  setup: z.array(z.string().min(1)).min(1).nullable(),
  /** Network of the setup step: `bridge` to reach package registries, or `none`. Tests never get one. */
  setupNetwork: z.enum(['none', 'bridge']),
  /** The command that runs the whole test suite, with `sh -c`; exit 0 means green. */
  test: z.string().min(1),
  /** Extra environment of setup and test runs. Never secrets: it comes from the repository. */
  env: z.record(z.string(), z.string()),
  /**
   * Globs (relative, `/`-separated, see `isTestFile`) matching the repository's test files: `test_files`
   * of `.nightshift.yml`, or the language's defaults plus what the runner's static configuration names
   * (`sandbox/test-files.ts`).
   */
  testFilePatterns: z.array(z.string().min(1)).min(1),
  /** Wall-clock bounds of the setup step and of one test run. */
  timeouts: z.object({ setupMs: z.number().int().positive(), testMs: z.number().int().positive() }),
  /** Remarks for people: ignored lock files, other manifests found… */
  notes: z.array(z.string()),
});

/** A repository's sandbox profile. */
export type RepoProfile = z.infer<typeof RepoProfile>;

const duration = z.string().transform((text, ctx) => {
  const ms = parseDuration(text);
  if (ms === undefined || ms <= 0) {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not a duration (e.g. 90s, 10m)` });
    return z.NEVER;
  }
  return ms;
});

const stringOrList = z.union([z.string().min(1), z.array(z.string().min(1))]);

/**
 * `.nightshift.yml` (YAML 1.2, read by `parseYamlMapping`: no aliases, unique keys). Every key is optional; what is
 * missing is detected from the manifests. Example:
 *
 * ```yaml
 * image: nightshift-sandbox-node:24
 * setup:
 *   - npm ci
 *   - npm run build
 * setup_network: bridge          # or none, when dependencies are vendored
 * test: npm test
 * test_files:
 *   - "src/**\/*.test.ts"
 * env:
 *   - TZ=UTC
 * setup_timeout: 15m
 * test_timeout: 10m
 * ```
 *
 * `setup: []` (or an empty `setup:`) means no setup step.
 */
export const NightshiftYml = z
  .object({
    image: z
      .string()
      .regex(/^[a-z0-9][a-z0-9._/:@-]*$/, 'not an image reference (e.g. nightshift-sandbox-node:24)')
      .optional(),
    setup: stringOrList.nullable().optional(),
    setup_network: z.enum(['none', 'bridge']).optional(),
    test: z.string().min(1).optional(),
    test_files: z.union([z.string().min(1), z.array(z.string().min(1)).min(1, 'list at least one pattern')]).optional(),
    env: z.array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*=/, 'must be KEY=value')).optional(),
    setup_timeout: duration.optional(),
    test_timeout: duration.optional(),
  })
  .strict();

/** `.nightshift.yml` after parsing. */
export type NightshiftYml = z.infer<typeof NightshiftYml>;

const PackageJson = z.looseObject({
  scripts: z.record(z.string(), z.string()).optional(),
  dependencies: z.record(z.string(), z.string()).optional(),
  devDependencies: z.record(z.string(), z.string()).optional(),
  optionalDependencies: z.record(z.string(), z.string()).optional(),
});

/** What a manifest says, before `.nightshift.yml` is applied. */
interface Detected {
  detectedFrom: NonNullable<RepoProfile['detectedFrom']>;
  image: string;
  setup: string[] | null;
  test: string | null;
  /** Why `test` is null. */
  testProblem?: string;
  env: Record<string, string>;
  testFilePatterns: string[];
  /** Where test file patterns beyond the defaults came from; moot when `test_files` is set. */
  testFileNotes: string[];
  notes: string[];
  /** What go.mod asks of the toolchain (Go repositories only). */
  goMod?: GoMod;
  /** pyproject.toml's `requires-python` (Python repositories only), when set. */
  requiresPython?: string;
}

const NPM_PLACEHOLDER_TEST = /no test specified/;

/**
 * Chooses the image and commands for the repository checked out at `dir`: `.nightshift.yml` where it
 * says so, and otherwise what its manifest implies, looked for in this order:
 *
 * - `package.json`: the default Node image; setup `npm ci` with a package-lock.json or
 *   npm-shrinkwrap.json, `npm install --no-package-lock` with none (so that setup writes no lock file
 *   the coder would then commit), nothing without dependencies; test `npm test`
 *   (a `scripts.test` is required).
 * - a Python manifest (`PYTHON_MANIFESTS`: pyproject.toml, setup.py, setup.cfg, requirements files,
 *   tox.ini): `PYTHON_IMAGE`; a venv in `.nightshift/venv` that sees the image's packages (its pytest
 *   and build tools: PyPI may be out of reach), the requirements files installed into it, then the
 *   project itself, editable, with its `test` extra when it declares one; pytest from PyPI only when
 *   neither the image nor the project brought it; test `python -m pytest` from the venv. A
 *   pyproject.toml whose `requires-python` the image's Python does not satisfy is refused with
 *   `toolchain_missing`, saying how to provide one.
 * - `go.mod`: `GO_IMAGE` (Debian's Go 1.19); setup `go mod download` into `.nightshift/go/mod` when
 *   go.mod has requirements (none without: the module sets up offline); test `go test ./...`; the
 *   module cache in the workspace, the build cache in /tmp, GOTOOLCHAIN=local. A go.mod that needs a
 *   newer Go than the image has is refused with `toolchain_missing`, saying how to provide one.
 *
 * Rejects with ProfileError `invalid_repo_config` (a configuration or manifest that does not parse or
 * validate, listing every problem), `unknown_repo_type` (nothing to go by) or `toolchain_missing`
 * (a go.mod that needs a newer Go than the image has, a `requires-python` its Python does not satisfy).
 */
export async function detectProfile(dir: string): Promise<RepoProfile> {
  const config = await readConfig(dir);
  const detected = await detectManifest(dir);
  const yml = config?.value;
  if (!detected && !yml) {
    throw new ProfileError(
      'unknown_repo_type',
      `cannot tell how to test the repository at ${dir}: it has no ${CONFIG_FILE}, package.json, Python manifest ` +
        `(${PYTHON_MANIFESTS.join(', ')}) or go.mod; ` +
        `add a ${CONFIG_FILE} with at least "image:" and "test:"`,
    );
  }
  const image = yml?.image ?? detected?.image;
  const test = yml?.test ?? detected?.test ?? null;
  const missing: { path: string; message: string }[] = [];
  if (image === undefined) missing.push({ path: 'image', message: `required in ${config!.file} (no manifest to detect it from)` });
  if (test === null) {
    missing.push({ path: 'test', message: detected?.testProblem ?? `required in ${config!.file} (no manifest to detect it from)` });
  }
  if (missing.length > 0) {
    throw new ProfileError('invalid_repo_config', `cannot tell how to test the repository at ${dir}`, missing);
  }
  if (detected?.goMod) checkGoToolchain(detected.goMod, image!, config?.file ?? CONFIG_FILE);
  if (detected?.requiresPython !== undefined) checkPythonVersion(detected.requiresPython, image!, config?.file ?? CONFIG_FILE);
  const setup = yml?.setup !== undefined ? listOrNull(yml.setup) : (detected?.setup ?? null);
  const env = { ...detected?.env, ...Object.fromEntries((yml?.env ?? []).map((kv) => splitOnce(kv, '='))) };
  return RepoProfile.parse({
    detectedFrom: detected?.detectedFrom ?? null,
    configFile: config?.file ?? null,
    image: image!,
    imageShipped: hasRecipe(image!),
    setup,
    setupNetwork: yml?.setup_network ?? 'bridge',
    test: test!,
    env,
    testFilePatterns: yml?.test_files !== undefined ? [yml.test_files].flat() : (detected?.testFilePatterns ?? [...NODE_TEST_FILES]),
    timeouts: { setupMs: yml?.setup_timeout ?? 15 * MINUTE, testMs: yml?.test_timeout ?? 10 * MINUTE },
    notes: [...(detected?.notes ?? []), ...(yml?.test_files === undefined ? (detected?.testFileNotes ?? []) : [])],
  });
}

async function readConfig(dir: string): Promise<{ file: '.nightshift.yml' | '.nightshift.yaml'; value: NightshiftYml } | null> {
  const yml = await readSmall(dir, '.nightshift.yml');
  const yaml = await readSmall(dir, '.nightshift.yaml');
  if (yml !== null && yaml !== null) {
    throw new ProfileError('invalid_repo_config', 'both .nightshift.yml and .nightshift.yaml exist; keep one');
  }
  const file = yml !== null ? '.nightshift.yml' : '.nightshift.yaml';
  const text = yml ?? yaml;
  if (text === null) return null;
  const parsed = parseYamlMapping(text);
  if (!parsed.ok) {
    throw new ProfileError(
      'invalid_repo_config',
      `${file} is not valid YAML here (a mapping of "key: value", no aliases, no duplicate keys)`,
      parsed.issues.map((i) => ({ path: `line ${i.line}`, message: i.message })),
    );
  }
  const checked = NightshiftYml.safeParse(parsed.value);
  if (!checked.success) {
    // Each issue says where in the file, when the file has a value there.
    const issues = fieldIssues(checked.error.issues).map((i, n) => {
      const line = parsed.lineOf(checked.error.issues[n]!.path as (string | number)[]);
      return line === undefined ? i : { ...i, message: `${i.message} (line ${line})` };
    });
    throw new ProfileError('invalid_repo_config', `${file} is invalid`, issues);
  }
  return { file, value: checked.data };
}

async function detectManifest(dir: string): Promise<Detected | null> {
  const found: Detected[] = [];
  const pkg = await readSmall(dir, 'package.json');
  if (pkg !== null) found.push(await detectNode(dir, pkg));
  const python = await detectPython(dir);
  if (python) found.push(python);
  if (await exists(dir, 'go.mod')) found.push(await detectGo(dir));
  const [first, ...others] = found;
  if (!first) return null;
  if (others.length > 0) {
    first.notes.push(`also found ${others.map((d) => d.detectedFrom).join(', ')}; used ${first.detectedFrom} (set ${CONFIG_FILE} to choose)`);
  }
  return first;
}

async function detectNode(dir: string, text: string): Promise<Detected> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ProfileError('invalid_repo_config', `package.json is not valid JSON: ${(err as Error).message}`);
  }
  const parsed = PackageJson.safeParse(json);
  if (!parsed.success) {
    throw new ProfileError('invalid_repo_config', 'package.json is invalid', fieldIssues(parsed.error.issues));
  }
  const pkg = parsed.data;
  const notes: string[] = [];
  const hasDeps = [pkg.dependencies, pkg.devDependencies, pkg.optionalDependencies].some((d) => d && Object.keys(d).length > 0);
  const npmLock = (await exists(dir, 'package-lock.json')) || (await exists(dir, 'npm-shrinkwrap.json'));
  const otherLocks = [];
  for (const lock of ['yarn.lock', 'pnpm-lock.yaml', 'bun.lockb', 'bun.lock']) if (await exists(dir, lock)) otherLocks.push(lock);
  if (!npmLock && otherLocks.length > 0) {
    notes.push(`${otherLocks.join(', ')} ignored: the sandbox installs with npm (set setup: in ${CONFIG_FILE} to change it)`);
  }
  const unread: string[] = [];
  const runner = runnerTestFiles(pkg, await readRunnerConfig(dir, unread));
  const script = pkg.scripts?.test;
  const usable = script !== undefined && script.trim() !== '' && !NPM_PLACEHOLDER_TEST.test(script);
  return {
    detectedFrom: 'package.json',
    image: DEFAULT_NODE_IMAGE,
    setup: npmLock ? ['npm ci'] : hasDeps ? ['npm install --no-package-lock'] : null,
    test: usable ? 'npm test' : null,
    ...(usable
      ? {}
      : { testProblem: `package.json has no usable "scripts.test"; add one, or set test: in ${CONFIG_FILE}` }),
    env: {},
    testFilePatterns: [...new Set([...NODE_TEST_FILES, ...runner.patterns])],
    testFileNotes: [...unread, ...runner.notes],
    notes,
  };
}

/** The requirements files installed by the setup step, in this order, when present at the root. */
const REQUIREMENTS_FILES: readonly string[] = PYTHON_MANIFESTS.filter((name) => name.startsWith('requirements'));

async function detectPython(dir: string): Promise<Detected | null> {
  let detectedFrom: (typeof PYTHON_MANIFESTS)[number] | undefined;
  const present = new Set<string>();
  for (const name of PYTHON_MANIFESTS) {
    if (!(await exists(dir, name))) continue;
    detectedFrom ??= name;
    present.add(name);
  }
  if (detectedFrom === undefined) return null;
  const pyproject = present.has('pyproject.toml') ? await readSmall(dir, 'pyproject.toml') : null;
  const setupCfg = present.has('setup.cfg') ? await readSmall(dir, 'setup.cfg') : null;
  const notes: string[] = [];

  const venv = `${SCRATCH_DIR}/venv`;
  const pip = `${venv}/bin/python -m pip install --no-input`;
  // --system-site-packages: the venv sees the image's pytest, setuptools and wheel, so a project that
  // pins none of its own needs nothing from PyPI.
  const setup = [`python3 -m venv --system-site-packages ${venv}`];
  const requirements = REQUIREMENTS_FILES.filter((name) => present.has(name));
  if (requirements.length > 0) setup.push(`${pip} ${requirements.map((r) => `-r ${r}`).join(' ')}`);
  const others = (await rootFiles(dir)).filter((name) => /^requirements.*\.txt$/.test(name) && !REQUIREMENTS_FILES.includes(name));
  if (others.length > 0) {
    notes.push(`${others.join(', ')} not installed: the setup step installs ${REQUIREMENTS_FILES.join(', ')} (set setup: in ${CONFIG_FILE} to change it)`);
  }

  const pyprojectProject = pyproject !== null && (hasTomlTable(pyproject, 'project') || hasTomlTable(pyproject, 'build-system'));
  if (pyprojectProject || present.has('setup.py')) {
    const extra =
      (pyproject !== null && hasKeyInSection(pyproject, '[project.optional-dependencies]', 'test')) ||
      (setupCfg !== null && hasKeyInSection(setupCfg, '[options.extras_require]', 'test'));
    const target = extra ? "'.[test]'" : '.';
    // First with the image's setuptools and wheel (no build isolation: nothing fetched to build it),
    // pip checking that they satisfy the build requirements; when they do not (another backend, a newer
    // setuptools), with pip's isolated build, which fetches them from PyPI.
    setup.push(
      `${pip} --no-build-isolation --check-build-dependencies -e ${target} || ` +
        `{ echo 'nightshift: the image cannot build this project offline; retrying with an isolated build (needs PyPI)' >&2; ` +
        `${pip} -e ${target}; }`,
    );
  } else if (present.has('pyproject.toml')) {
    notes.push('pyproject.toml declares no [project] or [build-system]: the project itself is not installed');
  }
  setup.push(`${venv}/bin/python -c 'import pytest' 2>/dev/null || ${pip} pytest`);

  const requiresPython = pyproject === null ? null : readRequiresPython(pyproject);
  if (requiresPython !== null && parsePythonSpecifier(requiresPython) === null) {
    notes.push(`pyproject.toml's requires-python "${requiresPython}" is not a specifier nightshift reads: not checked against the image's Python`);
  }

  return {
    detectedFrom,
    image: PYTHON_IMAGE,
    setup,
    test: `${venv}/bin/python -m pytest`,
    env: { PIP_DISABLE_PIP_VERSION_CHECK: '1', PYTHONDONTWRITEBYTECODE: '1' },
    testFilePatterns: [...PYTHON_TEST_FILES],
    testFileNotes: [],
    notes,
    ...(requiresPython !== null ? { requiresPython } : {}),
  };
}

/**
 * The `requires-python` of pyproject.toml's `[project]` table, as written (a one-line TOML string,
 * `"…"` or `'…'`), or null when there is none. A simple line reading, no TOML parser.
 */
export function readRequiresPython(text: string): string | null {
  let inProject = false;
  for (const line of text.split(/\r?\n/)) {
    const section = sectionHeader(line);
    if (section !== null) {
      inProject = section === '[project]';
      continue;
    }
    if (!inProject) continue;
    const m = /^\s*(["']?)requires-python\1\s*=\s*(?:"([^"\\]*)"|'([^']*)')\s*(#.*)?$/.exec(line);
    if (m) return (m[2] ?? m[3]!).trim();
  }
  return null;
}

/** One clause of a version specifier: `>=3.12`, `==3.11.*`, `~=3.11`. */
interface SpecifierClause {
  op: '~=' | '==' | '!=' | '<=' | '>=' | '<' | '>';
  version: number[];
  wildcard: boolean;
}

/**
 * The clauses of a PEP 440 version specifier in its common forms: comma-separated `~=`, `==`, `!=`,
 * `<=`, `>=`, `<`, `>` with a release version (`3`, `3.12`, `3.12.1`), `.*` after `==` and `!=`.
 * Null for anything else (pre-releases, `===`, Poetry's `^3.12`…): it is not checked, never refused.
 */
export function parsePythonSpecifier(spec: string): SpecifierClause[] | null {
  const clauses: SpecifierClause[] = [];
  for (const part of spec.split(',')) {
    const m = /^\s*(~=|==|!=|<=|>=|<|>)\s*(\d+(?:\.\d+)*)(\.\*)?\s*$/.exec(part);
    if (!m) return null;
    const op = m[1] as SpecifierClause['op'];
    const version = m[2]!.split('.').map(Number);
    const wildcard = m[3] !== undefined;
    if (wildcard && op !== '==' && op !== '!=') return null;
    if (op === '~=' && version.length < 2) return null;
    clauses.push({ op, version, wildcard });
  }
  return clauses;
}

function compareVersions(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}

function hasPrefix(v: readonly number[], prefix: readonly number[]): boolean {
  return prefix.every((p, i) => (v[i] ?? 0) === p);
}

function clauseHolds(v: readonly number[], c: SpecifierClause): boolean {
  const cmp = compareVersions(v, c.version);
  switch (c.op) {
    case '==':
      return c.wildcard ? hasPrefix(v, c.version) : cmp === 0;
    case '!=':
      return c.wildcard ? !hasPrefix(v, c.version) : cmp !== 0;
    case '~=':
      return cmp >= 0 && hasPrefix(v, c.version.slice(0, -1));
    case '<=':
      return cmp <= 0;
    case '>=':
      return cmp >= 0;
    case '<':
      return cmp < 0;
    case '>':
      return cmp > 0;
  }
}

/**
 * Whether some release of Python `major.minor` (3.11.0, 3.11.1, …) satisfies every clause: the images
 * are known by their series only, so a clause about patch releases (`>=3.11.4`) is given the benefit
 * of the doubt. The patch releases worth trying are 0, the clauses' own and their neighbours, and a
 * large one.
 */
function seriesSatisfies(series: readonly [number, number], clauses: readonly SpecifierClause[]): boolean {
  const patches = new Set([0, 9999]);
  for (const c of clauses) {
    if (c.version[0] === series[0] && c.version[1] === series[1] && c.version[2] !== undefined) {
      for (const p of [c.version[2] - 1, c.version[2], c.version[2] + 1]) if (p >= 0) patches.add(p);
    }
  }
  return [...patches].some((p) => clauses.every((c) => clauseHolds([series[0], series[1], p], c)));
}

/**
 * Refuses, before anything runs, a pyproject.toml whose `requires-python` the image's Python does not
 * satisfy. The image's Python is known for nightshift's Python images only: `PYTHON_IMAGE` has
 * `PYTHON_IMAGE_VERSION` (Debian's), and an image built from a Python release with
 * NIGHTSHIFT_PYTHON_TARBALL is tagged with its major.minor (`nightshift-sandbox-python:3.12`); any
 * other image is the user's to match. A specifier this does not read is not checked.
 */
function checkPythonVersion(spec: string, image: string, configFile: string): void {
  const tag = image === PYTHON_IMAGE ? PYTHON_IMAGE_VERSION : PYTHON_IMAGE_TAG.exec(image)?.[1];
  const clauses = parsePythonSpecifier(spec);
  if (tag === undefined || clauses === null) return;
  const [major, minor] = tag.split('.').map(Number) as [number, number];
  if (seriesSatisfies([major, minor], clauses)) return;
  // The lowest series next to those the specifier names that satisfies it, to name in the advice.
  const candidates = clauses
    .flatMap((c) => [-1, 0, 1].map((d): [number, number] => [c.version[0]!, (c.version[1] ?? 0) + d]))
    .filter(([, m]) => m >= 0)
    .sort((a, b) => compareVersions(a, b));
  const fits = candidates.find((s) => seriesSatisfies(s, clauses));
  const want = fits === undefined ? '3.x' : fits.join('.');
  throw new ProfileError(
    'toolchain_missing',
    `pyproject.toml's requires-python "${spec}" is not satisfied by the Python of the sandbox image ${image} (Python ${tag})` +
      `${fits === undefined ? '' : `; Python ${want} satisfies it`}. ` +
      `The setup step makes its venv with the image's Python, and none other can be fetched. Provide one: build a Python image ` +
      `from a python-build-standalone "install_only" release you have with ` +
      `\`NIGHTSHIFT_PYTHON_TARBALL=/path/to/cpython-${want}.x+…-x86_64-unknown-linux-gnu-install_only.tar.gz sandbox/image/build-python.sh\` ` +
      `(it prints the image's name, nightshift-sandbox-python:${want === '3.x' ? '<major.minor>' : want}) and name it with image: in ${configFile}, ` +
      `or name there any image with such a Python`,
  );
}

/** Whether the TOML text has a `[name]` table header line (a simple line check, no TOML parser). */
function hasTomlTable(text: string, name: string): boolean {
  return text.split(/\r?\n/).some((line) => sectionHeader(line) === `[${name}]`);
}

/**
 * Whether `key` is set (`key =`, `key:` or TOML's `"key" =`) in the section headed `header`, in TOML
 * or INI text (setup.cfg). Simple line checks, no parser.
 */
function hasKeyInSection(text: string, header: string, key: string): boolean {
  let inSection = false;
  const keyLine = new RegExp(`^\\s*(["']?)${key}\\1\\s*[=:]`);
  for (const line of text.split(/\r?\n/)) {
    const section = sectionHeader(line);
    if (section !== null) inSection = section === header;
    else if (inSection && keyLine.test(line)) return true;
  }
  return false;
}

/** The line's `[section]` header without spaces or a trailing comment, or null when it is not one. */
function sectionHeader(line: string): string | null {
  const m = /^\s*(\[[^\]]*\])\s*([#;].*)?$/.exec(line);
  return m ? m[1]!.replace(/\s+/g, '') : null;
}

/** What a go.mod asks of the toolchain, and whether it has requirements to download. */
interface GoMod {
  /** The `go` directive's version, e.g. `1.21` or `1.22.3`. */
  go: string | null;
  /** The `toolchain` directive's version, without `go` (e.g. `1.22.1`). */
  toolchain: string | null;
  requires: boolean;
}

/** A simple line reading of go.mod (no parser): directives start a line; comments are `//`. */
export function readGoMod(text: string): GoMod {
  const lines = text.split(/\r?\n/).map((l) => l.replace(/\/\/.*$/, '').trim());
  const directive = (name: string) => lines.map((l) => new RegExp(`^${name}\\s+(\\S+)$`).exec(l)?.[1]).find((v) => v !== undefined) ?? null;
  let requires = false;
  let block = false;
  for (const line of lines) {
    if (block) {
      if (line === ')') block = false;
      else if (line !== '') requires = true;
    } else if (/^require\s*\($/.test(line)) block = true;
    else if (/^require\s+\S/.test(line)) requires = true;
  }
  return { go: directive('go'), toolchain: directive('toolchain')?.replace(/^go/, '') ?? null, requires };
}

async function detectGo(dir: string): Promise<Detected> {
  const mod = readGoMod((await readSmall(dir, 'go.mod')) ?? '');
  return {
    detectedFrom: 'go.mod',
    image: GO_IMAGE,
    // A module without requirements has nothing to download: it sets up offline.
    setup: mod.requires ? ['go mod download'] : null,
    test: 'go test ./...',
    env: {
      GOMODCACHE: `/workspace/${SCRATCH_DIR}/go/mod`,
      GOCACHE: '/tmp/go-build',
      GOFLAGS: '-modcacherw',
      GOTOOLCHAIN: 'local',
    },
    testFilePatterns: [...GO_TEST_FILES],
    testFileNotes: [],
    notes: [],
    goMod: mod,
  };
}

/** A Go version as numbers: `1.21` → [1, 21, 0]; `1.21rc2` → [1, 21, 0]; null when it is none. */
function goVersion(text: string): [number, number, number] | null {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(text);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : null;
}

function newer(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i]! > b[i]!;
  return false;
}

/**
 * Refuses, before anything runs, a go.mod that needs a newer Go than the image has. The image's Go is
 * known for nightshift's Go images only: `GO_IMAGE` has `GO_IMAGE_VERSION` (Debian's), and an image
 * built from a Go release with NIGHTSHIFT_GO_TARBALL is tagged with its version
 * (`nightshift-sandbox-go:1.23.4`); any other image is the user's to match. The `go` directive is the
 * minimum Go; a `toolchain` line is only read by Go 1.21 and later (older ones refuse the go.mod), and
 * with GOTOOLCHAIN=local a newer Go that satisfies the `go` line ignores it.
 */
function checkGoToolchain(mod: GoMod, image: string, configFile: string): void {
  const tag = image === GO_IMAGE ? GO_IMAGE_VERSION : GO_IMAGE_TAG.exec(image)?.[1];
  const has = tag === undefined ? null : goVersion(tag);
  if (has === null) return;
  const problems: string[] = [];
  const wants = mod.go === null ? null : goVersion(mod.go);
  if (wants && newer(wants, has)) problems.push(`its go directive asks for Go ${mod.go}`);
  if (mod.toolchain !== null && newer([1, 21, 0], has)) problems.push(`its toolchain line (go${mod.toolchain}) needs Go 1.21 or later to be read at all`);
  if (problems.length === 0) return;
  const want = [wants, mod.toolchain !== null ? [1, 21, 0] : null].filter((v): v is [number, number, number] => v !== null).reduce((a, b) => (newer(a, b) ? a : b));
  throw new ProfileError(
    'toolchain_missing',
    `go.mod needs a newer Go than the sandbox image ${image} has (Go ${tag}): ${problems.join('; ')}. ` +
      `No newer Go can be fetched while the tests run (no network, GOTOOLCHAIN=local). Provide one: build a Go image from a Go release ` +
      `you have with \`NIGHTSHIFT_GO_TARBALL=/path/to/go${want.slice(0, 2).join('.')}.x.linux-amd64.tar.gz sandbox/image/build-go.sh\` ` +
      `(it prints the image's name, nightshift-sandbox-go:<version>) and name it with image: in ${configFile}, or name there any image with that Go`,
  );
}

/**
 * The runners' JSON and YAML configuration files present (`RUNNER_CONFIG_FILES`), never executed. One
 * that cannot be read safely (a symlink, too large) is left out with a note: it is the runner's
 * configuration, not ours to refuse.
 */
async function readRunnerConfig(dir: string, notes: string[]): Promise<Partial<Record<(typeof RUNNER_CONFIG_FILES)[number], string>>> {
  const files: Partial<Record<(typeof RUNNER_CONFIG_FILES)[number], string>> = {};
  for (const name of RUNNER_CONFIG_FILES) {
    try {
      const text = await readSmall(dir, name);
      if (text !== null) files[name] = text;
    } catch (err) {
      notes.push(`test file patterns not read from ${name}: ${(err as Error).message}`);
    }
  }
  return files;
}

function listOrNull(value: string | string[] | null): string[] | null {
  if (value === null) return null;
  const list = [value].flat();
  return list.length === 0 ? null : list;
}

function splitOnce(text: string, sep: string): [string, string] {
  const i = text.indexOf(sep);
  return [text.slice(0, i), text.slice(i + sep.length)];
}

/** The names of the regular files at the root of `dir` (none when it cannot be listed). */
async function rootFiles(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name).sort();
  } catch {
    return [];
  }
}

async function exists(dir: string, name: string): Promise<boolean> {
  try {
    return (await lstat(join(dir, name))).isFile();
  } catch {
    return false;
  }
}

/**
 * The file's text, null when there is no such file. Refuses a symlink (it could point at a host file
 * outside the repository) and a file too large to be configuration.
 */
async function readSmall(dir: string, name: string): Promise<string | null> {
  let size: number;
  try {
    const s = await lstat(join(dir, name));
    if (s.isSymbolicLink()) throw new ProfileError('invalid_repo_config', `${name} is a symbolic link; refusing to follow it`);
    if (!s.isFile()) return null;
    size = s.size;
  } catch (err) {
    if (err instanceof ProfileError) throw err;
    return null;
  }
  if (size > MAX_FILE_BYTES) {
    throw new ProfileError('invalid_repo_config', `${name} is larger than ${MAX_FILE_BYTES} bytes; refusing to read it`);
  }
  return readFile(join(dir, name), 'utf8');
}
