import { lstat, mkdir, realpath, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { z } from 'zod';
import { AgentError } from '../../shared/index.ts';

/** A whole file a model wants written: a path relative to the repository root and its content. */
export const FileWrite = z.object({
  path: z.string().min(1).max(500),
  content: z.string().max(400_000),
});
export type FileWrite = z.infer<typeof FileWrite>;

/**
 * Where a model-given path lands in the workspace, or why it is refused: absolute paths, `..`
 * escapes, `.git/`, and paths through a symlink that leads outside the workspace.
 */
export async function resolveInside(root: string, path: string): Promise<{ ok: true; abs: string; rel: string } | { ok: false; reason: string }> {
  const normalized = path.replaceAll('\\', '/').replace(/^\.\//, '');
  if (isAbsolute(normalized)) return { ok: false, reason: `${path}: absolute paths are refused; give a path relative to the repository` };
  const abs = resolve(root, normalized);
  const rel = relative(root, abs);
  if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
    return { ok: false, reason: `${path}: outside the workspace` };
  }
  if (rel.split(sep)[0] === '.git') return { ok: false, reason: `${path}: .git is not writable` };
  const realRoot = await realpath(root);
  let existing = abs;
  for (;;) {
    try {
      await lstat(existing);
      break;
    } catch {
      existing = dirname(existing);
    }
  }
  const realExisting = await realpath(existing);
  const realRel = relative(realRoot, realExisting);
  if (realRel === '..' || realRel.startsWith(`..${sep}`) || isAbsolute(realRel)) {
    return { ok: false, reason: `${path}: leads outside the workspace through a symlink` };
  }
  return { ok: true, abs, rel: rel.split(sep).join('/') };
}

/**
 * Writes whole files into the workspace after checking every path first: nothing is written when
 * one path is refused. `allowed` may refuse a path for the role's own reasons.
 */
export async function writeFiles(
  root: string,
  files: readonly FileWrite[],
  allowed: (rel: string) => string | null = () => null,
): Promise<string[]> {
  const planned: { abs: string; rel: string; content: string }[] = [];
  const problems: string[] = [];
  for (const f of files) {
    const r = await resolveInside(root, f.path);
    if (!r.ok) {
      problems.push(r.reason);
      continue;
    }
    const why = allowed(r.rel);
    if (why) problems.push(`${r.rel}: ${why}`);
    else planned.push({ abs: r.abs, rel: r.rel, content: f.content });
  }
  if (problems.length > 0) throw new RefusedFilesError(problems);
  for (const p of planned) {
    await mkdir(dirname(p.abs), { recursive: true });
    await writeFile(p.abs, p.content);
  }
  return planned.map((p) => p.rel);
}

/** Model output that would write where the role may not. Fed back to the model; fatal if it persists. */
export class RefusedFilesError extends AgentError {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super('refused_paths', `refused: ${problems.join('; ')}`, { retryable: false });
    this.problems = problems;
  }
}

