import { createHash, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { git } from './git.ts';
import { remoteOptions, WorkspaceError, type GitRemote } from './workspace.ts';

/*
 * One bare mirror per repository on each agent's machine, so that a stage does not clone the whole
 * repository from its origin: the mirror is brought up to date with one incremental `git fetch`, and
 * the stage's workspace is cloned from it locally.
 *
 * What the mirror is, and why it is safe to keep:
 * - created by us with `git init --bare --template=` (no hooks, no template files); fetch only ever
 *   brings objects and refs, never a repository's configuration or hooks, and nothing in it is ever
 *   checked out or run on the host;
 * - it has no remote configured: every fetch names the origin's URL and one refspec
 *   (`+refs/heads/*:refs/heads/*`, pruned), with the remote's credentials in the environment only
 *   (GitRemote.env), never written to its configuration; transports are restricted as for any command;
 * - it is never pushed to: workspaces push the ticket branch straight to the origin, and the next
 *   fetch brings it into the mirror;
 * - what a fetch brings is kept as one pack (never as loose objects, which a local clone would link
 *   one file at a time); past MAX_PACKS packs they are repacked into one, under the lock. Repacking
 *   drops what no branch reaches any more, which harms no workspace: each one's objects are its own
 *   hard links (see openWorkspace), not borrowed from the mirror.
 */

/** Where the mirror of `url` lives under `cacheDir`: a hash of the URL, so no URL text reaches a path. */
export function mirrorPath(cacheDir: string, url: string): string {
  return join(resolve(cacheDir), `${createHash('sha256').update(url).digest('hex').slice(0, 32)}.git`);
}

export interface MirrorOptions {
  /** Directory holding the mirrors. */
  cacheDir: string;
  remote: GitRemote;
  /** Also read the origin's default branch and point the mirror's HEAD at it (one more round trip). */
  followHead?: boolean;
  /** How long to wait for another process holding the mirror's lock. Default 10 minutes. */
  lockWaitMs?: number;
  /** Packs past which the mirror is repacked into one. Default MAX_PACKS. */
  maxPacks?: number;
}

/** Packs a mirror may hold before it is repacked (one pack per fetch that brought something). */
export const MAX_PACKS = 20;

/**
 * Brings the mirror of `remote` up to date (creating it the first time) under the mirror's lock, then
 * runs `use` with its path while still holding the lock, so that what `use` reads (a local clone) is
 * not pruned under it.
 */
export async function withMirror<T>(opts: MirrorOptions, use: (mirror: string) => Promise<T>): Promise<T> {
  const path = mirrorPath(opts.cacheDir, opts.remote.url);
  mkdirSync(resolve(opts.cacheDir), { recursive: true });
  return withLock(`${path}.lock`, async () => {
    if (!existsSync(join(path, 'HEAD'))) {
      rmSync(path, { recursive: true, force: true });
      await git('/', ['init', '--quiet', '--bare', '--template=', path]);
    }
    const remote = await remoteOptions(opts.remote);
    // Generous: the first fetch of a large repository is a whole clone.
    const timeoutMs = 600_000;
    const fetch = ['-c', 'fetch.unpackLimit=1', 'fetch', '--quiet', '--prune', '--no-tags', '--no-write-fetch-head', '--', opts.remote.url, '+refs/heads/*:refs/heads/*'];
    await git(path, fetch, { ...remote, gitDir: path, timeoutMs });
    if (packCount(path) > (opts.maxPacks ?? MAX_PACKS)) await git(path, ['repack', '-a', '-d', '-q'], { gitDir: path, timeoutMs });
    if (opts.followHead) {
      const out = await git(path, ['ls-remote', '--symref', '--', opts.remote.url, 'HEAD'], { ...remote, gitDir: path, timeoutMs });
      const m = /^ref: refs\/heads\/(\S+)\tHEAD$/m.exec(out);
      if (m) await git(path, ['symbolic-ref', 'HEAD', `refs/heads/${m[1]}`], { gitDir: path });
    }
    return use(path);
  }, opts.lockWaitMs);
}

function packCount(mirror: string): number {
  try {
    return readdirSync(join(mirror, 'objects', 'pack')).filter((f) => f.endsWith('.pack')).length;
  } catch {
    return 0;
  }
}

/** The lock's owner, as written in `<lock>/owner`. */
interface LockOwner {
  pid: number;
  host: string;
  token: string;
}

/** A lock whose owner file was not touched for this long is abandoned (its holder refreshes it every few seconds). */
export const LOCK_STALE_MS = 60_000;
const LOCK_REFRESH_MS = 5_000;

/**
 * Runs `fn` holding the lock `lockDir`, across processes on one machine: the lock is a directory
 * (`mkdir` is atomic: one process creates it, the others get EEXIST) holding its owner's pid, host and
 * a random token. A holder refreshes the owner file's time while it holds the lock. A waiter takes over
 * a lock whose holder is gone: a process of this host that no longer exists, or an owner file not
 * refreshed for LOCK_STALE_MS (a crashed holder on another host sharing the directory). Release removes
 * the lock only if it is still ours.
 *
 * Taking over a stale lock renames it away first (only one waiter's rename succeeds) and puts it back
 * if it turns out to have been fresh. This lock orders work and avoids fetching twice; it is not what
 * keeps the mirror consistent: git's own ref locks do that, and a fetch that loses a race with another
 * fails with a retryable error.
 */
export async function withLock<T>(lockDir: string, fn: () => Promise<T>, waitMs = 600_000): Promise<T> {
  const me: LockOwner = { pid: process.pid, host: hostname(), token: randomUUID() };
  const ownerFile = join(lockDir, 'owner');
  const deadline = Date.now() + waitMs;
  for (let delay = 10; ; delay = Math.min(delay * 2, 250)) {
    try {
      mkdirSync(lockDir);
      writeFileSync(ownerFile, JSON.stringify(me));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const seen = readOwner(ownerFile);
    if (abandoned(lockDir, ownerFile, seen)) {
      takeOver(lockDir, seen);
      continue;
    }
    if (Date.now() > deadline) throw new WorkspaceError('mirror_locked', `the repository mirror is locked by another process (${lockDir})`, true);
    await new Promise((r) => setTimeout(r, delay));
  }
  const refresh = setInterval(() => {
    try {
      const now = new Date();
      utimesSync(ownerFile, now, now);
    } catch {
      // Taken over (we were stalled past LOCK_STALE_MS): nothing to refresh.
    }
  }, LOCK_REFRESH_MS);
  refresh.unref();
  try {
    return await fn();
  } finally {
    clearInterval(refresh);
    if (readOwner(ownerFile)?.token === me.token) rmSync(lockDir, { recursive: true, force: true });
  }
}

function readOwner(file: string): LockOwner | null {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as LockOwner;
  } catch {
    return null;
  }
}

/** Whether a held lock's holder is gone. A lock without an owner file yet is judged by the directory's age. */
function abandoned(lockDir: string, ownerFile: string, owner: LockOwner | null): boolean {
  if (owner && owner.host === hostname() && !processAlive(owner.pid)) return true;
  try {
    return Date.now() - statSync(owner ? ownerFile : lockDir).mtimeMs > LOCK_STALE_MS;
  } catch {
    return false; // released meanwhile: try again
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes an abandoned lock; if another waiter replaced it meanwhile by a fresh one, puts that back. */
function takeOver(lockDir: string, judged: LockOwner | null): void {
  const aside = `${lockDir}.stale-${randomUUID()}`;
  try {
    renameSync(lockDir, aside);
  } catch {
    return; // another waiter took it first
  }
  const moved = readOwner(join(aside, 'owner'));
  if (moved !== null && moved.token !== judged?.token) {
    try {
      renameSync(aside, lockDir);
      return;
    } catch {
      // someone else holds the lock now; the holder we moved finds its lock gone and leaves it
    }
  }
  rmSync(aside, { recursive: true, force: true });
}
