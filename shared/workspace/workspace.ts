import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { NightshiftError } from '../errors.ts';
import { ticketBranch } from '../ticket/branch.ts';
import type { RepoRef } from '../ticket/schema.ts';
import { git, protocolOf, type GitIdentity, type GitOptions } from './git.ts';
import { withMirror } from './mirror.ts';

export { ticketBranch } from '../ticket/branch.ts';

/** The commit identity of an agent role. */
export function roleIdentity(role: string): GitIdentity {
  return { name: `nightshift ${role}`, email: `${role}@nightshift.invalid` };
}

/** A refused workspace operation (e.g. a push that would write the base branch). */
export class WorkspaceError extends NightshiftError {
  readonly code: string;
  readonly retryable: boolean;
  constructor(code: string, message: string, retryable = false) {
    super(message);
    this.code = code;
    this.retryable = retryable;
  }
}

/**
 * Where a workspace clones from and pushes to. The forge of the ticket's repository says (see
 * `Forge.remote`): the repository itself for the local forge, the GitHub clone URL with credentials
 * for GitHub.
 */
export interface GitRemote {
  /** A clone URL or a local path. */
  url: string;
  /**
   * Variables git's network commands (clone, ls-remote, fetch, push) need to reach `url`, typically
   * credentials as `GIT_CONFIG_*`. Asked for before each command; never written to the clone's
   * configuration nor given to anything else, so a sandbox mounting the clone sees none of it.
   */
  env?: () => Promise<Record<string, string>>;
}

/** The two directories of a workspace: the work tree a sandbox may write, and its git directory. */
export interface WorkspaceRepo {
  /** The work tree: what a sandbox mounts and agents read and write files in. It has no `.git`. */
  readonly dir: string;
  /** The git directory, outside `dir`: never mounted into a sandbox, so its configuration is ours. */
  readonly gitDir: string;
}

/** A private clone of the ticket's repository, checked out on the ticket's branch. */
export interface Workspace extends WorkspaceRepo, AsyncDisposable {
  readonly ticketId: string;
  readonly branch: string;
  readonly baseBranch: string;
  /** The base branch's commit the ticket branch starts from. */
  readonly baseSha: string;
  /** Whether the ticket branch already existed on the origin (an earlier stage pushed it). */
  readonly resumed: boolean;
  /** The origin: where the clone came from and where `pushBranch` writes. */
  readonly remote: GitRemote;
  /** Removes the clone. */
  dispose(): Promise<void>;
}

export interface OpenWorkspaceOptions {
  repo: RepoRef;
  ticketId: string;
  /** Directory under which clones are made. */
  root: string;
  /** Where to clone from and push to; by default the repository's url or path, without credentials. */
  remote?: GitRemote;
  /**
   * Directory of the repository mirrors (see mirror.ts). Given: the workspace is cloned locally from
   * this machine's mirror of the remote, brought up to date by one fetch. Absent: a full clone of the
   * remote.
   */
  cacheDir?: string;
}

/**
 * Git on a workspace: `GIT_DIR` and `GIT_WORK_TREE` always given, so a `.git` that a sandbox plants in
 * the work tree (a directory, a file redirecting elsewhere, a symlink) is never looked at.
 */
export function workspaceGit(ws: WorkspaceRepo, args: readonly string[], opts: GitOptions = {}): Promise<string> {
  return git(ws.dir, args, { ...opts, gitDir: ws.gitDir, workTree: ws.dir });
}

/** Options of a command that talks to the remote: its credentials and its transport only. */
export async function remoteOptions(remote: GitRemote): Promise<GitOptions> {
  if (remote.url.startsWith('-')) throw new WorkspaceError('invalid_remote', `refusing a remote that looks like an option: ${remote.url}`);
  return { env: (await remote.env?.()) ?? {}, protocols: [protocolOf(remote.url)] };
}

/**
 * Clones the repository and checks out `nightshift/<ticketId>`: from the origin when an earlier stage
 * pushed it, else new from the base branch. Every stage works in its own clone, so agents on different
 * hosts hand work on through the origin.
 *
 * With `cacheDir`, the clone is made from this machine's bare mirror of the origin (mirror.ts), fetched
 * first so that it holds the origin's branches as they are now, the ticket branch included. The clone
 * from the mirror is a plain local clone (`git clone` of a path: objects hard-linked when on the same
 * file system, else copied), not `--shared` nor `--reference`: those leave the workspace borrowing the
 * mirror's objects through `objects/info/alternates`, and the mirror is pruned as branches go, so a
 * workspace could lose objects it needs. Hard links cost the same and leave each workspace whole and
 * independent; the workspace's git directory is never in a sandbox's reach, so the shared files cannot
 * be written through it (git's object files are read-only besides).
 *
 * The clone is `<root>/<ticketId>-<random suffix>/` (a fresh mkdtemp directory) holding `git/` (the git directory) and `tree/` (the work
 * tree, `dir`). Only `tree/` is ever given to a sandbox; the git directory, its configuration, hooks,
 * index and refs stay out of its reach, and the tree keeps no `.git` pointing at them.
 */
