import { stat } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import type { RepoRef } from '../ticket/schema.ts';

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
 * a git repository, a URL must use https, ssh or git. A local path is judged by its layout alone, with
 * the file system: a directory holding a `.git` directory or file (a work tree, or a linked worktree or
 * submodule), or a bare repository (`HEAD`, `objects/` and `refs/`). No process is spawned and nothing
 * in the repository is read or interpreted, so intake stays cheap and a hostile repository configures
 * nothing.
 */
export async function repositoryProblem(repo: RepoRef): Promise<string | null> {
  if (repo.url !== undefined) return urlProblem(repo.url);
  const path = repo.path!;
  if (!isAbsolute(path)) return `repo.path must be an absolute path, got "${path}"`;
  if (!(await kind(path)).dir) return `repo.path "${path}" is not a git repository`;
  const dotGit = await kind(join(path, '.git'));
  if (dotGit.dir || dotGit.file) return null;
  const [head, objects, refs] = await Promise.all([kind(join(path, 'HEAD')), kind(join(path, 'objects')), kind(join(path, 'refs'))]);
  if (head.file && objects.dir && refs.dir) return null;
  return `repo.path "${path}" is not a git repository`;
}

/** What is at `path` (following symbolic links); neither when nothing is, or it cannot be read. */
async function kind(path: string): Promise<{ dir: boolean; file: boolean }> {
  try {
    const s = await stat(path);
    return { dir: s.isDirectory(), file: s.isFile() };
  } catch {
    return { dir: false, file: false };
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
