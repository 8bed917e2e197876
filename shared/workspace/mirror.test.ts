import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeRepo } from '../../test/helpers/git.ts';
import { git } from './git.ts';
import { LOCK_STALE_MS, mirrorPath, withLock, withMirror } from './mirror.ts';
import { pushBranch } from './push.ts';
import { commitAll, openWorkspace, ticketBranch, workspaceGit } from './workspace.ts';
import { scaled } from '../../test/helpers/wait.ts';

const ID = 'tk-0123456789';
const made: string[] = [];
afterEach(() => {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
});
const keep = (d: string) => (made.push(d), d);
const repo = () => keep(makeRepo());
const tmp = () => keep(mkdtempSync(join(tmpdir(), 'ns-mirror-')));
const identity = { name: 't', email: 't@example.invalid' };

async function commitOnOrigin(origin: string, file: string, branch = 'main'): Promise<string> {
  await git(origin, ['checkout', '--quiet', branch]);
  writeFileSync(join(origin, file), `${file}\n`);
  await git(origin, ['add', file]);
  await git(origin, ['commit', '--quiet', '-m', file], { identity });
  return (await git(origin, ['rev-parse', 'HEAD'])).trim();
}

describe('workspaces from a cached mirror', { timeout: scaled(120_000) }, () => {
  it('opens on the base branch, resumes a pushed ticket branch, and sees the origin as it is at each open', async () => {
    const origin = repo();
    const root = tmp();
    const cacheDir = join(root, '.mirrors');
    const first = await openWorkspace({ repo: { path: origin }, ticketId: ID, root, cacheDir });
    const main1 = (await git(origin, ['rev-parse', 'main'])).trim();
    expect(first).toMatchObject({ branch: ticketBranch(ID), baseBranch: 'main', baseSha: main1, resumed: false });
    writeFileSync(join(first.dir, 'a.test.js'), 'test\n');
    const sha = await commitAll(first, { role: 'test-author', message: 'tests' });
    await pushBranch(first);
    await first.dispose();
    expect((await git(origin, ['rev-parse', 'main'])).trim()).toBe(main1);

    // The origin moves on: the next open fetches it into the mirror.
    const main2 = await commitOnOrigin(origin, 'second.md');
    await using second = await openWorkspace({ repo: { path: origin }, ticketId: ID, root, cacheDir });
    expect(second).toMatchObject({ resumed: true, baseSha: main2 });
    expect((await workspaceGit(second, ['rev-parse', 'HEAD'])).trim()).toBe(sha);
    expect(readFileSync(join(second.dir, 'a.test.js'), 'utf8')).toBe('test\n');

    // One mirror for the repository, bare, with no hooks, no remote and no credentials configured.
    const mirror = mirrorPath(cacheDir, origin);
    expect(readdirSync(cacheDir).filter((d) => d.endsWith('.git'))).toEqual([mirror.slice(cacheDir.length + 1)]);
    expect(existsSync(join(mirror, 'hooks'))).toBe(false);
    const config = readFileSync(join(mirror, 'config'), 'utf8');
    expect(config).toContain('bare = true');
    expect(config).not.toContain('[remote');
    expect((await git(mirror, ['for-each-ref', '--format=%(refname)'], { gitDir: mirror })).trim().split('\n').sort()).toEqual([
      'refs/heads/main',
      `refs/heads/${ticketBranch(ID)}`,
    ]);
  });

  it('prunes branches the origin deleted, and a workspace opened before keeps every object it needs', async () => {
    const origin = repo();
    const root = tmp();
    const cacheDir = join(root, '.mirrors');
    await git(origin, ['checkout', '--quiet', '-b', 'feature']);
    const featureSha = await commitOnOrigin(origin, 'feature.md', 'feature');
    await git(origin, ['checkout', '--quiet', 'main']);
    await using early = await openWorkspace({ repo: { path: origin, baseBranch: 'feature' }, ticketId: ID, root, cacheDir });
    expect(early.baseSha).toBe(featureSha);
    await git(origin, ['branch', '--quiet', '-D', 'feature']);
    await using later = await openWorkspace({ repo: { path: origin }, ticketId: 'tk-1123456789', root, cacheDir });
    expect(later.resumed).toBe(false);
    const mirror = mirrorPath(cacheDir, origin);
    expect((await git(mirror, ['for-each-ref', '--format=%(refname)'], { gitDir: mirror })).trim()).toBe('refs/heads/main');
    // Not borrowed through alternates: the earlier workspace is whole on its own.
    expect(existsSync(join(early.gitDir, 'objects', 'info', 'alternates'))).toBe(false);
    expect(await workspaceGit(early, ['fsck', '--no-progress', '--connectivity-only'])).toBeDefined();
    expect(readFileSync(join(early.dir, 'feature.md'), 'utf8')).toBe('feature.md\n');
  });

  it('follows the origin default branch when the ticket names none', async () => {
    const origin = repo();
    await git(origin, ['checkout', '--quiet', '-b', 'trunk']);
    const trunk = await commitOnOrigin(origin, 'trunk.md', 'trunk');
    const root = tmp();
    await using ws = await openWorkspace({ repo: { path: origin }, ticketId: ID, root, cacheDir: join(root, '.mirrors') });
    expect(ws).toMatchObject({ baseBranch: 'trunk', baseSha: trunk });
  });

  it('never takes hooks or configuration from the origin', async () => {
    const origin = repo();
    const marker = join(tmp(), 'ran');
    writeFileSync(join(origin, '.git', 'hooks', 'post-checkout'), `#!/bin/sh\ntouch ${marker}\n`);
    chmodSync(join(origin, '.git', 'hooks', 'post-checkout'), 0o755);
    await git(origin, ['config', 'core.fsmonitor', `touch ${marker}`]);
    const root = tmp();
    await using ws = await openWorkspace({ repo: { path: origin }, ticketId: ID, root, cacheDir: join(root, '.mirrors') });
    writeFileSync(join(ws.dir, 'x.js'), 'x\n');
    await commitAll(ws, { role: 'coder', message: 'x' });
    expect(existsSync(marker)).toBe(false);
    expect(readFileSync(join(mirrorPath(join(root, '.mirrors'), origin), 'config'), 'utf8')).not.toContain('fsmonitor');
  });

  it('opens many workspaces of one repository at once, each whole', async () => {
    const origin = repo();
    const root = tmp();
    const cacheDir = join(root, '.mirrors');
    const ids = Array.from({ length: 6 }, (_, i) => `tk-${String(i).padStart(10, '0')}`);
    const all = await Promise.all(ids.map((ticketId) => openWorkspace({ repo: { path: origin }, ticketId, root, cacheDir })));
    try {
      for (const ws of all) expect(readFileSync(join(ws.dir, 'README.md'), 'utf8')).toBe('# fixture\n');
      expect(existsSync(`${mirrorPath(cacheDir, origin)}.lock`)).toBe(false);
    } finally {
      for (const ws of all) await ws.dispose();
    }
  });
});

