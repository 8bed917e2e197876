import type { Stats } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { SandboxError } from './errors.ts';
import type { RunSpec } from './sandbox.ts';

/** The host side of a run's workspace, checked. */
export interface ResolvedWorkspace {
  /** Real path of the workspace root (symlinks resolved). */
  root: string;
  /** Real host path of the working directory, inside `root`. */
  cwd: string;
  /** The workspace root's stat (owner, mode). */
  stats: Stats;
}

/**
 * Resolves and checks a spec's workspace and cwd on the host: the workspace must be an existing
 * directory, and the cwd an existing directory that, with every symlink resolved, is still inside
 * it. Throws SandboxError `invalid_workspace` or `invalid_spec`.
 */
export async function resolveWorkspace(spec: Pick<RunSpec, 'workspace' | 'cwd'>): Promise<ResolvedWorkspace> {
  let root: string;
  let stats: Stats;
  try {
    root = await realpath(spec.workspace);
    stats = await stat(root);
  } catch (err) {
    throw new SandboxError('invalid_workspace', `workspace ${spec.workspace} does not exist`, { cause: err });
  }
  if (!stats.isDirectory()) throw new SandboxError('invalid_workspace', `workspace ${spec.workspace} is not a directory`);
  let cwd: string;
  try {
    cwd = await realpath(join(root, spec.cwd));
  } catch (err) {
    throw new SandboxError('invalid_spec', `cwd "${spec.cwd}" does not exist in the workspace`, { cause: err });
  }
  if (cwd !== root && !cwd.startsWith(root + sep)) {
    throw new SandboxError('invalid_spec', `cwd "${spec.cwd}" resolves outside the workspace`);
  }
  if (!(await stat(cwd)).isDirectory()) throw new SandboxError('invalid_spec', `cwd "${spec.cwd}" is not a directory`);
  return { root, cwd, stats };
}
