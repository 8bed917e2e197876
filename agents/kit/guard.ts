import { posix } from 'node:path';
import { isTestFile, type RepoProfile } from '../../sandbox/index.ts';
import { stageAll, WorkspaceError, workspaceGit, type WorkspaceRepo } from '../../shared/index.ts';

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
 * configuration changed, the `test` script of a package.json changed, or a nested repository
 * (gitlink) added, is a violation. What is compared is what would be committed: the staged blobs, read
 * from git's object store, never the work tree's files (a symlink there could lead anywhere).
 */
export async function coderViolations(ws: WorkspaceRepo, since: string, profile: RepoProfile): Promise<Violation[]> {
  try {
    await stageAll(ws);
  } catch (err) {
    if (err instanceof WorkspaceError && err.code === 'gitlink_refused') {
      return [{ path: '.', reason: `${err.message}: the change may not add repositories` }];
    }
    throw err;
  }
  try {
    const out = await workspaceGit(ws, ['diff-index', '--cached', '--name-status', '--no-renames', '--ignore-submodules=all', '-z', since]);
    return await violationsOf(ws, since, profile, out.split('\0').filter(Boolean));
  } finally {
    await workspaceGit(ws, ['reset', '--quiet']);
  }
}

async function violationsOf(ws: WorkspaceRepo, since: string, profile: RepoProfile, parts: readonly string[]): Promise<Violation[]> {
  const blob = (rev: string) => workspaceGit(ws, ['cat-file', 'blob', rev]).catch(() => '');
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
      if (pytestSection(await blob(`${since}:${path}`)) !== pytestSection(await blob(`:${path}`))) {
        violations.push({ path, reason: `the pytest configuration in ${posix.basename(path)} changed: it decides which tests run` });
      }
    } else if (posix.basename(path) === 'package.json' && status !== 'A') {
      if (testScripts(await blob(`${since}:${path}`)) !== testScripts(await blob(`:${path}`))) {
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