describe('the mirror store', { timeout: scaled(120_000) }, () => {
  it('keeps what each fetch brings as a pack, and repacks past the pack bound without harming an open workspace', async () => {
    const origin = repo();
    const root = tmp();
    const cacheDir = join(root, '.mirrors');
    const remote = { url: origin };
    const mirror = mirrorPath(cacheDir, origin);
    const packs = () => readdirSync(join(mirror, 'objects', 'pack')).filter((f) => f.endsWith('.pack')).length;
    const loose = () => readdirSync(join(mirror, 'objects')).filter((d) => /^[0-9a-f]{2}$/.test(d)).length;
    await git(origin, ['checkout', '--quiet', '-b', 'gone']);
    await commitOnOrigin(origin, 'gone.md', 'gone');
    await withMirror({ cacheDir, remote, maxPacks: 3 }, async () => undefined);
    await using ws = await openWorkspace({ repo: { path: origin, baseBranch: 'gone' }, ticketId: ID, root, cacheDir });
    await git(origin, ['checkout', '--quiet', 'main']);
    await git(origin, ['branch', '--quiet', '-D', 'gone']);
    const counts: number[] = [];
    for (let i = 0; i < 4; i++) {
      await commitOnOrigin(origin, `f${i}.md`);
      await withMirror({ cacheDir, remote, maxPacks: 3 }, async () => undefined);
      counts.push(packs());
      expect(loose()).toBe(0);
    }
    // One pack from the first fetch, one per fetch after; a fourth pack passes the bound of 3: all become one.
    expect(counts).toEqual([2, 3, 1, 2]);
    expect((await git(mirror, ['for-each-ref', '--format=%(refname)'], { gitDir: mirror })).trim()).toBe('refs/heads/main');
    // The repack dropped the deleted branch's commit from the mirror; the workspace opened on it still has it.
    await expect(git(mirror, ['cat-file', '-e', `${ws.baseSha}^{commit}`], { gitDir: mirror })).rejects.toThrow();
    expect(await workspaceGit(ws, ['fsck', '--no-progress', '--connectivity-only'])).toBeDefined();
    expect((await workspaceGit(ws, ['rev-parse', 'HEAD'])).trim()).toBe(ws.baseSha);
  });
});

