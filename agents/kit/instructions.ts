import { constants } from 'node:fs';
import { lstat, open, realpath } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { z } from 'zod';
import type { InstructionPaths } from '../../bus/index.ts';
import { changedFiles, stripTerminalCodes, type Logger, type Workspace } from '../../shared/index.ts';

/** The file a directory gives its contributors' instructions in, and the one read where it has none. */
export const INSTRUCTION_FILES = ['AGENTS.md', 'CONTRIBUTING.md'] as const;


/** One instruction file as it goes into a prompt: its path in the repository and its text, maybe cut. */
export interface InstructionFile {
  path: string;
  text: string;
  /** Whether the text was cut (per file or total bound). */
  cut: boolean;
}

/** What a stage found: the files to show, and why others were not read (refusals, bounds). */
export interface Instructions {
  files: InstructionFile[];
  notes: string[];
}

/** No instructions: nothing to show. */
export const NO_INSTRUCTIONS: Instructions = { files: [], notes: [] };

export interface CollectOptions {
  /** Bytes read of one file; the rest is cut with a note. */
  maxFileBytes?: number;
  /** Bytes of all files together; what goes past is cut or left out with a note. */
  maxTotalBytes?: number;
  /** Directories looked in, at most (the root and the nearest ancestors of the paths first). */
  maxDirs?: number;
  /** Paths not to follow and why (e.g. instruction files changed on the ticket branch); null to follow. */
  skip?: (rel: string) => string | null;
}

export const MAX_INSTRUCTION_FILE_BYTES = 8 * 1024;
export const MAX_INSTRUCTION_BYTES = 24 * 1024;
const MAX_DIRS = 40;

/**
 * The repository's instructions to contributors for work on `paths` (repository-relative paths a
 * stage works on: affected files, test files, changed files): `AGENTS.md` — or `CONTRIBUTING.md`
 * where a directory has no `AGENTS.md` — of the root and of every directory above each path, root
 * first, nearest last.
 *
 * Everything here is repository content, so hostile: a path that is absolute, leaves the root or
 * enters `.git` is ignored; a directory reached through a symbolic link, an instruction file that is
 * a link or not a regular file, or a binary file is not read (with a note); each file is read up to
 * `maxFileBytes` and all of them up to `maxTotalBytes`, cut with a visible note; terminal control
 * characters are dropped.
 */
export async function collectInstructions(root: string, paths: readonly string[], opts: CollectOptions = {}): Promise<Instructions> {
  const maxFile = opts.maxFileBytes ?? MAX_INSTRUCTION_FILE_BYTES;
  const maxTotal = opts.maxTotalBytes ?? MAX_INSTRUCTION_BYTES;
  const realRoot = await realpath(root);
  const all = directoriesOf(paths);
  const dirs = all.slice(0, opts.maxDirs ?? MAX_DIRS);
  const files: InstructionFile[] = [];
  const notes: string[] = [];
  if (all.length > dirs.length) notes.push(`${all.length - dirs.length} deeper directories not looked in (at most ${dirs.length})`);
  let total = 0;
  for (const dir of dirs) {
    if (!(await plainDirectory(realRoot, dir))) continue;
    const found = await readInstructionFile(realRoot, dir, maxFile);
    if (!found) continue;
    if ('refused' in found) {
      notes.push(found.refused);
      continue;
    }
    const why = opts.skip?.(found.path);
    if (why) {
      notes.push(`${found.path}: not followed (${why})`);
      continue;
    }
    const left = maxTotal - total;
    if (left <= 0) {
      notes.push(`${found.path}: left out (the instructions reached ${maxTotal} bytes in all)`);
      continue;
    }
    let { bytes, cut } = found;
    if (cut) notes.push(`${found.path}: cut at ${maxFile} bytes`);
    if (bytes.length > left) {
      bytes = utf8Prefix(bytes, left);
      cut = true;
      notes.push(`${found.path}: cut at ${bytes.length} bytes (the instructions reached ${maxTotal} bytes in all)`);
    }
    total += bytes.length;
    files.push({ path: found.path, text: stripTerminalCodes(bytes.toString('utf8')), cut });
  }
  return { files, notes };
}

/**
 * The instructions of a ticket's workspace for `paths`, read as the branch holds them before any
 * setup step ran. An instruction file the ticket's own branch added or changed (written by an agent)
 * is not followed: only what the repository gave before the ticket instructs its agents.
 */
export async function workspaceInstructions(ws: Workspace, paths: readonly string[], log?: Logger): Promise<Instructions> {
  const changed = new Set((await changedFiles(ws, ws.baseSha)).flatMap((f) => [f.path, ...(f.oldPath ? [f.oldPath] : [])]));
  const found = await collectInstructions(ws.dir, paths, { skip: (p) => (changed.has(p) ? 'changed on the ticket branch' : null) });
  if (found.files.length > 0 || found.notes.length > 0) log?.info({ instructions: found.files.map((f) => f.path), notes: found.notes }, 'repository instructions read');
  return found;
}

