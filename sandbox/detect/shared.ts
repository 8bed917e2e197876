/**
 * What detection shares across ecosystems: the profile it produces (`RepoProfile`), what one
 * ecosystem's detection returns (`Detected`), the names of the repository files it goes by, and the
 * guarded reads of those files (no symlinks, nothing large).
 */
import { lstat, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { ProfileError } from '../errors.ts';
import type { GoMod } from './go.ts';

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

/** What a manifest says, before `.nightshift.yml` is applied. */
export interface Detected {
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

/** The names of the regular files at the root of `dir` (none when it cannot be listed). */
export async function rootFiles(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name).sort();
  } catch {
    return [];
  }
}

export async function exists(dir: string, name: string): Promise<boolean> {
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
export async function readSmall(dir: string, name: string): Promise<string | null> {
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