describe('the mirror lock', { timeout: scaled(120_000) }, () => {
  it('lets one holder in at a time, within this process', async () => {
    const lock = join(tmp(), 'm.lock');
    let inside = 0;
    let most = 0;
    await Promise.all(
      Array.from({ length: 5 }, () =>
        withLock(lock, async () => {
          most = Math.max(most, ++inside);
          await new Promise((r) => setImmediate(r));
          inside -= 1;
        }),
      ),
    );
    expect(most).toBe(1);
    expect(existsSync(lock)).toBe(false);
  });

  it('takes over the lock of a process that died holding it', async () => {
    const lock = join(tmp(), 'm.lock');
    const child = spawn(process.execPath, ['-e', '']);
    const pid = child.pid!;
    await new Promise((r) => child.once('exit', r));
    mkdirSync(lock);
    writeFileSync(join(lock, 'owner'), JSON.stringify({ pid, host: hostname(), token: 'dead' }));
    expect(await withLock(lock, async () => 'in', 60_000)).toBe('in');
    expect(existsSync(lock)).toBe(false);
  });

  it('takes over a lock not refreshed for too long (a holder on another host that crashed)', async () => {
    const lock = join(tmp(), 'm.lock');
    mkdirSync(lock);
    writeFileSync(join(lock, 'owner'), JSON.stringify({ pid: process.pid, host: 'another-host', token: 'old' }));
    const old = new Date(Date.now() - LOCK_STALE_MS - 10_000);
    utimesSync(join(lock, 'owner'), old, old);
    expect(await withLock(lock, async () => 'in', 60_000)).toBe('in');
  });

  it('waits for a live holder in another process, and gives up with a retryable error at its deadline', async () => {
    const lock = join(tmp(), 'm.lock');
    mkdirSync(lock);
    // A live process of this host holds it (this test's own process stands for it).
    writeFileSync(join(lock, 'owner'), JSON.stringify({ pid: process.pid, host: hostname(), token: 'live' }));
    await expect(withLock(lock, async () => 'in', 300)).rejects.toMatchObject({ code: 'mirror_locked', retryable: true });
    expect(statSync(lock).isDirectory()).toBe(true);
    let entered = false;
    const waiting = withLock(lock, async () => (entered = true), 60_000);
    rmSync(lock, { recursive: true });
    await waiting;
    expect(entered).toBe(true);
  });
});
