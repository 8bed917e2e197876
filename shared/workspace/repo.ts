import { isAbsolute, resolve } from 'node:path';
import type { RepoRef } from '../ticket/schema.ts';
import { git, GitError } from './git.ts';

/** Clone URL schemes nightshift accepts. `user@host:path` (scp-like ssh) is accepted too. */
export const REPO_URL_SCHEMES = ['https:', 'ssh:', 'git:'] as const;

const SCP_LIKE = /^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:(?!\/\/)[^\s]+$/;

/**
 * A repository as people type it (`--repo`, a configured default): a clone URL when it looks like one
 * (`scheme://…`, or scp-like `user@host:path`), else a local path, made absolute against `cwd`.
 */
export function repoRefOf(text: string, cwd?: string): RepoRef {
  const isUrl = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) || /^[^/\s]+@[^/\s]+:/.test(text);
  if (isUrl) return { url: text };
  return { path: isAbsolute(text) ? text : cwd === undefined ? resolve(text) : resolve(cwd, text) };
}

/**
 * Why a repository reference cannot be used, or null when it can: a local path must be absolute and
 * a git repository (checked with git itself); a URL must use https, ssh or git. Throws when git
 * itself cannot be run.
 */
export async function repositoryProblem(repo: RepoRef): Promise<string | null> {
  if (repo.url !== undefined) return urlProblem(repo.url);
  const path = repo.path!;
  if (!isAbsolute(path)) return `repo.path must be an absolute path, got "${path}"`;
  try {
    await git('/', ['-C', path, 'rev-parse', '--git-dir'], { timeoutMs: 10_000 });
    return null;
  } catch (err) {
    if (!(err instanceof GitError)) throw err;
    return `repo.path "${path}" is not a git repository`;
  }
}

function urlProblem(url: string): string | null {
  if (SCP_LIKE.test(url)) return null;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `repo.url "${url}" is not a URL`;
  }
  if (!(REPO_URL_SCHEMES as readonly string[]).includes(parsed.protocol)) {
    return `repo.url scheme "${parsed.protocol.replace(/:$/, '')}" is not supported (use https, ssh or git)`;
  }
  if (!parsed.hostname) return `repo.url "${url}" has no host`;
  return null;
}
