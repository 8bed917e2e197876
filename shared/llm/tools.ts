/**
 * The read-only repository tools a model calls (`list_files`, `read_file`, `search`) over one
 * workspace. One file because the three tools share one closure: the resolved root, the confinement
 * that refuses any path leaving it (`resolvePath`) and the output caps; a tool kept elsewhere would
 * have to be handed that confinement, and one that forgot it would be a way out of the workspace.
 */
import { lstat, open, readdir, readFile, readlink, realpath, stat } from 'node:fs/promises';
import { dirname, isAbsolute, matchesGlob, relative, resolve, sep } from 'node:path';
import { z } from 'zod';
import type { Logger } from '../log.ts';
import { jsonSchemaOf } from './structured.ts';
import type { ToolDefinition } from './transcript.ts';

/** What a tool gives back to the model. `refused` when a path was outside the workspace or hidden. */
export interface ToolOutput {
  status: 'ok' | 'error' | 'refused';
  content: string;
}

/** Tools a model may call by name. */
export interface ToolBox {
  readonly definitions: readonly ToolDefinition[];
  run(name: string, args: unknown): Promise<ToolOutput>;
}

/** How the repository tools were used. */
export interface ToolStats {
  calls: number;
  errors: number;
  refusals: number;
}

/** Read-only tools over one workspace: `list_files`, `read_file`, `search`. */
export interface RepoTools extends ToolBox {
  /** The workspace root, with symbolic links resolved. */
  readonly root: string;
  stats(): ToolStats;
}

export interface RepoToolsOptions {
  root: string;
  log?: Logger;
  /**
   * Cap on any one tool output, in characters (default 12,000, about 3,000 tokens): what the model is
   * told does not grow with the repository. Cut outputs end with a note saying how much more there is.
   */
  maxOutputChars?: number;
  /** Lines of a `list_files` answer (default 200); a recursive listing closes directories to fit. */
  maxEntries?: number;
  /**
   * Lines of a `search` answer (default 50); past it, matches are grouped by directory and large
   * groups are answered as a count.
   */
  maxMatches?: number;
  /** Larger files are neither read nor searched. */
  maxFileBytes?: number;
}

export const ListFilesArgs = z
  .object({
    dir: z.string().default('.').describe('Directory relative to the repository root; "." for the root.'),
    recursive: z.boolean().default(false).describe('List everything below the directory, not just its entries.'),
  })
  .strict();
export type ListFilesArgs = z.infer<typeof ListFilesArgs>;

export const ReadFileArgs = z
  .object({
    path: z.string().min(1).describe('File path relative to the repository root.'),
    startLine: z.number().int().min(1).optional().describe('First line to read (1-based).'),
    endLine: z.number().int().min(1).optional().describe('Last line to read (inclusive).'),
  })
  .strict();
export type ReadFileArgs = z.infer<typeof ReadFileArgs>;

export const SearchArgs = z
  .object({
    pattern: z.string().min(1).describe('JavaScript regular expression, matched line by line.'),
    glob: z
      .string()
      .optional()
      .describe('Only files matching this glob, e.g. "src/**/*.ts"; a glob without "/" matches file names, e.g. "*.py".'),
  })
  .strict();
export type SearchArgs = z.infer<typeof SearchArgs>;

const SKIPPED_DIRS = new Set(['.git', 'node_modules']);
const MAX_LINE = 400;
const MAX_SCANNED_FILES = 20_000;

const MAX_KEPT_MATCHES = 20_000;

interface Match {
  file: string;
  /** The file's directory, relative to the root ('' for the root). */
  dir: string;
  /** The answer line: `path:line: text`. */
  text: string;
}

/**
 * At most `budget` lines for more matches than that: matches are grouped by directory, the smallest
 * groups are shown whole while they fit, and every other group is one line saying how many matches it
 * holds, so that a few matches in one place are not buried under many in another (a generated
 * directory). In path order. Matches all in one directory are shown up to the budget.
 */
function summarizeMatches(matches: readonly Match[], budget: number): { lines: string[]; shown: number } {
  const groups = new Map<string, Match[]>();
  for (const m of matches) {
    const g = groups.get(m.dir);
    if (g) g.push(m);
    else groups.set(m.dir, [m]);
  }
  // All in one directory: nothing to narrow to but the pattern, so its first matches are shown.
  if (groups.size === 1) return { lines: matches.slice(0, budget).map((m) => m.text), shown: Math.min(budget, matches.length) };
  const listed = [...groups.keys()].slice(0, budget);
  let lines = listed.length;
  const open = new Set<string>();
  for (const dir of [...listed].sort((a, b) => groups.get(a)!.length - groups.get(b)!.length)) {
    const size = groups.get(dir)!.length;
    if (lines - 1 + size > budget) break;
    open.add(dir);
    lines += size - 1;
  }
  const out: string[] = [];
  for (const dir of listed) {
    const g = groups.get(dir)!;
    if (open.has(dir)) {
      out.push(...g.map((m) => m.text));
      continue;
    }
    const files = new Set(g.map((m) => m.file)).size;
    const where = dir === '' ? 'the top directory' : `${dir}/`;
    const glob = dir === '' ? '' : ` (glob "${dir}/*")`;
    out.push(`${where}: ${g.length} matches in ${files} files, not shown; search there${glob} to see them`);
  }
  if (listed.length < groups.size) out.push(`[matches in ${groups.size - listed.length} more directories not shown]`);
  return { lines: out, shown: [...open].reduce((n, dir) => n + groups.get(dir)!.length, 0) };
}

