import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { coderViolations } from '../../agents/kit/guard.ts';
import { DEFAULT_NODE_IMAGE, DockerSandbox, type RepoProfile } from '../../sandbox/index.ts';
import {
  changedFiles,
  commitAll,
  commitsSince,
  diff,
  git,
  openWorkspace,
  pushBranch,
  resetWorktree,
  ticketBranch,
  workspaceGit,
  type Workspace,
} from '../../shared/index.ts';
import { describeDocker } from '../helpers/docker.ts';
import { makeRepo } from '../helpers/git.ts';
import { GIT_ATTACKS, SUBMODULE_COMMIT, type GitAttack } from './git-attacks.ts';
import { testLabels } from '../helpers/leftovers.ts';
import { scaled } from '../helpers/wait.ts';

const TICKET = 'tk-5ecur1ty00';
const PROFILE = { test: 'npm test', testFilePatterns: ['**/*.test.*'] } as RepoProfile;
const IDENTITY = { name: 'test', email: 'test@example.invalid' };

/**
 * The git part of the security battery. For each attack a sandbox run (the real DockerSandbox, on the
 * real workspace, as the agents run the suite) plants it; then the host does everything the agents do
 * with a workspace after a sandbox run — the coder's guard, commit, push, diff, log, the test author's
 * checkouts, reset — and the next stage clones the pushed branch and does it again. Blocked means: no
 * canary file on the host (nothing the attack wrote ran), the canary variable never seen, the origin's
 * base branch at its commit and no ref but the ticket branch written, the workspace's git directory
 * unchanged, and nothing of git's (no `.git` path, no new gitlink) in what was pushed.
 */