export async function openWorkspace({ repo, ticketId, root: rootDir, remote: given, cacheDir }: OpenWorkspaceOptions): Promise<Workspace> {
  const root = resolve(rootDir);
  mkdirSync(root, { recursive: true });
  const home = mkdtempSync(join(root, `${ticketId}-`));
  const dispose = async () => rmSync(home, { recursive: true, force: true });
  try {
    const remote: GitRemote = given ?? { url: repo.url ?? repo.path! };
    const gitDir = join(home, 'git');
    const dir = join(home, 'tree');
    const ws: WorkspaceRepo = { dir, gitDir };
    const branch = ticketBranch(ticketId);
    const cloneArgs = ['clone', '--quiet', '--no-tags', '--no-checkout', '--template=', `--separate-git-dir=${gitDir}`, '--'];
    if (cacheDir !== undefined) {
      await withMirror({ cacheDir, remote, followHead: repo.baseBranch === undefined }, (mirror) => git(root, [...cloneArgs, mirror, dir]));
    } else {
      await git(root, [...cloneArgs, remote.url, dir], await remoteOptions(remote));
    }
    // The clone leaves a `.git` file naming the git directory: the tree must not know where it is.
    rmSync(join(dir, '.git'), { force: true });
    // The sandbox keeps its own files (dependency caches, a virtualenv) under .nightshift/: never commit them.
    mkdirSync(join(gitDir, 'info'), { recursive: true });
    writeFileSync(join(gitDir, 'info', 'exclude'), '/.nightshift/\n');
    const baseBranch = repo.baseBranch ?? (await defaultBranch(ws));
    const baseSha = (await workspaceGit(ws, ['rev-parse', '--verify', `refs/remotes/origin/${baseBranch}^{commit}`]).catch(() => {
      throw new WorkspaceError('base_branch_missing', `the repository has no branch "${baseBranch}"`);
    })).trim();
    let pushed: boolean;
    if (cacheDir !== undefined) {
      // The mirror was fetched just now: it has the ticket branch if the origin has it.
      pushed = await workspaceGit(ws, ['rev-parse', '--verify', '--quiet', `refs/remotes/origin/${branch}^{commit}`]).then(
        (out) => out.trim() !== '',
        () => false,
      );
    } else {
      pushed = (await workspaceGit(ws, ['ls-remote', '--heads', remote.url, `refs/heads/${branch}`], await remoteOptions(remote))).trim() !== '';
      if (pushed) await workspaceGit(ws, ['fetch', '--quiet', '--no-tags', remote.url, `+refs/heads/${branch}:refs/remotes/origin/${branch}`], await remoteOptions(remote));
    }
    await workspaceGit(ws, ['checkout', '--quiet', '-B', branch, pushed ? `refs/remotes/origin/${branch}` : baseSha]);
    return { dir, gitDir, ticketId, branch, baseBranch, baseSha, resumed: pushed, remote, dispose, [Symbol.asyncDispose]: dispose };
  } catch (err) {
    await dispose();
    throw err;
  }
}

