/**
 * Node detection: package.json's test script and dependencies, the lock file that says how to install
 * them, and the test file patterns its runner's static configuration names.
 */
import { z } from 'zod';
import { fieldIssues } from '../../shared/index.ts';
import { ProfileError } from '../errors.ts';
import { DEFAULT_NODE_IMAGE } from '../images.ts';
import { NODE_TEST_FILES, RUNNER_CONFIG_FILES, runnerTestFiles } from '../test-files.ts';
import { CONFIG_FILE, exists, readSmall, type Detected } from './shared.ts';

const PackageJson = z.looseObject({
  scripts: z.record(z.string(), z.string()).optional(),
  dependencies: z.record(z.string(), z.string()).optional(),
  devDependencies: z.record(z.string(), z.string()).optional(),
  optionalDependencies: z.record(z.string(), z.string()).optional(),
});

const NPM_PLACEHOLDER_TEST = /no test specified/;

export async function detectNode(dir: string, text: string): Promise<Detected> {
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
