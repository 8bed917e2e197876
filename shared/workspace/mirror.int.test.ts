import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { demoGitHub, filesContaining } from '../../test/helpers/github.ts';
import { gitCredentials } from '../forge/github-client.ts';
import { git } from './git.ts';
import { mirrorPath } from './mirror.ts';
import { pushBranch } from './push.ts';
import { commitAll, openWorkspace, ticketBranch, type GitRemote } from './workspace.ts';

/*
 * The mirror of a repository served over smart HTTP with credentials (the local GitHub of
 * test/fakes/github.ts): the credentials reach git on every request, and no file of the mirror or of a
 * workspace made from it holds them.
 */

const TOKEN = 'ghp_mirrorTestToken0123456789abcdef';
const TICKET = 'tk-0123456789';

const made: string[] = [];
afterEach(() => {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tmp = (prefix: string) => {
  const d = mkdtempSync(join(tmpdir(), prefix));
  made.push(d);
  return d;
};

describe('a mirror of a remote behind credentials', () => {
  it('fetches with the credentials of the remote, keeps them nowhere, and resumes the branch a stage pushed', async () => {
    await using github = await demoGitHub({ token: TOKEN });
    const { fake, bare } = github;
    const remote: GitRemote = { url: `${fake.gitUrl}/acme/widgets.git`, env: async () => gitCredentials(fake.gitUrl, TOKEN) };
    const root = tmp('ns-mirror-ws-');
    const cacheDir = join(root, '.mirrors');
    const repo = { url: 'https://github.com/acme/widgets' };

    let pushed: string;
    {
      await using ws = await openWorkspace({ repo, ticketId: TICKET, root, remote, cacheDir });
      expect(ws).toMatchObject({ baseBranch: 'main', resumed: false, baseSha: (await git(bare, ['rev-parse', 'main'])).trim() });
      writeFileSync(join(ws.dir, 'NOTES.md'), 'first\n');
      pushed = (await commitAll(ws, { role: 'coder', message: 'first' }))!;
      await pushBranch(ws);
    }
    await using again = await openWorkspace({ repo, ticketId: TICKET, root, remote, cacheDir });
    expect(again.resumed).toBe(true);
    expect((await git(again.gitDir, ['rev-parse', 'HEAD'], { gitDir: again.gitDir })).trim()).toBe(pushed);

    const fetches = fake.gitRequests.filter((r) => r.service === 'git-upload-pack');
    expect(fetches.length).toBeGreaterThan(1);
    expect(fake.gitRequests.filter((r) => !r.authorized)).toEqual([]);
    const basic = Buffer.from(`x-access-token:${TOKEN}`).toString('base64');
    const mirror = mirrorPath(cacheDir, remote.url);
    expect([mirror, again.dir, again.gitDir].flatMap((d) => [...filesContaining(d, TOKEN), ...filesContaining(d, basic)])).toEqual([]);
    expect(readFileSync(join(mirror, 'config'), 'utf8')).not.toContain(fake.gitUrl);
    expect((await git(mirror, ['for-each-ref', '--format=%(refname)'], { gitDir: mirror })).trim().split('\n').sort()).toEqual(['refs/heads/main', `refs/heads/${ticketBranch(TICKET)}`]);
    expect(fake.violations).toEqual([]);
  });

  it('fails without the credentials, and leaves no lock and no workspace behind', async () => {
    await using github = await demoGitHub({ token: TOKEN });
    const { fake } = github;
    const root = tmp('ns-mirror-ws-');
    const cacheDir = join(root, '.mirrors');
    const remote: GitRemote = { url: `${fake.gitUrl}/acme/widgets.git` };
    await expect(openWorkspace({ repo: { url: 'https://github.com/acme/widgets' }, ticketId: TICKET, root, remote, cacheDir })).rejects.toMatchObject({ code: 'git_failed' });
    expect(readdirSync(cacheDir).filter((d) => d.includes('.lock'))).toEqual([]);
    expect(readdirSync(root).filter((d) => d.startsWith(TICKET))).toEqual([]);
  });
});
