import { appendFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { NightshiftError } from '../errors.ts';
import type { RepoRef } from '../ticket/schema.ts';
import { git, type GitIdentity } from './git.ts';

/** The branch nightshift works on for a ticket. The base branch is never written. */
export function ticketBranch(ticketId: string): string {
  return `nightshift/${ticketId}`;
}

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

/** A private clone of the ticket's repository, checked out on the ticket's branch. */
export interface Workspace extends AsyncDisposable {
  readonly dir: string;
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
}

/**
 * Clones the repository into a fresh directory and checks out `nightshift/<ticketId>`: from the
 * origin when an earlier stage pushed it, else new from the base branch. Every stage works in its own
 * clone, so agents on different hosts hand work on through the origin.
 */
export async function openWorkspace({ repo, ticketId, root: rootDir, remote: given }: OpenWorkspaceOptions): Promise<Workspace> {
  const root = resolve(rootDir);
  mkdirSync(root, { recursive: true });
  const dir = mkdtempSync(join(root, `${ticketId}-`));
  const dispose = async () => rmSync(dir, { recursive: true, force: true });
  try {
    const remote: GitRemote = given ?? { url: repo.url ?? repo.path! };
    const network = async () => ({ env: (await remote.env?.()) ?? {} });
    await git(root, ['clone', '--quiet', '--no-tags', '--', remote.url, dir], await network());
    const baseBranch = repo.baseBranch ?? (await defaultBranch(dir));
    const branch = ticketBranch(ticketId);
    const pushed = (await git(dir, ['ls-remote', '--heads', 'origin', `refs/heads/${branch}`], await network())).trim();
    const baseSha = (await git(dir, ['rev-parse', '--verify', `refs/remotes/origin/${baseBranch}^{commit}`]).catch(() => {
      throw new WorkspaceError('base_branch_missing', `the repository has no branch "${baseBranch}"`);
    })).trim();
    // The sandbox keeps its own files (dependency caches, a virtualenv) under .nightshift/: never commit them.
    appendFileSync(join(dir, '.git', 'info', 'exclude'), '\n/.nightshift/\n');
    if (pushed) {
      await git(dir, ['fetch', '--quiet', 'origin', `+refs/heads/${branch}:refs/remotes/origin/${branch}`], await network());
      await git(dir, ['checkout', '--quiet', '-B', branch, `refs/remotes/origin/${branch}`]);
    } else {
      await git(dir, ['checkout', '--quiet', '-B', branch, baseSha]);
    }
    return { dir, ticketId, branch, baseBranch, baseSha, resumed: pushed !== '', remote, dispose, [Symbol.asyncDispose]: dispose };
  } catch (err) {
    await dispose();
    throw err;
  }
}

async function defaultBranch(dir: string): Promise<string> {
  const ref = await git(dir, ['symbolic-ref', '--quiet', '--short', 'refs/remotes/origin/HEAD']).catch(() => '');
  if (ref.trim()) return ref.trim().replace(/^origin\//, '');
  const branches = (await git(dir, ['branch', '-r', '--format=%(refname:short)'])).split('\n').map((b) => b.trim());
  for (const b of ['origin/main', 'origin/master']) if (branches.includes(b)) return b.slice('origin/'.length);
  throw new WorkspaceError('base_branch_unknown', 'cannot tell the repository\'s default branch; give repo.baseBranch');
}

/**
 * Commits every change in the workspace as `role`, with trailers naming the ticket, stage and
 * attempt. Returns the new commit, or null when there was nothing to commit.
 */
export async function commitAll(
  ws: Workspace,
  opts: { role: string; message: string; trailers?: Record<string, string> },
): Promise<string | null> {
  await git(ws.dir, ['add', '--all']);
  const staged = (await git(ws.dir, ['diff', '--cached', '--name-only'])).trim();
  if (!staged) return null;
  const trailers = Object.entries({ 'Nightshift-Ticket': ws.ticketId, ...opts.trailers }).map(([k, v]) => `${k}: ${v}`);
  const message = `${opts.message.trim()}\n\n${trailers.join('\n')}\n`;
  await git(ws.dir, ['commit', '--quiet', '--no-verify', '-F', '-'], { identity: roleIdentity(opts.role), input: message });
  return (await git(ws.dir, ['rev-parse', 'HEAD'])).trim();
}

/**
 * Pushes the ticket branch, and only it, to the origin (fast-forward only). Refuses any other
 * branch, so the base branch is never written.
 */
export async function pushBranch(ws: Workspace): Promise<void> {
  if (ws.branch !== ticketBranch(ws.ticketId) || ws.branch === ws.baseBranch) {
    throw new WorkspaceError('refused_push', `refusing to push ${ws.branch}: only ${ticketBranch(ws.ticketId)} may be written`);
  }
  await git(ws.dir, ['push', '--quiet', 'origin', `refs/heads/${ws.branch}:refs/heads/${ws.branch}`], { env: (await ws.remote.env?.()) ?? {} });
}

/** Files changed between two commits, with git's status letter (A, M, D, R…). */
export async function changedFiles(dir: string, from: string, to = 'HEAD'): Promise<{ status: string; path: string; oldPath?: string }[]> {
  const out = await git(dir, ['diff', '--name-status', '-M', '-z', from, to]);
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
export function diff(dir: string, from: string, to = 'HEAD', paths: readonly string[] = []): Promise<string> {
  return git(dir, ['diff', '--no-color', '-M', from, to, '--', ...paths]);
}

/** Commits on the branch since `from`, oldest first, with their trailers. */
export async function commitsSince(dir: string, from: string, to = 'HEAD'): Promise<{ sha: string; subject: string; author: string; trailers: Record<string, string> }[]> {
  const sep = '\x1e';
  const out = await git(dir, ['log', '--reverse', `--format=%H%x1f%s%x1f%an%x1f%(trailers:only,unfold)${sep}`, `${from}..${to}`]);
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

/** Puts the worktree back to HEAD: every change and every untracked file (ignored ones stay). */
export async function resetWorktree(ws: Workspace): Promise<void> {
  await git(ws.dir, ['reset', '--quiet', '--hard', 'HEAD']);
  await git(ws.dir, ['clean', '--quiet', '-fd']);
}
