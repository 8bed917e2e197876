import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeRepo } from '../../test/helpers/git.ts';
import { git } from './git.ts';
import { pushBranch } from './push.ts';
import { changedFiles, commitAll, commitsSince, openWorkspace, ticketBranch, workspaceGit } from './workspace.ts';
import { scaled } from '../../test/helpers/wait.ts';

const ID = 'tk-0123456789';

const made: string[] = [];
afterEach(() => {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
});
const repo = () => {
  const d = makeRepo();
  made.push(d);
  return d;
};
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'ns-ws-'));
  made.push(d);
  return d;
};

// Real git processes: a busy 2-core machine can take seconds per clone, so waits are generous.
describe('workspaces', { timeout: scaled(60_000) }, () => {
  it('clones onto the ticket branch, commits as the role, pushes only the ticket branch, and resumes from it', async () => {
    const origin = repo();
    const mainBefore = (await git(origin, ['rev-parse', 'main'])).trim();
    const root = tmp();

    const first = await openWorkspace({ repo: { path: origin }, ticketId: ID, root });
    expect(first).toMatchObject({ branch: ticketBranch(ID), baseBranch: 'main', baseSha: mainBefore, resumed: false });
    writeFileSync(join(first.dir, 'a.test.js'), 'test\n');
    const sha = await commitAll(first, { role: 'test-author', message: 'Add failing tests', trailers: { 'Nightshift-Stage': 'writing_tests' } });
    expect(sha).toMatch(/^[0-9a-f]{40}$/);
    expect(await commitAll(first, { role: 'test-author', message: 'nothing' })).toBeNull();
    await pushBranch(first);
    await first.dispose();

    expect((await git(origin, ['rev-parse', 'main'])).trim()).toBe(mainBefore);
    expect((await git(origin, ['rev-parse', ticketBranch(ID)])).trim()).toBe(sha);

    await using second = await openWorkspace({ repo: { path: origin }, ticketId: ID, root });
    expect(second.resumed).toBe(true);
    const commits = await commitsSince(second, second.baseSha);
    expect(commits).toHaveLength(1);
    expect(commits[0]).toMatchObject({
      sha,
      subject: 'Add failing tests',
      author: 'nightshift test-author',
      trailers: { 'Nightshift-Ticket': ID, 'Nightshift-Stage': 'writing_tests' },
    });
    expect(await changedFiles(second, second.baseSha)).toEqual([{ status: 'A', path: 'a.test.js' }]);
  });

  it('refuses to push anything but the ticket branch', async () => {
    const origin = repo();
    await using ws = await openWorkspace({ repo: { path: origin }, ticketId: ID, root: tmp() });
    const forged = { ...ws, branch: 'main' };
    await expect(pushBranch(forged)).rejects.toMatchObject({ code: 'refused_push' });
  });

  it('says clearly when the base branch does not exist', async () => {
    const origin = repo();
    await expect(
      openWorkspace({ repo: { path: origin, baseBranch: 'develop' }, ticketId: ID, root: tmp() }),
    ).rejects.toMatchObject({ code: 'base_branch_missing' });
  });

  it('keeps the git directory outside the work tree, which has no .git and never commits .nightshift/', async () => {
    const origin = repo();
    await using ws = await openWorkspace({ repo: { path: origin }, ticketId: ID, root: tmp() });
    expect(existsSync(join(ws.dir, '.git'))).toBe(false);
    expect(existsSync(join(ws.dir, 'README.md'))).toBe(true);
    expect(relative(ws.dir, ws.gitDir).startsWith('..')).toBe(true);
    expect(existsSync(join(ws.gitDir, 'HEAD'))).toBe(true);
    mkdirSync(join(ws.dir, '.nightshift'));
    writeFileSync(join(ws.dir, '.nightshift', 'cache'), 'x\n');
    expect(await commitAll(ws, { role: 'coder', message: 'nothing' })).toBeNull();
  });

  it('never follows a .git planted in the work tree, and never commits it', async () => {
    const origin = repo();
    await using ws = await openWorkspace({ repo: { path: origin }, ticketId: ID, root: tmp() });
    mkdirSync(join(ws.dir, '.git', 'hooks'), { recursive: true });
    writeFileSync(join(ws.dir, '.git', 'HEAD'), 'ref: refs/heads/evil\n');
    writeFileSync(join(ws.dir, '.git', 'hooks', 'pre-commit'), '#!/bin/sh\nexit 1\n');
    chmodSync(join(ws.dir, '.git', 'hooks', 'pre-commit'), 0o755);
    mkdirSync(join(ws.dir, 'sub'));
    writeFileSync(join(ws.dir, 'sub', '.git'), 'gitdir: ../.git\n');
    writeFileSync(join(ws.dir, 'sub', 'file.js'), 'x\n');
    const sha = await commitAll(ws, { role: 'coder', message: 'change' });
    expect(sha).toMatch(/^[0-9a-f]{40}$/);
    expect((await workspaceGit(ws, ['symbolic-ref', 'HEAD'])).trim()).toBe(`refs/heads/${ticketBranch(ID)}`);
    expect((await workspaceGit(ws, ['ls-tree', '-r', '--name-only', 'HEAD'])).trim().split('\n').sort()).toEqual(['README.md', 'sub/file.js']);
  });

  it('refuses to commit a nested repository, and leaves the index at HEAD', async () => {
    const origin = repo();
    await using ws = await openWorkspace({ repo: { path: origin }, ticketId: ID, root: tmp() });
    const nested = join(ws.dir, 'vendor', 'lib');
    mkdirSync(nested, { recursive: true });
    await git(nested, ['init', '--quiet']);
    await git(nested, ['commit', '--quiet', '--allow-empty', '-m', 'x'], { identity: { name: 't', email: 't@example.invalid' } });
    writeFileSync(join(ws.dir, 'other.js'), 'x\n');
    await expect(commitAll(ws, { role: 'coder', message: 'change' })).rejects.toMatchObject({ code: 'gitlink_refused' });
    expect(await workspaceGit(ws, ['diff-index', '--cached', '--name-only', 'HEAD'])).toBe('');
  });

  it('fails a push during which the base branch of a local origin moved', async () => {
    const origin = repo();
    const first = (await git(origin, ['rev-parse', 'main'])).trim();
    writeFileSync(join(origin, 'second.md'), 'two\n');
    await git(origin, ['add', 'second.md']);
    await git(origin, ['commit', '--quiet', '-m', 'second'], { identity: { name: 't', email: 't@example.invalid' } });
    await using ws = await openWorkspace({ repo: { path: origin }, ticketId: ID, root: tmp() });
    // Stands for anything that could write the base branch while a push runs: the origin's own hook.
    writeFileSync(join(origin, '.git', 'hooks', 'post-receive'), `#!/bin/sh\ngit update-ref refs/heads/main ${first}\n`);
    chmodSync(join(origin, '.git', 'hooks', 'post-receive'), 0o755);
    writeFileSync(join(ws.dir, 'a.js'), 'x\n');
    await commitAll(ws, { role: 'coder', message: 'change' });
    const errors: unknown[] = [];
    await expect(pushBranch(ws, { log: { error: (o: unknown) => void errors.push(o) } as never })).rejects.toMatchObject({ code: 'base_branch_written' });
    expect(errors).toHaveLength(1);
  });
});
