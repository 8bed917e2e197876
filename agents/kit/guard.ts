import { readFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { isTestFile, type RepoProfile } from '../../sandbox/index.ts';
import { git } from '../../shared/index.ts';

/**
 * Files that decide which tests run and how: changing them could skip or weaken tests without
 * touching a test file. The coder may not change them.
 */
export const RUNNER_CONFIG = [
  '.nightshift.yml',
  '.nightshift.yaml',
  // npm passes its `node-options` to every node it starts: `--test-skip-pattern=…` there skips tests.
  '**/.npmrc',
  '**/vitest.config.*',
  '**/vitest.workspace.*',
  '**/vite.config.*',
  '**/jest.config.*',
  '**/jest.setup.*',
  '**/.mocharc*',
  '**/karma.conf.*',
  '**/playwright.config.*',
  '**/pytest.ini',
  '**/conftest.py',
  '**/tox.ini',
  '**/noxfile.py',
  '**/.github/workflows/*',
];

/** One reason a change is refused. */
export interface Violation {
  path: string;
  reason: string;
}

/**
 * The coder's mechanical guard, on the diff (never on the model's word): every file changed since
 * the tests commit is checked. A test file added, changed, renamed or deleted, a test runner
 * configuration changed, or the `test` script of a package.json changed, is a violation.
 */
export async function coderViolations(dir: string, since: string, profile: RepoProfile): Promise<Violation[]> {
  await git(dir, ['add', '--all']);
  const out = await git(dir, ['diff', '--cached', '--name-status', '--no-renames', '-z', since]);
  await git(dir, ['reset', '--quiet']);
  const parts = out.split('\0').filter(Boolean);
  const violations: Violation[] = [];
  for (let i = 0; i + 1 < parts.length; i += 2) {
    const status = parts[i]!;
    const path = parts[i + 1]!;
    const what = status === 'A' ? 'added' : status === 'D' ? 'deleted' : 'changed';
    if (isTestFile(path, profile.testFilePatterns)) {
      violations.push({ path, reason: `test file ${what}: the coder may not touch tests` });
    } else if (RUNNER_CONFIG.some((g) => posix.matchesGlob(path, g))) {
      violations.push({ path, reason: `test configuration ${what}: it could skip or weaken tests` });
    } else if (['pyproject.toml', 'setup.cfg'].includes(posix.basename(path))) {
      const before = await git(dir, ['show', `${since}:${path}`]).catch(() => '');
      const after = await readFile(join(dir, path), 'utf8').catch(() => '');
      if (pytestSection(before) !== pytestSection(after)) {
        violations.push({ path, reason: `the pytest configuration in ${posix.basename(path)} changed: it decides which tests run` });
      }
    } else if (posix.basename(path) === 'package.json' && status !== 'A') {
      const before = await git(dir, ['show', `${since}:${path}`]).catch(() => '');
      const after = await readFile(join(dir, path), 'utf8').catch(() => '');
      if (testScripts(before) !== testScripts(after)) {
        violations.push({ path, reason: 'the test scripts of package.json changed: they decide which tests run' });
      }
    }
  }
  return violations;
}

function testScripts(json: string): string {
  try {
    const scripts = (JSON.parse(json) as { scripts?: Record<string, string> }).scripts ?? {};
    return JSON.stringify(Object.entries(scripts).filter(([k]) => /test/i.test(k)).sort());
  } catch {
    return json;
  }
}

/** The pytest section of a pyproject.toml (`[tool.pytest.ini_options]`) or setup.cfg (`[tool:pytest]`). */
function pytestSection(text: string): string {
  const lines = text.split(/\r?\n/);
  const start = lines.findIndex((l) => /^\s*\[(tool\.pytest\.ini_options|tool:pytest)\]\s*$/.test(l));
  if (start < 0) return '';
  const rest = lines.slice(start + 1);
  const end = rest.findIndex((l) => /^\s*\[/.test(l));
  return (end < 0 ? rest : rest.slice(0, end)).map((l) => l.trim()).filter(Boolean).join('\n');
}