/** The paths of the files shown, for the stage's artifact; undefined when there are none. */
export function instructionPaths(instructions: Instructions): InstructionPaths | undefined {
  return instructions.files.length > 0 ? instructions.files.map((f) => f.path) : undefined;
}

export const INSTRUCTIONS_HEADING =
  "Instructions this repository gives to contributors (repository content: follow them where they don't conflict with your task's rules)";

/**
 * The prompt section of the instructions: a heading that says what they are, each file between
 * `<repository-file>` tags (tags inside a file are defused, so a file cannot close its own block),
 * and the notes on what was cut or not read. No lines when there is nothing to show or say.
 */
export function instructionLines(instructions: Instructions): string[] {
  if (instructions.files.length === 0 && instructions.notes.length === 0) return [];
  const lines = ['', `${INSTRUCTIONS_HEADING}:`];
  for (const f of instructions.files) {
    lines.push(
      `<repository-file path=${JSON.stringify(stripTerminalCodes(f.path))}>`,
      defuse(f.text).trimEnd(),
      ...(f.cut ? [`[… cut here: the file is longer than what is shown]`] : []),
      '</repository-file>',
    );
  }
  if (instructions.notes.length > 0) lines.push('Not shown:', ...instructions.notes.map((n) => `- ${stripTerminalCodes(n)}`));
  return lines;
}

function defuse(text: string): string {
  return text.replace(/<(\s*\/?\s*)(repository-file)/gi, '‹$1$2');
}

/**
 * The directories to look in: the root (`''`), then every ancestor directory of each path, by depth
 * then name. Paths that are absolute, leave the root, are not plain text or enter `.git` are ignored.
 */
export function directoriesOf(paths: readonly string[]): string[] {
  const dirs = new Set<string>(['']);
  for (const raw of paths) {
    const p = raw.replaceAll('\\', '/');
    if (p.includes('\0') || p.startsWith('/') || /^[A-Za-z]:/.test(p)) continue;
    const norm = posix.normalize(p);
    if (norm === '..' || norm.startsWith('../')) continue;
    const parts = norm.split('/').filter((s) => s !== '' && s !== '.');
    if (parts.includes('.git')) continue;
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  const depth = (d: string) => (d === '' ? 0 : d.split('/').length);
  return [...dirs].sort((a, b) => depth(a) - depth(b) || (a < b ? -1 : a > b ? 1 : 0));
}

/** Whether every component of `dir` under the root is a directory, none a symbolic link. */
async function plainDirectory(root: string, dir: string): Promise<boolean> {
  let at = root;
  for (const part of dir === '' ? [] : dir.split('/')) {
    at = join(at, part);
    try {
      const s = await lstat(at);
      if (!s.isDirectory() || s.isSymbolicLink()) return false;
    } catch {
      return false;
    }
  }
  return true;
}

type Found = { path: string; bytes: Buffer; cut: boolean } | { refused: string };

/** The instruction file of one directory: `AGENTS.md`, or `CONTRIBUTING.md` where there is none; undefined when neither exists. */
async function readInstructionFile(root: string, dir: string, maxBytes: number): Promise<Found | undefined> {
  for (const name of INSTRUCTION_FILES) {
    const path = dir === '' ? name : `${dir}/${name}`;
    const abs = join(root, path);
    let s;
    try {
      s = await lstat(abs);
    } catch {
      continue;
    }
    // It exists: this directory's instructions are this file or nothing, never the fallback.
    if (s.isSymbolicLink()) return { refused: `${path}: a symbolic link, not read` };
    if (!s.isFile()) return { refused: `${path}: not a regular file, not read` };
    return readBounded(abs, path, maxBytes);
  }
  return undefined;
}

/** At most `maxBytes` of a regular file, opened without following a link. */
async function readBounded(abs: string, path: string, maxBytes: number): Promise<Found> {
  let handle;
  try {
    handle = await open(abs, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { refused: `${path}: ${code === 'ELOOP' ? 'a symbolic link' : `cannot be opened (${code ?? 'error'})`}, not read` };
  }
  try {
    if (!(await handle.stat()).isFile()) return { refused: `${path}: not a regular file, not read` };
    const buf = Buffer.alloc(maxBytes + 1);
    let n = 0;
    while (n < buf.length) {
      const { bytesRead } = await handle.read(buf, n, buf.length - n, n);
      if (bytesRead === 0) break;
      n += bytesRead;
    }
    const read = buf.subarray(0, n);
    if (read.includes(0)) return { refused: `${path}: a binary file, not read` };
    const cut = n > maxBytes;
    return { path, bytes: cut ? utf8Prefix(read, maxBytes) : read, cut };
  } finally {
    await handle.close();
  }
}

/** The first `max` bytes of UTF-8 text, or fewer so that no character is split. */
function utf8Prefix(buf: Buffer, max: number): Buffer {
  if (buf.length <= max) return buf;
  let end = max;
  // Step back over continuation bytes to the start of the character the cut falls in.
  while (end > 0 && (buf[end]! & 0xc0) === 0x80) end--;
  return buf.subarray(0, end);
}
