import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NightshiftError } from '../errors.ts';

/** A git command that failed; `stderr` says why. Network and lock failures are worth retrying. */
export class GitError extends NightshiftError {
  readonly code = 'git_failed';
  readonly retryable: boolean;
  readonly args: readonly string[];
  readonly stderr: string;
  constructor(args: readonly string[], stderr: string, exitCode: number | null) {
    super(`git ${args.join(' ')} failed (${exitCode ?? 'killed'}): ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
    this.args = args;
    this.stderr = stderr;
    this.retryable = /could not (read|resolve|connect)|timed out|unable to access|index\.lock|Connection (reset|refused)/i.test(stderr);
  }
}

export interface GitIdentity {
  name: string;
  email: string;
}

/** Transports git may use: `file` for local paths and file:// URLs, the others by URL scheme. */
export type GitProtocol = 'file' | 'http' | 'https' | 'ssh' | 'git';

export interface GitOptions {
  /** Author and committer of any commit this command makes. */
  identity?: GitIdentity;
  timeoutMs?: number;
  /** Bytes written to git's standard input. */
  input?: string;
  /**
   * Variables added to git's environment, e.g. credentials for a remote as `GIT_CONFIG_*` (which, unlike
   * `-c` arguments, no other user can read in the process list and no error message repeats).
   */
  env?: Record<string, string>;
  /**
   * The repository's git directory, given to git as `GIT_DIR`: git then never looks for a `.git` in
   * `cwd` or above it. Workspaces always give it (with `workTree`).
   */
  gitDir?: string;
  /** The work tree, given to git as `GIT_WORK_TREE` (only with `gitDir`). */
  workTree?: string;
  /** Transports this command may use; every other one is refused. Default: `file` only. */
  protocols?: readonly GitProtocol[];
}

/**
 * Configuration given on every git command line. Command-line configuration wins over every file
 * git reads, so none of these can be undone by a configuration file; they name git's execution paths
 * and switch each off. The main guarantee is elsewhere (a workspace's git directory is never in a
 * sandbox's reach, and no system or global file is read); these are the second line.
 */
export const HARDENED_CONFIG: readonly (readonly [string, string])[] = [
  ['core.fsmonitor', 'false'],
  ['core.hooksPath', '/dev/null'],
  ['core.pager', 'cat'],
  ['core.editor', 'false'],
  ['sequence.editor', 'false'],
  ['core.askPass', ''],
  ['credential.helper', ''],
  ['core.attributesFile', '/dev/null'],
  ['core.untrackedCache', 'false'],
  ['submodule.recurse', 'false'],
  ['diff.ignoreSubmodules', 'all'],
  ['fetch.recurseSubmodules', 'false'],
  ['push.recurseSubmodules', 'no'],
  ['push.followTags', 'false'],
  ['commit.gpgSign', 'false'],
  ['tag.gpgSign', 'false'],
  ['log.showSignature', 'false'],
  ['gc.auto', '0'],
  ['maintenance.auto', 'false'],
  ['color.ui', 'false'],
  ['init.defaultBranch', 'main'],
];

let emptyHome: string | undefined;

/** An empty directory of this process's own, for HOME: no `~/.gitconfig`, no credentials store. */
function home(): string {
  emptyHome ??= mkdtempSync(join(tmpdir(), 'nightshift-git-home-'));
  return emptyHome;
}

/** The `-c` arguments of a command allowed `protocols`. */
export function hardenedArgs(protocols: readonly GitProtocol[], extra: readonly (readonly [string, string])[] = []): string[] {
  const config: (readonly [string, string])[] = [...HARDENED_CONFIG, ['protocol.allow', 'never']];
  for (const p of protocols) config.push([`protocol.${p}.allow`, 'always']);
  // ssh remotes need ssh itself; no other command may start one.
  if (!protocols.includes('ssh')) config.push(['core.sshCommand', 'false']);
  config.push(...extra);
  return config.flatMap(([k, v]) => ['-c', `${k}=${v}`]);
}

/**
 * Runs git in `cwd` and returns its standard output. Nothing of this process's environment reaches
 * git: it gets a fixed PATH, an empty HOME, no system or global configuration, no prompts, and the
 * hardened configuration above on its command line. With `gitDir` the repository is given, never
 * looked for. Without it (the origin repository, the demo repository, tests), any owner's repository
 * is accepted (`safe.directory=*`): those are the user's own.
 */
export function git(cwd: string, args: readonly string[], opts: GitOptions = {}): Promise<string> {
  const env: Record<string, string> = {
    PATH: '/usr/local/bin:/usr/bin:/bin',
    HOME: home(),
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_ATTR_NOSYSTEM: '1',
    GIT_TERMINAL_PROMPT: '0',
    GIT_NO_REPLACE_OBJECTS: '1',
    LC_ALL: 'C',
    ...opts.env,
  };
  if (opts.gitDir !== undefined) {
    env.GIT_DIR = opts.gitDir;
    if (opts.workTree !== undefined) env.GIT_WORK_TREE = opts.workTree;
  }
  if (opts.identity) {
    env.GIT_AUTHOR_NAME = env.GIT_COMMITTER_NAME = opts.identity.name;
    env.GIT_AUTHOR_EMAIL = env.GIT_COMMITTER_EMAIL = opts.identity.email;
  }
  const extra: [string, string][] = opts.gitDir === undefined ? [['safe.directory', '*']] : [];
  const full = [...hardenedArgs(opts.protocols ?? ['file'], extra), ...args];
  return new Promise((resolve, reject) => {
    const child = execFile(
      'git',
      full,
      { cwd, env, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err) {
          if ((err as { code?: unknown }).code === 'ENOENT') reject(new Error('git is not installed on this host', { cause: err }));
          else reject(new GitError(args, stderr || err.message, typeof err.code === 'number' ? err.code : null));
        } else resolve(stdout);
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** The transport a clone URL or local path needs. */
export function protocolOf(url: string): GitProtocol {
  if (/^https:\/\//i.test(url)) return 'https';
  if (/^http:\/\//i.test(url)) return 'http';
  if (/^ssh:\/\//i.test(url) || /^[^/\s]+@[^/\s]+:/.test(url)) return 'ssh';
  if (/^git:\/\//i.test(url)) return 'git';
  return 'file';
}

/** The local path of a remote that is a local repository (a path or a file:// URL), else null. */
export function localPathOf(url: string): string | null {
  if (/^file:\/\//i.test(url)) return decodeURIComponent(new URL(url).pathname);
  return protocolOf(url) === 'file' && !/^[a-z][a-z0-9+.-]*:/i.test(url) ? url : null;
}
