import { writeFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeRepo } from '../../test/helpers/git.ts';
import { git } from './git.ts';
import { pushBranch } from './push.ts';
import { changedFiles, commitAll, commitsSince, openWorkspace, ticketBranch } from './workspace.ts';

const ID = 'tk-0123456789';

describe('workspaces', () => {
  it('clones onto the ticket branch, commits as the role, pushes only the ticket branch, and resumes from it', async () => {
    const origin = makeRepo();
    const mainBefore = (await git(origin, ['rev-parse', 'main'])).trim();
    const root = mkdtempSync(join(tmpdir(), 'ns-ws-'));

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
    const origin = makeRepo();
    await using ws = await openWorkspace({ repo: { path: origin }, ticketId: ID, root: mkdtempSync(join(tmpdir(), 'ns-ws-')) });
    const forged = { ...ws, branch: 'main' };
    await expect(pushBranch(forged)).rejects.toMatchObject({ code: 'refused_push' });
  });

  it('says clearly when the base branch does not exist', async () => {
    const origin = makeRepo();
    await expect(
      openWorkspace({ repo: { path: origin, baseBranch: 'develop' }, ticketId: ID, root: mkdtempSync(join(tmpdir(), 'ns-ws-')) }),
    ).rejects.toMatchObject({ code: 'base_branch_missing' });
  });
});
