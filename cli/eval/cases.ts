import { lstat, readdir, readFile, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { fieldIssues, parseDuration, UsageError } from '../../shared/index.ts';

/** The file that describes a case, in its own directory. */
export const CASE_FILE = 'case.json';

const sha = z.string().regex(/^[0-9a-f]{7,40}$/, 'a commit hash (7 to 40 hex digits)');
const relativePath = z
  .string()
  .min(1)
  .max(500)
  .refine((p) => !p.startsWith('/') && !p.split('/').includes('..'), 'a path inside the case directory');

/**
 * One evaluation case: a repository at a base commit, a ticket, and held-out tests that say whether
 * the ticket was resolved, run by a command of the case's choosing. The agents never see the held-out
 * tests. Example (`examples/eval/*\/case.json`):
 *
 * ```json
 * { "version": 1, "name": "js-slug-max-length",
 *   "repo": { "files": "repo" },
 *   "ticket": { "title": "slugify: a maximum length", "body": "…" },
 *   "heldOut": { "files": "held-out" }, "heldOutCommand": "node --test held-out/",
 *   "scripts": { "honest": "honest.json", "cheating": "cheating.json" } }
 * ```
 */
export const EvalCase = z
  .object({
    version: z.literal(1),
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'lowercase letters, digits and dashes'),
    description: z.string().max(2_000).optional(),
    /** For the report: the repository's language. */
    language: z.string().max(40).optional(),
    /**
     * Where the repository comes from: `files`, a directory of the case committed as the base;
     * `path`, a git repository on this machine; `url`, a clone URL. `path` and `url` name the base commit.
     * The agents work on a local copy; nothing is ever pushed to `path` or `url`.
     */
    repo: z.union([
      z.object({ files: relativePath }).strict(),
      z.object({ path: z.string().min(1).max(4_096), commit: sha }).strict(),
      z.object({ url: z.string().min(1).max(2_048), commit: sha }).strict(),
    ]),
    ticket: z
      .object({
        title: z.string().trim().min(1).max(200),
        body: z.string().max(100_000),
        type: z.enum(['feature', 'bug', 'chore']).default('feature'),
        labels: z.array(z.string().min(1).max(50)).max(20).default([]),
      })
      .strict(),
    /**
     * The held-out tests, laid over the result before `heldOutCommand` runs: `files`, a directory of the
     * case copied over the repository; `patch`, a patch file of the case applied with `git apply`;
     * `commit` and `paths`, those paths as they are at a reference commit of the repository (the
     * upstream fix).
     */
    heldOut: z.union([
      z.object({ files: relativePath }).strict(),
      z.object({ patch: relativePath }).strict(),
      z.object({ commit: sha, paths: z.array(z.string().min(1).max(500)).min(1).max(100) }).strict(),
    ]),
    /** What runs the held-out tests in the sandbox; the repository's test command by default. */
    heldOutCommand: z.string().min(1).max(2_000).optional(),
    /** Scripted models by name (`honest`, `cheating`…): mock-llm scripts, relative to the case. */
    scripts: z.record(z.string().regex(/^[a-z0-9-]{1,40}$/), relativePath).default({}),
    /** How long the ticket may take to come to rest. */
    timeout: z
      .string()
      .refine((t) => (parseDuration(t) ?? 0) > 0, 'a duration, e.g. 10m')
      .default('10m'),
  })
  .strict();
export type EvalCase = z.infer<typeof EvalCase>;

/** A case as loaded: its definition and the directory its relative paths are read from. */
export interface LoadedCase {
  dir: string;
  spec: EvalCase;
}

/**
 * The cases named by `paths`: a `case.json`, a directory holding one, or a directory of such
 * directories (each case once, in name order). Rejects with UsageError `invalid_case` listing what
 * is wrong, or `no_cases`.
 */
export async function loadCases(paths: readonly string[]): Promise<LoadedCase[]> {
  const files: string[] = [];
  for (const p of paths) {
    const full = resolve(p);
    const s = await stat(full).catch(() => null);
    if (!s) throw new UsageError(`${p} does not exist`, 'no_cases');
    if (s.isFile()) files.push(full);
    else if (await exists(join(full, CASE_FILE))) files.push(join(full, CASE_FILE));
    else {
      const found = [];
      for (const entry of (await readdir(full)).sort()) if (await exists(join(full, entry, CASE_FILE))) found.push(join(full, entry, CASE_FILE));
      if (found.length === 0) throw new UsageError(`${p} holds no ${CASE_FILE}, nor directories with one`, 'no_cases');
      files.push(...found);
    }
  }
  const cases: LoadedCase[] = [];
  for (const file of [...new Set(files)]) {
    let json: unknown;
    try {
      json = JSON.parse(await readFile(file, 'utf8'));
    } catch (err) {
      throw new UsageError(`${file} is not JSON: ${(err as Error).message}`, 'invalid_case');
    }
    const parsed = EvalCase.safeParse(json);
    if (!parsed.success) throw new UsageError(`${file} is not a valid case`, 'invalid_case', fieldIssues(parsed.error.issues));
    cases.push({ dir: dirname(file), spec: parsed.data });
  }
  const names = cases.map((c) => c.spec.name);
  const twice = names.filter((n, i) => names.indexOf(n) !== i);
  if (twice.length > 0) throw new UsageError(`case names must be unique: ${[...new Set(twice)].join(', ')}`, 'invalid_case');
  return cases;
}

async function exists(path: string): Promise<boolean> {
  return (await lstat(path).catch(() => null))?.isFile() ?? false;
}