class Refusal extends Error {}
class ToolFailure extends Error {}

/**
 * The repository tools of one workspace. Every path is resolved against the root and refused when
 * it is absolute, leaves the root (`..`), or reaches outside it through a symbolic link; `.git` is
 * hidden. Refusals are told to the model as such, counted and logged; outputs are capped.
 */
export async function createRepoTools(opts: RepoToolsOptions): Promise<RepoTools> {
  const root = await realpath(opts.root);
  const maxOutput = opts.maxOutputChars ?? 12_000;
  const maxEntries = opts.maxEntries ?? 200;
  const maxMatches = opts.maxMatches ?? 50;
  const maxFileBytes = opts.maxFileBytes ?? 1_000_000;
  const stats: ToolStats = { calls: 0, errors: 0, refusals: 0 };

  function inside(abs: string): string | undefined {
    const rel = relative(root, abs);
    if (rel === '') return '.';
    if (rel.startsWith('..') || isAbsolute(rel)) return undefined;
    return rel.split(sep).join('/');
  }

  function hidden(rel: string): boolean {
    return rel.split('/').some((part) => part === '.git');
  }

  /** The real path of `p` inside the workspace, and its path relative to the root. */
  async function resolvePath(p: string): Promise<{ abs: string; rel: string }> {
    if (p.includes('\0')) throw new Refusal(`"${p}" is not a path`);
    if (isAbsolute(p)) throw new Refusal(`"${p}" is an absolute path; give a path relative to the repository root`);
    const lexical = inside(resolve(root, p));
    if (lexical === undefined) throw new Refusal(`"${p}" is outside the workspace`);
    if (hidden(lexical)) throw new Refusal(`"${p}" is hidden (.git is not readable)`);
    let real: string;
    try {
      real = await realpath(resolve(root, p));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        // A dangling link that points outside is refused like any link pointing outside.
        if (await escapesThroughLink(resolve(root, p))) throw new Refusal(`"${p}" is a symbolic link to a place outside the workspace`);
        throw new ToolFailure(`"${p}" does not exist`);
      }
      throw new ToolFailure(`"${p}" cannot be opened (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    const rel = inside(real);
    if (rel === undefined) throw new Refusal(`"${p}" is a symbolic link to a place outside the workspace`);
    if (hidden(rel)) throw new Refusal(`"${p}" is hidden (.git is not readable)`);
    return { abs: real, rel };
  }

  /** Whether a missing path passes through a symbolic link that leads outside the workspace. */
  async function escapesThroughLink(abs: string): Promise<boolean> {
    for (let dir = abs; inside(dir) !== undefined && inside(dir) !== '.'; dir = dirname(dir)) {
      try {
        if (!(await lstat(dir)).isSymbolicLink()) continue;
      } catch {
        continue;
      }
      try {
        return inside(await realpath(dir)) === undefined;
      } catch {
        return inside(resolve(dirname(dir), await readlink(dir))) === undefined;
      }
    }
    return false;
  }

  function cap(text: string): string {
    if (text.length <= maxOutput) return text;
    const cut = text.lastIndexOf('\n', maxOutput);
    const kept = text.slice(0, cut > 0 ? cut : maxOutput);
    return `${kept}\n[… ${text.length - kept.length} more characters; narrow the path or the pattern]`;
  }

  /** A directory entry as listed: its path, and for a directory what is below it (when recursive). */
  interface Entry {
    path: string;
    kind: 'file' | 'dir' | 'link';
    children?: Entry[];
    /** Entries below this directory, at every depth (recursive listings only). */
    below: number;
  }

  async function sortedEntries(dirAbs: string) {
    return (await readdir(dirAbs, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /**
   * Lists a directory within `maxEntries` lines whatever the repository's size. Recursive: the tree is
   * read (up to MAX_SCANNED_FILES entries), then directories are opened breadth first while their
   * entries still fit; a directory left closed is shown with how many entries are below it.
   */
  async function listFiles(args: ListFilesArgs): Promise<string> {
    const { abs, rel } = await resolvePath(args.dir);
    if (!(await stat(abs)).isDirectory()) throw new ToolFailure(`"${args.dir}" is not a directory; use read_file`);
    let scanned = 0;
    const read = async (dirAbs: string, dirRel: string, deep: boolean): Promise<Entry[]> => {
      const out: Entry[] = [];
      for (const e of await sortedEntries(dirAbs)) {
        if (e.name === '.git') continue;
        const path = dirRel === '.' ? e.name : `${dirRel}/${e.name}`;
        scanned += 1;
        if (e.isSymbolicLink()) out.push({ path, kind: 'link', below: 0 });
        else if (e.isDirectory()) {
          const children = deep && !SKIPPED_DIRS.has(e.name) && scanned < MAX_SCANNED_FILES ? await read(resolve(dirAbs, e.name), path, deep) : undefined;
          out.push({ path, kind: 'dir', ...(children && { children }), below: children ? children.reduce((n, c) => n + 1 + c.below, 0) : 0 });
        } else out.push({ path, kind: 'file', below: 0 });
      }
      return out;
    };
    const top = await read(abs, rel, args.recursive);
    if (top.length === 0) return `"${args.dir}" is empty`;
    // Open directories breadth first while the listing stays within maxEntries lines.
    const open = new Set<Entry>();
    let lines = Math.min(top.length, maxEntries);
    for (let queue = top.filter((e) => e.children); queue.length > 0; ) {
      const next: Entry[] = [];
      for (const d of queue) {
        if (lines + d.children!.length > maxEntries) continue;
        open.add(d);
        lines += d.children!.length;
        next.push(...d.children!.filter((e) => e.children));
      }
      queue = next;
    }
    const out: string[] = [];
    const render = (entries: Entry[]) => {
      for (const e of entries) {
        if (e.kind === 'link') out.push(`${e.path}@`);
        else if (e.kind === 'file') out.push(e.path);
        else if (open.has(e)) {
          out.push(`${e.path}/`);
          render(e.children!);
        } else out.push(e.children && e.children.length > 0 ? `${e.path}/ [${e.below} entries below, not listed]` : `${e.path}/`);
      }
    };
    render(top.slice(0, maxEntries));
    if (top.length > maxEntries) out.push(`[… ${top.length - maxEntries} more entries in "${args.dir}"; narrow the path, or search with a glob]`);
    else if (out.some((l) => l.endsWith('not listed]'))) out.push(`[listing kept to ${maxEntries} entries; list a directory to see inside it]`);
    if (scanned >= MAX_SCANNED_FILES) out.push(`[stopped reading after ${MAX_SCANNED_FILES} entries]`);
    return cap(out.join('\n'));
  }

  async function readText(abs: string, shown: string): Promise<string> {
    const info = await stat(abs);
    if (info.isDirectory()) throw new ToolFailure(`"${shown}" is a directory; use list_files`);
    if (info.size > maxFileBytes) throw new ToolFailure(`"${shown}" is ${info.size} bytes, larger than the ${maxFileBytes} bytes a tool reads`);
    const buf = await readFile(abs);
    if (buf.subarray(0, 8_000).includes(0)) throw new ToolFailure(`"${shown}" is a binary file (${buf.length} bytes)`);
    return buf.toString('utf8');
  }

  async function readFileTool(args: ReadFileArgs): Promise<string> {
    const { abs } = await resolvePath(args.path);
    const text = await readText(abs, args.path);
    if (text === '') return `"${args.path}" is empty`;
    const lines = text.split('\n');
    if (lines.length > 1 && lines.at(-1) === '') lines.pop();
    const total = lines.length;
    const first = args.startLine ?? 1;
    const last = Math.min(args.endLine ?? total, total);
    if (first > total) throw new ToolFailure(`"${args.path}" has ${total} lines; startLine ${first} is past the end`);
    if (last < first) throw new ToolFailure(`endLine ${args.endLine} is before startLine ${first}`);
    const out: string[] = [];
    let size = 0;
    let end = first - 1;
    for (let i = first; i <= last; i++) {
      const line = lines[i - 1]!;
      if (size + line.length + 1 > maxOutput && out.length > 0) break;
      out.push(line);
      size += line.length + 1;
      end = i;
    }
    const body = cap(out.join('\n'));
    if (first === 1 && end === total) return body;
    const more = end < total ? `; read on with startLine ${end + 1}` : '';
    return `${body}\n[lines ${first}-${end} of ${total}${more}]`;
  }

  async function searchTool(args: SearchArgs): Promise<string> {
    let re: RegExp;
    try {
      re = new RegExp(args.pattern);
    } catch (err) {
      throw new ToolFailure(`invalid regular expression: ${(err as Error).message}`);
    }
    const matches: Match[] = [];
    // Past MAX_KEPT_MATCHES the search goes on counting only.
    let uncounted = 0;
    let stopped = false;
    let scanned = 0;
    const wanted = (rel: string, name: string) => !args.glob || matchesGlob(args.glob.includes('/') ? rel : name, args.glob);
    const walk = async (dirAbs: string, dirRel: string): Promise<void> => {
      for (const e of await sortedEntries(dirAbs)) {
        if (stopped) return;
        const rel = dirRel === '' ? e.name : `${dirRel}/${e.name}`;
        const abs = resolve(dirAbs, e.name);
        if (e.isDirectory()) {
          if (!SKIPPED_DIRS.has(e.name)) await walk(abs, rel);
          continue;
        }
        if (!e.isFile() || !wanted(rel, e.name)) continue;
        if (++scanned > MAX_SCANNED_FILES) {
          stopped = true;
          return;
        }
        const handle = await open(abs, 'r');
        let text: string;
        try {
          const info = await handle.stat();
          if (info.size > maxFileBytes) continue;
          const buf = await handle.readFile();
          if (buf.subarray(0, 8_000).includes(0)) continue;
          text = buf.toString('utf8');
        } finally {
          await handle.close();
        }
        const lines = text.split('\n');
        for (let i = 0; i < lines.length; i++) {
          const line = lines[i]!.length > MAX_LINE * 4 ? lines[i]!.slice(0, MAX_LINE * 4) : lines[i]!;
          if (!re.test(line)) continue;
          if (matches.length >= MAX_KEPT_MATCHES) {
            uncounted += 1;
            continue;
          }
          matches.push({ file: rel, dir: dirRel, text: `${rel}:${i + 1}: ${line.length > MAX_LINE ? `${line.slice(0, MAX_LINE)}…` : line}` });
        }
      }
    };
    await walk(root, '');
    const notes: string[] = [];
    if (stopped) notes.push(`[stopped after searching ${MAX_SCANNED_FILES} files; narrow the glob]`);
    if (matches.length === 0) return [`no matches for /${args.pattern}/${args.glob ? ` in ${args.glob}` : ''}`, ...notes].join('\n');
    if (matches.length <= maxMatches && uncounted === 0) return [cap(matches.map((m) => m.text).join('\n')), ...notes].join('\n');
    const { lines, shown } = summarizeMatches(matches, maxMatches);
    const total = matches.length + uncounted;
    notes.unshift(`[${total - shown} of ${total} matches not shown; narrow the pattern or the glob]`);
    // The notes come last and are never cut.
    return [cap(lines.join('\n')), ...notes].join('\n');
  }

  const tools = {
    list_files: {
      args: ListFilesArgs,
      description:
        'List the files and directories of a repository directory (directories end with "/", symbolic links with "@"). Large listings are kept short: directories whose contents do not fit are shown with their entry count; list them to see inside.',
      run: listFiles,
    },
    read_file: {
      args: ReadFileArgs,
      description: 'Read a text file of the repository, whole or a range of lines.',
      run: readFileTool,
    },
    search: {
      args: SearchArgs,
      description:
        'Search the repository files for lines matching a regular expression; answers "path:line: text". When there are many matches, a directory holding many of them is answered as a count: narrow the glob to see them.',
      run: searchTool,
    },
  } as const;

  const definitions: ToolDefinition[] = Object.entries(tools).map(([name, t]) => ({
    type: 'function',
    function: { name, description: t.description, parameters: jsonSchemaOf(t.args) },
  }));

  async function run(name: string, args: unknown): Promise<ToolOutput> {
    stats.calls += 1;
    const tool = (tools as Record<string, (typeof tools)[keyof typeof tools]>)[name];
    if (!tool) {
      stats.errors += 1;
      return { status: 'error', content: `error: there is no tool "${name}"; the tools are ${Object.keys(tools).join(', ')}` };
    }
    const parsed = tool.args.safeParse(args ?? {});
    if (!parsed.success) {
      stats.errors += 1;
      return { status: 'error', content: `error: invalid arguments for ${name}: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}` };
    }
    try {
      return { status: 'ok', content: await (tool.run as (a: unknown) => Promise<string>)(parsed.data) };
    } catch (err) {
      if (err instanceof Refusal) {
        stats.refusals += 1;
        opts.log?.warn({ tool: name, args, reason: err.message }, 'tool call refused');
        return { status: 'refused', content: `refused: ${err.message}` };
      }
      stats.errors += 1;
      if (err instanceof ToolFailure) return { status: 'error', content: `error: ${err.message}` };
      opts.log?.warn({ tool: name, args, err }, 'tool call failed');
      return { status: 'error', content: `error: ${(err as Error).message}` };
    }
  }

  return { root, definitions, run, stats: () => ({ ...stats }) };
}
