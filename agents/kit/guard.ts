import { posix } from 'node:path';
import { isTestFile, type RepoProfile } from '../../sandbox/index.ts';
import { stageAll, WorkspaceError, workspaceGit, type WorkspaceRepo } from '../../shared/index.ts';
import { LOCKFILES, lockfileReasons, packageJsonReasons, testCommands } from './test-config-package.ts';
import { configFileReason, gateFileReason, goModReasons, isGateFile, namedFileReason, sectionedKind, sectionReasons } from './test-config.ts';

/** One reason a change is refused. */
export interface Violation {
  path: string;
  reason: string;
}

/**
 * The coder's mechanical guard, on the diff (never on the model's word): every file changed since
 * the tests commit is checked. A test file added, changed, renamed or deleted, any change to test
 * configuration wherever it lives (`test-config.ts`: configuration files by name, lint gates the test
 * command runs, test sections of pyproject.toml, setup.cfg and tox.ini; `test-config-package.ts`:
 * test tool keys, test scripts and the scripts the test command reaches, test tool dependencies of a
 * package.json; Go test tool modules in go.mod and go.sum), or a nested repository (gitlink) added,
 * is a violation. What is compared is what
 * would be committed: the staged blobs, read from git's object store, never the work tree's files (a
 * symlink there could lead anywhere).
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
  // A blob that is absent (a file added or deleted) reads as null.
  const blob = (rev: string) => workspaceGit(ws, ['cat-file', 'blob', rev]).catch(() => null);
  // What the test command runs, through the root package.json before and after: the lint gates and files it names.
  let commands: string[] | undefined;
  const runByTests = async () => {
    if (commands) return commands;
    commands = [profile.test];
    for (const text of [await blob(`${since}:package.json`), await blob(':package.json')]) {
      let pkg: unknown;
      try {
        pkg = JSON.parse(text ?? '{}');
      } catch {
        continue; // a package.json that does not parse is refused by its own rule
      }
      commands.push(...testCommands(pkg, profile.test));
    }
    return commands;
  };
  const violations: Violation[] = [];
  for (let i = 0; i + 1 < parts.length; i += 2) {
    const status = parts[i]!;
    const path = parts[i + 1]!;
    const what = status === 'A' ? 'added' : status === 'D' ? 'deleted' : 'changed';
    const before = () => (status === 'A' ? Promise.resolve(null) : blob(`${since}:${path}`));
    const after = () => (status === 'D' ? Promise.resolve(null) : blob(`:${path}`));
    const kind = sectionedKind(path);
    if (isTestFile(path, profile.testFilePatterns)) {
      violations.push({ path, reason: `test file ${what}: the coder may not touch tests` });
      continue;
    }
    const byName =
      configFileReason(path, what) ??
      (isGateFile(path) ? gateFileReason(path, what, await runByTests()) : null) ??
      namedFileReason(path, what, await runByTests());
    if (byName) {
      violations.push({ path, reason: byName });
    } else if (kind) {
      for (const reason of sectionReasons(kind, await before(), await after())) violations.push({ path, reason });
    } else if (posix.basename(path) === 'package.json') {
      for (const reason of packageJsonReasons(await before(), await after(), profile.test)) violations.push({ path, reason });
    } else if (posix.basename(path) === 'go.mod' || posix.basename(path) === 'go.sum') {
      for (const reason of goModReasons(await before(), await after())) violations.push({ path, reason });
    } else if ((LOCKFILES as readonly string[]).includes(posix.basename(path))) {
      for (const reason of lockfileReasons(await before(), await after())) violations.push({ path, reason });
    }
  }
  return violations;
}