describeDocker('security: git', () => {
  // Each run removes its container (DockerSandbox's own tests check that); the engine is shared, so no count here.
  const sandbox = new DockerSandbox({ labels: testLabels() });
  const canaryValue = randomBytes(12).toString('hex');
  const blocked: string[] = [];
  const failed: string[] = [];
  let dirs: string[] = [];
  let open: Workspace[] = [];
  const temp = (prefix: string) => {
    const d = mkdtempSync(join(tmpdir(), prefix));
    dirs.push(d);
    return d;
  };

  beforeAll(() => {
    process.env.NIGHTSHIFT_CANARY = canaryValue;
  });
  beforeEach(() => {
    dirs = [];
    open = [];
  });
  afterEach(async () => {
    for (const ws of open) await ws.dispose();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  afterAll(() => {
    delete process.env.NIGHTSHIFT_CANARY;
    const summary = `security: git — ${blocked.length}/${GIT_ATTACKS.length} attacks blocked${failed.length ? ` (NOT blocked: ${failed.join(', ')})` : ''}\n`;
    process.stdout.write(summary);
  });

  for (const attack of GIT_ATTACKS) {
    it(`${attack.name}: ${attack.path}`, async () => {
      try {
        await tryAttack(attack);
        blocked.push(attack.name);
      } catch (err) {
        failed.push(attack.name);
        throw err;
      }
    }, scaled(120_000));
  }

  async function tryAttack(attack: GitAttack): Promise<void> {
    const canaries = temp('ns-canary-');
    const origin = makeRepo();
    dirs.push(origin);
    const first = (await git(origin, ['rev-parse', 'main'])).trim();
    const payload = `env > ${canaries}/${attack.name}; git --git-dir=${origin}/.git update-ref refs/heads/main ${first}`;
    await prepareOrigin(origin, attack, payload);
    const mainBefore = (await git(origin, ['rev-parse', 'main'])).trim();
    const baseGitlinks = await gitlinks(origin, 'main');

    const ws = await openWorkspace({ repo: { path: origin }, ticketId: TICKET, root: temp('ns-sec-') });
    open.push(ws);
    const configBefore = readFileSync(join(ws.gitDir, 'config'), 'utf8');

    const run = await sandbox.run({
      image: DEFAULT_NODE_IMAGE,
      workspace: ws.dir,
      command: ['sh', '-c', attack.script],
      env: { P: payload, PF: `#!/bin/sh\n${payload}\n`, ORIGIN: origin },
      network: 'none',
      timeoutMs: 60_000,
    });
    expect(run.exitCode, `the attack script ran in the sandbox:\n${run.stdout}\n${run.stderr}`).toBe(0);
    expect(run.stdout + run.stderr).not.toContain(canaryValue);
    if (attack.name === 'origin-write') expect(run.stdout).toContain('origin-absent');
    expect(run.stdout).not.toContain('origin-mounted');

    // What the agents do with the workspace after a sandbox run.
    await hostSide(ws, attack);
    // The next stage: a fresh clone of what was pushed, guarded, diffed and reset again.
    const next = await openWorkspace({ repo: { path: origin }, ticketId: TICKET, root: temp('ns-sec-') });
    open.push(next);
    await coderViolations(next, next.baseSha, PROFILE);
    await diff(next, next.baseSha);
    await commitsSince(next, next.baseSha);
    await resetWorktree(next);

    expect(readdirSync(canaries), 'canary files: the attack ran on the host').toEqual([]);
    expect((await git(origin, ['rev-parse', 'main'])).trim(), "the origin's base branch").toBe(mainBefore);
    const refs = (await git(origin, ['for-each-ref', '--format=%(refname)'])).trim().split('\n').sort();
    expect(refs.filter((r) => r !== 'refs/heads/main' && r !== `refs/heads/${ticketBranch(TICKET)}`), 'refs written on the origin').toEqual([]);
    expect(readFileSync(join(ws.gitDir, 'config'), 'utf8'), "the workspace's git configuration").toBe(configBefore);
    expect(existsSync(join(ws.gitDir, 'hooks')) ? readdirSync(join(ws.gitDir, 'hooks')) : [], 'hooks in the git directory').toEqual([]);
    const branch = `refs/heads/${ticketBranch(TICKET)}`;
    if (refs.includes(branch)) {
      const paths = (await git(origin, ['ls-tree', '-r', '--name-only', '-z', branch])).split('\0').filter(Boolean);
      expect(paths.filter((p) => p.split('/').includes('.git')), '.git paths pushed').toEqual([]);
      expect(await gitlinks(origin, branch), 'gitlinks pushed').toEqual(baseGitlinks);
      const leaked = await git(origin, ['grep', '-l', '-F', canaryValue, branch]).catch(() => '');
      expect(leaked, 'the canary value in pushed content').toBe('');
    }
  }

  /** The coder's and test author's host-side steps; a refusal the attack expects is the only error allowed. */
  async function hostSide(ws: Workspace, attack: GitAttack): Promise<void> {
    const violations = await coderViolations(ws, ws.baseSha, PROFILE);
    if (attack.refused === 'gitlink_refused') expect(violations.map((v) => v.reason).join('\n')).toContain('nested repositories');
    let commit: string | null = null;
    if (attack.refused) {
      await expect(commitAll(ws, { role: 'coder', message: attack.name })).rejects.toMatchObject({ code: attack.refused });
    } else {
      commit = await commitAll(ws, { role: 'coder', message: attack.name });
      expect(commit).toMatch(/^[0-9a-f]{40}$/);
      await pushBranch(ws);
    }
    await changedFiles(ws, ws.baseSha);
    await diff(ws, ws.baseSha);
    await commitsSince(ws, ws.baseSha);
    if (commit) {
      await workspaceGit(ws, ['checkout', '--quiet', '--detach', `${commit}^`]);
      await workspaceGit(ws, ['checkout', '--quiet', ws.branch]);
    }
    await resetWorktree(ws);
    expect(await commitAll(ws, { role: 'coder', message: 'after reset' })).toBeNull();
  }

  /** Origin setups some attacks need: a submodule in the base branch, or tracked files under lib/. */
  async function prepareOrigin(origin: string, attack: GitAttack, payload: string): Promise<void> {
    if (attack.origin === 'gitlink') {
      const subRepo = temp('ns-sub-');
      execFileSync('sh', ['-c', SUBMODULE_COMMIT], { cwd: subRepo, env: { PATH: process.env.PATH!, HOME: subRepo, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' } });
      const sub = (await git(subRepo, ['rev-parse', 'HEAD'])).trim();
      await git(origin, ['update-index', '--add', '--cacheinfo', `160000,${sub},sub`]);
      writeFileSync(join(origin, '.gitmodules'), '[submodule "sub"]\n\tpath = sub\n\turl = ./sub\n');
      await git(origin, ['add', '.gitmodules']);
    } else if (attack.origin === 'tracked-lib') {
      // Were git to write these through a symlink into the git directory, they would arm it.
      mkdirSync(join(origin, 'lib', 'hooks'), { recursive: true });
      writeFileSync(join(origin, 'lib', 'config'), `[core]\n\tfsmonitor = "${payload}"\n[filter "evil"]\n\tclean = "${payload}"\n`);
      writeFileSync(join(origin, 'lib', 'hooks', 'post-checkout'), `#!/bin/sh\n${payload}\n`);
      chmodSync(join(origin, 'lib', 'hooks', 'post-checkout'), 0o755);
      writeFileSync(join(origin, '.gitattributes'), '*.md filter=evil\n');
      await git(origin, ['add', '--all']);
    }
    writeFileSync(join(origin, 'NOTES.md'), 'second commit\n');
    await git(origin, ['add', 'NOTES.md']);
    await git(origin, ['commit', '--quiet', '-m', 'second'], { identity: IDENTITY });
  }

  async function gitlinks(repo: string, rev: string): Promise<string[]> {
    const out = await git(repo, ['ls-tree', '-r', '-z', rev]);
    return out.split('\0').filter((e) => e.startsWith('160000 ')).map((e) => e.slice(e.indexOf('\t') + 1));
  }
});