async function defaultBranch(ws: WorkspaceRepo): Promise<string> {
  const ref = await workspaceGit(ws, ['symbolic-ref', '--quiet', '--short', 'refs/remotes/origin/HEAD']).catch(() => '');
  if (ref.trim()) return ref.trim().replace(/^origin\//, '');
  const branches = (await workspaceGit(ws, ['branch', '-r', '--format=%(refname:short)'])).split('\n').map((b) => b.trim());
  for (const b of ['origin/main', 'origin/master']) if (branches.includes(b)) return b.slice('origin/'.length);
  throw new WorkspaceError('base_branch_unknown', 'cannot tell the repository\'s default branch; give repo.baseBranch');
}

const GITLINK_MODE = '160000';

/** Paths of the index entries that are gitlinks (submodules), which host git must never look into. */
async function gitlinksInIndex(ws: WorkspaceRepo): Promise<string[]> {
  const out = await workspaceGit(ws, ['ls-files', '-z', '--stage']);
  return out
    .split('\0')
    .filter((e) => e.startsWith(`${GITLINK_MODE} `))
    .map((e) => e.slice(e.indexOf('\t') + 1));
}

/**
 * Keeps what is in the work tree now, untracked and not ignored, out of every later commit: appended to
 * the workspace's `info/exclude`, each directory as one entry. Called after the dependency setup, so
 * that what it leaves behind (a lock file `npm install` wrote, a package's `*.egg-info`) is never
 * committed as an agent's work. Returns the paths excluded.
 */
export async function excludeUntracked(ws: WorkspaceRepo): Promise<string[]> {
  const paths = (await workspaceGit(ws, ['ls-files', '-z', '--others', '--exclude-standard', '--directory', '--no-empty-directory']))
    .split('\0')
    .filter((p) => p !== '' && !p.includes('\n'));
  if (paths.length === 0) return [];
  const escape = (p: string) => `/${p.replace(/[\\*?[\]!# ]/g, (c) => `\\${c}`)}`;
  appendFileSync(join(ws.gitDir, 'info', 'exclude'), `${paths.map(escape).join('\n')}\n`);
  return paths;
}

/**
 * Stages every change in the work tree (`git add --all`) as an agent's work, and refuses what an
 * agent may not commit: a nested repository or submodule (gitlink, mode 160000), found before anything
 * is staged. Gitlinks already in the index (the base branch's submodules) are frozen: they are left out
 * of the pathspec, since for them `git add` would otherwise run `git status` inside the nested
 * repository, whose configuration the sandbox wrote. Paths named `.git` are never staged.
 * Throws WorkspaceError `gitlink_refused`, with nothing staged.
 */
export async function stageAll(ws: WorkspaceRepo): Promise<void> {
  const untracked = (await workspaceGit(ws, ['ls-files', '-z', '--others', '--exclude-standard'])).split('\0');
  // ls-files names a nested repository as its directory (`dir/`) and never looks inside it.
  const nested = untracked.filter((p) => p.endsWith('/'));
  if (nested.length > 0) throw gitlinkRefused(nested);
  const frozen = await gitlinksInIndex(ws);
  await workspaceGit(ws, ['add', '--all', '--', '.', ...frozen.map((p) => `:(top,literal,exclude)${p}`)]);
  const added = (await gitlinksInIndex(ws)).filter((p) => !frozen.includes(p));
  if (added.length > 0) {
    await workspaceGit(ws, ['read-tree', 'HEAD']);
    throw gitlinkRefused(added);
  }
}

function gitlinkRefused(paths: readonly string[]): WorkspaceError {
  return new WorkspaceError('gitlink_refused', `nested repositories and submodules are not committed: ${paths.join(', ')}`);
}

/**
 * Commits every change in the workspace as `role`, with trailers naming the ticket, stage and
 * attempt. Returns the new commit, or null when there was nothing to commit.
 */
export async function commitAll(
  ws: Workspace,
  opts: { role: string; message: string; trailers?: Record<string, string> },
): Promise<string | null> {
  await stageAll(ws);
  const staged = (await workspaceGit(ws, ['diff-index', '--cached', '--name-only', '--ignore-submodules=all', 'HEAD'])).trim();
  if (!staged) return null;
  const trailers = Object.entries({ 'Nightshift-Ticket': ws.ticketId, ...opts.trailers }).map(([k, v]) => `${k}: ${v}`);
  const message = `${opts.message.trim()}\n\n${trailers.join('\n')}\n`;
  await workspaceGit(ws, ['commit', '--quiet', '--no-verify', '--no-gpg-sign', '-F', '-'], { identity: roleIdentity(opts.role), input: message });
  return (await workspaceGit(ws, ['rev-parse', 'HEAD'])).trim();
}

/** Files changed between two commits, with git's status letter (A, M, D, R…). */
export async function changedFiles(ws: WorkspaceRepo, from: string, to = 'HEAD'): Promise<{ status: string; path: string; oldPath?: string }[]> {
  const out = await workspaceGit(ws, ['diff', '--no-ext-diff', '--no-textconv', '--name-status', '-M', '-z', from, to]);
  const parts = out.split('\0').filter((p) => p !== '');
  const files: { status: string; path: string; oldPath?: string }[] = [];
  for (let i = 0; i < parts.length; ) {
    const status = parts[i++]!;
    if (status.startsWith('R') || status.startsWith('C')) {
      const oldPath = parts[i++]!;
      files.push({ status: status[0]!, oldPath, path: parts[i++]! });
    } else {
      files.push({ status: status[0]!, path: parts[i++]! });
    }
  }
  return files;
}

/** The unified diff between two commits. */
export function diff(ws: WorkspaceRepo, from: string, to = 'HEAD', paths: readonly string[] = []): Promise<string> {
  return workspaceGit(ws, ['diff', '--no-color', '--no-ext-diff', '--no-textconv', '-M', from, to, '--', ...paths]);
}

/** Commits on the branch since `from`, oldest first, with their trailers. */
export async function commitsSince(ws: WorkspaceRepo, from: string, to = 'HEAD'): Promise<{ sha: string; subject: string; author: string; trailers: Record<string, string> }[]> {
  const sep = '\x1e';
  const out = await workspaceGit(ws, ['log', '--no-textconv', '--no-show-signature', '--reverse', `--format=%H%x1f%s%x1f%an%x1f%(trailers:only,unfold)${sep}`, `${from}..${to}`]);
  return out
    .split(sep)
    .map((r) => r.trim())
    .filter(Boolean)
    .map((r) => {
      const [sha, subject, author, trailerText] = r.split('\x1f');
      const trailers: Record<string, string> = {};
      for (const line of (trailerText ?? '').split('\n')) {
        const m = /^([\w-]+):\s*(.*)$/.exec(line.trim());
        if (m) trailers[m[1]!] = m[2]!;
      }
      return { sha: sha!, subject: subject!, author: author!, trailers };
    });
}

/**
 * Puts the worktree back to HEAD: every change and every untracked file, nested repositories
 * included (ignored files stay).
 */
export async function resetWorktree(ws: WorkspaceRepo): Promise<void> {
  await workspaceGit(ws, ['reset', '--quiet', '--hard', 'HEAD']);
  await workspaceGit(ws, ['clean', '--quiet', '-ffd']);
}
