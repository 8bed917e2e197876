import { lstat, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { fieldIssues, parseDuration } from '../shared/index.ts';
import { ProfileError } from './errors.ts';
import { DEFAULT_NODE_IMAGE, GO_IMAGE, hasRecipe, PYTHON_IMAGE } from './images.ts';
import { GO_TEST_FILES, NODE_TEST_FILES, PYTHON_TEST_FILES, RUNNER_CONFIG_FILES, runnerTestFiles } from './test-files.ts';
import { parseFlatYaml } from './yaml.ts';

/** The repository configuration file. `.nightshift.yaml` is accepted too (not both). */
export const CONFIG_FILE = '.nightshift.yml';

/**
 * The workspace directory the sandbox uses for its own files (a Python venv, Go's module cache).
 * It must never be committed: workspaces exclude it (`.git/info/exclude`).
 */
export const SCRATCH_DIR = '.nightshift';

const MAX_FILE_BYTES = 256 * 1024;
const MINUTE = 60_000;

/** How to run a repository's code in the sandbox: chosen by `detectProfile`. */
export const RepoProfile = z.object({
  /** The manifest the defaults were detected from, if any. */
  detectedFrom: z.enum(['package.json', 'pyproject.toml', 'go.mod']).nullable(),
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
 * `.nightshift.yml`, in the flat YAML subset of `parseFlatYaml`. Every key is optional; what is
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
}

const NPM_PLACEHOLDER_TEST = /no test specified/;

/**
 * Chooses the image and commands for the repository checked out at `dir`: `.nightshift.yml` where it
 * says so, and otherwise what its manifest implies, looked for in this order:
 *
 * - `package.json`: the default Node image; setup `npm ci` with a package-lock.json or
 *   npm-shrinkwrap.json, `npm install` with none, nothing without dependencies; test `npm test`
 *   (a `scripts.test` is required).
 * - `pyproject.toml`: `PYTHON_IMAGE`; a venv in `.nightshift/venv` with the project
 *   and pytest installed; test `python -m pytest` from the venv.
 * - `go.mod`: `GO_IMAGE` (not shipped); setup `go mod download` into `.nightshift/go/mod`; test
 *   `go test ./...`.
 *
 * Rejects with ProfileError `invalid_repo_config` (a configuration or manifest that does not parse or
 * validate, listing every problem) or `unknown_repo_type` (nothing to go by).
 */
export async function detectProfile(dir: string): Promise<RepoProfile> {
  const config = await readConfig(dir);
  const detected = await detectManifest(dir);
  const yml = config?.value;
  if (!detected && !yml) {
    throw new ProfileError(
      'unknown_repo_type',
      `cannot tell how to test the repository at ${dir}: it has no ${CONFIG_FILE}, package.json, pyproject.toml or go.mod; ` +
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
  const parsed = parseFlatYaml(text);
  if (!parsed.ok) {
    throw new ProfileError(
      'invalid_repo_config',
      `${file} is not in the supported YAML subset ("key: value" and lists of "- item")`,
      parsed.issues.map((i) => ({ path: `line ${i.line}`, message: i.message })),
    );
  }
  const checked = NightshiftYml.safeParse(parsed.value);
  if (!checked.success) {
    throw new ProfileError('invalid_repo_config', `${file} is invalid`, fieldIssues(checked.error.issues));
  }
  return { file, value: checked.data };
}

async function detectManifest(dir: string): Promise<Detected | null> {
  const found: Detected[] = [];
  const pkg = await readSmall(dir, 'package.json');
  if (pkg !== null) found.push(await detectNode(dir, pkg));
  if (await exists(dir, 'pyproject.toml')) found.push(detectPython());
  if (await exists(dir, 'go.mod')) found.push(detectGo());
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
    setup: npmLock ? ['npm ci'] : hasDeps ? ['npm install'] : null,
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

function detectPython(): Detected {
  const venv = `${SCRATCH_DIR}/venv`;
  return {
    detectedFrom: 'pyproject.toml',
    image: PYTHON_IMAGE,
    setup: [`python -m venv ${venv}`, `${venv}/bin/python -m pip install --no-input -e '.[test]' pytest`],
    test: `${venv}/bin/python -m pytest`,
    env: { PIP_DISABLE_PIP_VERSION_CHECK: '1', PYTHONDONTWRITEBYTECODE: '1' },
    testFilePatterns: [...PYTHON_TEST_FILES],
    testFileNotes: [],
    notes: [],
  };
}

function detectGo(): Detected {
  return {
    detectedFrom: 'go.mod',
    image: GO_IMAGE,
    setup: ['go mod download'],
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
  };
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
