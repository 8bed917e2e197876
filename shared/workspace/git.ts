import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
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
}

/**
 * Runs git in `cwd` and returns its standard output. The environment is minimal and fixed (no
 * credentials helpers prompting, no user config beyond what is given), and every repository is
 * trusted by path, since sandboxes may own the files.
 */
export function git(cwd: string, args: readonly string[], opts: GitOptions = {}): Promise<string> {
  const env: Record<string, string> = {
    PATH: '/usr/local/bin:/usr/bin:/bin',
    HOME: tmpdir(),
    GIT_TERMINAL_PROMPT: '0',
    GIT_CONFIG_NOSYSTEM: '1',
    LC_ALL: 'C',
    ...opts.env,
  };
  if (opts.identity) {
    env.GIT_AUTHOR_NAME = env.GIT_COMMITTER_NAME = opts.identity.name;
    env.GIT_AUTHOR_EMAIL = env.GIT_COMMITTER_EMAIL = opts.identity.email;
  }
  const full = ['-c', 'safe.directory=*', '-c', 'init.defaultBranch=main', '-c', 'core.hooksPath=/dev/null', ...args];
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
