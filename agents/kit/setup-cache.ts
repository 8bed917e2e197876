import { execFile } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { promisify } from 'node:util';
import { z } from 'zod';
import type { RepoProfile } from '../../sandbox/index.ts';
import { workspaceGit, WorkspaceError, type Logger, type Workspace } from '../../shared/index.ts';

const execFileAsync = promisify(execFile);

/** How many prepared setups a machine keeps; the oldest go first. */
const MAX_ENTRIES = 8;
/** How long a kept setup may be reused: past it, the setup runs again (a registry may have moved). */
const TTL_MS = 3_600_000;
/** What an entry records of itself, written last: an entry without it is incomplete. */
const MANIFEST = 'paths.json';
const Manifest = z.object({ paths: z.array(z.string()) });

/**
 * What a stage's dependency setup left in a ticket's workspace (node_modules, a virtualenv…), kept
 * on this machine so that the retries and redeliveries of a stage on the same commit skip the setup:
 * a model endpoint failing a stage five times costs one `npm ci`, not five.
 *
 * An entry is keyed by the ticket, the commit the workspace is on, and the whole setup (image, commands,
 * environment, network): other inputs, another key. It is copied out right after the setup ran and
 * before anything else did (no test, no model-written code), and copied back into a fresh clone, so
 * what it holds is exactly what running the setup there again would have left. Entries live under
 * `<NIGHTSHIFT_WORKSPACES_DIR>/.setups`, at most MAX_ENTRIES of them, each reused for TTL_MS.
 */
export class SetupCache {
  readonly #dir: string;
  readonly #log: Logger;

  constructor(dir: string, log: Logger) {
    this.#dir = dir;
    this.#log = log;
  }

  /** The key of `ws`'s setup under `profile`, or null when the workspace's commit cannot be read. */
  async keyOf(ws: Workspace, profile: RepoProfile): Promise<string | null> {
    const head = await workspaceGit(ws, ['rev-parse', '--verify', 'HEAD^{commit}']).catch(() => null);
    if (head === null) return null;
    const inputs = [ws.ticketId, head.trim(), profile.image, profile.setup, profile.env, profile.setupNetwork];
    return createHash('sha256').update(JSON.stringify(inputs)).digest('hex').slice(0, 32);
  }

  /** Copies a kept setup back into `dir`; false when there is none (or it cannot be read whole). */
  async restore(key: string, dir: string): Promise<boolean> {
    const entry = join(this.#dir, key);
    try {
      const manifest = join(entry, MANIFEST);
      if (Date.now() - (await stat(manifest)).mtimeMs > TTL_MS) return false;
      const { paths } = Manifest.parse(JSON.parse(await readFile(manifest, 'utf8')));
      for (const p of paths) await copy(join(entry, 'tree', safe(p)), join(dir, safe(p)));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.#log.warn({ err, key }, 'a kept setup could not be restored; running the setup');
      return false;
    }
  }

  /** Keeps `paths` of `dir` (what the setup left) under `key`, replacing nothing another process kept first. */
  async save(key: string, dir: string, paths: readonly string[]): Promise<void> {
    await mkdir(this.#dir, { recursive: true });
    const tmp = join(this.#dir, `.tmp-${randomUUID()}`);
    try {
      for (const p of paths) await copy(join(dir, safe(p)), join(tmp, 'tree', safe(p)));
      await mkdir(tmp, { recursive: true });
      await writeFile(join(tmp, MANIFEST), JSON.stringify({ paths }));
      await rename(tmp, join(this.#dir, key)).catch((err: NodeJS.ErrnoException) => {
        // Kept already, by another process on this machine: theirs is as good.
        if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err;
      });
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
    await this.#evict();
  }

  /** Removes entries past TTL_MS, then the oldest beyond MAX_ENTRIES, and leftovers of interrupted saves. */
  async #evict(): Promise<void> {
    const entries: { path: string; at: number }[] = [];
    for (const name of await readdir(this.#dir)) {
      const path = join(this.#dir, name);
      const at = await stat(join(path, MANIFEST)).then((s) => s.mtimeMs, () => (name.startsWith('.tmp-') ? stat(path).then((s) => s.mtimeMs, () => 0) : 0));
      entries.push({ path, at });
    }
    entries.sort((a, b) => b.at - a.at);
    const stale = entries.filter((e, i) => i >= MAX_ENTRIES || Date.now() - e.at > TTL_MS);
    await Promise.all(stale.map((e) => rm(e.path, { recursive: true, force: true })));
  }
}

/** A setup cache for a ticket workspace root (`NIGHTSHIFT_WORKSPACES_DIR`). */
export function setupCacheIn(workspacesDir: string, log: Logger): SetupCache {
  return new SetupCache(join(workspacesDir, '.setups'), log);
}

/** A path the workspace listed, checked to stay inside it (it comes from git, but is a repository's name). */
function safe(p: string): string {
  const norm = posix.normalize(p.replace(/\/+$/, ''));
  if (norm === '' || norm === '.' || posix.isAbsolute(norm) || norm === '..' || norm.startsWith('../')) throw new WorkspaceError('refused_path', `refused setup output path ${JSON.stringify(p)}`);
  return norm;
}

/** Copies a file or tree as it is: modes, times, owners when root, symbolic links as links (never followed). */
async function copy(from: string, to: string): Promise<void> {
  await mkdir(dirname(to), { recursive: true });
  await execFileAsync('cp', ['-a', '--no-target-directory', '--', from, to], { timeout: 600_000 });
}
