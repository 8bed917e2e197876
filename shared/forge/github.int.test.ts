import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createPullRequestStore } from '../../bus/index.ts';
import type { FakeGitHub, FakeGitHubOptions } from '../../test/fakes/github.ts';
import { setup, type TestEnv } from '../../test/helpers/env.ts';
import { demoGitHub, filesContaining } from '../../test/helpers/github.ts';
import { commitAll, git, loadConfig, openWorkspace, pushBranch, type Forge, type OpenPullRequest, type PullRequestStore, type RepoRef } from '../index.ts';
import { forgesFromConfig, summaryMarker } from './index.ts';
import { forgeContract } from '../../test/contracts/forge.contract.ts';

/*
 * The GitHub forge against a local GitHub (test/fakes/github.ts): REST requests checked against
 * GitHub's OpenAPI description, git over smart HTTP into a bare repository, credentials checked on
 * both. Every test ends with no violation recorded by the fake.
 */

const TOKEN = 'ghp_forgeTestToken0123456789abcdef';
const REPO: RepoRef = { url: 'https://github.com/acme/widgets' };
const TICKET = 'tk-0123456789';
const BRANCH = `nightshift/${TICKET}`;

interface World extends AsyncDisposable {
  env: TestEnv;
  fake: FakeGitHub;
  bare: string;
  store: PullRequestStore;
  forge: Forge;
  workspaces: string;
  /** Commits a file on the ticket branch through a fresh workspace and pushes it: the new head. */
  push(file: string, content: string): Promise<string>;
  input(headSha: string, body: string): OpenPullRequest;
}

async function world(settings: Record<string, string> = { GITHUB_TOKEN: TOKEN }, fakeOpts: Omit<FakeGitHubOptions, 'gitRoot'> = { token: TOKEN }): Promise<World> {
  const env = await setup();
  const github = await demoGitHub(fakeOpts);
  const { fake, bare } = github;
  const workspaces = mkdtempSync(join(tmpdir(), 'ns-gh-ws-'));
  const config = loadConfig({}, { ...settings, GITHUB_API_URL: fake.url, GITHUB_GIT_URL: fake.gitUrl, NIGHTSHIFT_WORKSPACES_DIR: workspaces });
  const store = await createPullRequestStore(env.bus);
  const forge = forgesFromConfig({ config, store, log: env.sink.log }).forgeFor(REPO);
  const baseSha = (await git(bare, ['rev-parse', 'main'])).trim();
  return {
    env,
    fake,
    bare,
    store,
    forge,
    workspaces,
    async push(file, content) {
      await using ws = await openWorkspace({ repo: REPO, ticketId: TICKET, root: workspaces, remote: forge.remote(REPO) });
      writeFileSync(join(ws.dir, file), content);
      const sha = await commitAll(ws, { role: 'coder', message: `Add ${file}` });
      await pushBranch(ws);
      return sha!;
    },
    input: (headSha, body) => ({ ticketId: TICKET, repo: REPO.url!, branch: BRANCH, base: 'main', baseSha, headSha, title: 'slugify: add a maxLength option', body }),
    async [Symbol.asyncDispose]() {
      await github[Symbol.asyncDispose]();
      await env[Symbol.asyncDispose]();
    },
  };
}

describe('the GitHub forge', () => {
  it('pushes with credentials git keeps nowhere, opens one pull request with the summary review, and updates both on the next round', async () => {
    await using w = await world();
    expect(w.forge.name).toBe('github');
    expect(w.forge.remote(REPO).url).toBe(`${w.fake.gitUrl}/acme/widgets.git`);

    // The credentials reach git (every request authorized), and no file of the clone holds them.
    const seen: string[][] = [];
    {
      await using ws = await openWorkspace({ repo: REPO, ticketId: TICKET, root: w.workspaces, remote: w.forge.remote(REPO) });
      writeFileSync(join(ws.dir, 'NOTES.md'), 'first\n');
      await commitAll(ws, { role: 'coder', message: 'first' });
      await pushBranch(ws);
      const basic = Buffer.from(`x-access-token:${TOKEN}`).toString('base64');
      for (const d of [ws.dir, ws.gitDir]) seen.push(filesContaining(d, TOKEN), filesContaining(d, basic));
      expect(readFileSync(join(ws.gitDir, 'config'), 'utf8')).toContain(`url = ${w.fake.gitUrl}/acme/widgets.git`);
    }
    expect(seen).toEqual([[], [], [], []]);
    expect(w.fake.gitRequests.length).toBeGreaterThan(3);
    expect(w.fake.gitRequests.filter((r) => !r.authorized)).toEqual([]);
    expect(w.fake.gitRequests.some((r) => r.service === 'git-receive-pack')).toBe(true);
    const first = (await git(w.bare, ['rev-parse', BRANCH])).trim();

    const pr = await w.forge.openPullRequest(w.input(first, '## Summary\n\nRound one.'));
    expect(pr).toMatchObject({ ticketId: TICKET, forge: 'github', number: 1, url: 'https://github.com/acme/widgets/pull/1', branch: BRANCH, headSha: first, state: 'open' });
    expect(await w.store.get(TICKET)).toEqual(pr);
    const pull = w.fake.pull('acme', 'widgets', 1);
    expect(pull).toMatchObject({ head: BRANCH, base: 'main', title: 'slugify: add a maxLength option', state: 'open', user: 'nightshift-bot' });
    expect(pull.body).toContain(`ticket \`${TICKET}\``);
    expect(pull.reviews).toHaveLength(1);
    expect(pull.reviews[0]).toMatchObject({ id: pr.summaryReviewId, state: 'COMMENTED', commitId: first, user: 'nightshift-bot' });
    expect(pull.reviews[0]!.body).toContain('Round one.');
    expect(pull.reviews[0]!.body).toContain(summaryMarker(TICKET));

    // The next round: a new commit on the same branch, the same pull request, the same review updated.
    const second = await w.push('MORE.md', 'second\n');
    const again = await w.forge.openPullRequest(w.input(second, '## Summary\n\nRound two.'));
    expect(again).toMatchObject({ number: 1, headSha: second, summaryReviewId: pr.summaryReviewId, createdAt: pr.createdAt });
    expect(w.fake.repo('acme', 'widgets').pulls).toHaveLength(1);
    expect(pull.reviews).toHaveLength(1);
    expect(pull.reviews[0]!.body).toContain('Round two.');
    expect(pull.reviews[0]!.body).not.toContain('Round one.');
    expect(pull.reviews[0]!.body).toContain(second.slice(0, 12));
    expect(pull.body).toContain(second.slice(0, 12));
    expect(w.fake.requests.filter((r) => r.operationId === 'pulls/create')).toHaveLength(1);
    expect(w.fake.requests.filter((r) => r.operationId === 'pulls/create-review')).toHaveLength(1);
    expect(w.fake.requests.filter((r) => r.operationId === 'pulls/update-review')).toHaveLength(1);
    expect(w.fake.violations).toEqual([]);
  });

  it('opens no second pull request when it dies after GitHub created one (the answer lost) and runs again', async () => {
    await using w = await world();
    const head = await w.push('NOTES.md', 'x\n');
    let dropped = 0;
    w.fake.after('pulls/create', () => (dropped++ === 0 ? 'drop' : undefined));

    await expect(w.forge.openPullRequest(w.input(head, 'Summary.'))).rejects.toMatchObject({ code: 'github_unreachable', retryable: true });
    expect(w.fake.repo('acme', 'widgets').pulls).toHaveLength(1);
    expect(await w.store.get(TICKET)).toBeNull();

    const pr = await w.forge.openPullRequest(w.input(head, 'Summary.'));
    expect(pr.number).toBe(1);
    expect(w.fake.repo('acme', 'widgets').pulls).toHaveLength(1);
    expect(w.fake.pull('acme', 'widgets', 1).reviews).toHaveLength(1);
    expect(w.fake.requests.filter((r) => r.operationId === 'pulls/create')).toHaveLength(1);
    expect(w.fake.requests.filter((r) => r.operationId === 'pulls/list').map((r) => r.query)).toEqual([
      { state: 'open', head: `acme:${BRANCH}`, per_page: '10' },
      { state: 'open', head: `acme:${BRANCH}`, per_page: '10' },
    ]);
    expect(w.fake.violations).toEqual([]);
  });

  it('posts no second summary review when it dies after posting it and before recording it', async () => {
    await using w = await world();
    const head = await w.push('NOTES.md', 'x\n');
    let dropped = 0;
    w.fake.after('pulls/create-review', () => (dropped++ === 0 ? 'drop' : undefined));

    await expect(w.forge.openPullRequest(w.input(head, 'Summary one.'))).rejects.toMatchObject({ retryable: true });
    const recorded = await w.store.get(TICKET);
    expect(recorded).toMatchObject({ number: 1 });
    expect(recorded?.summaryReviewId).toBeUndefined();

    const pr = await w.forge.openPullRequest(w.input(head, 'Summary two.'));
    const reviews = w.fake.pull('acme', 'widgets', 1).reviews;
    expect(reviews).toHaveLength(1);
    expect(pr.summaryReviewId).toBe(reviews[0]!.id);
    expect(reviews[0]!.body).toContain('Summary two.');
    expect(w.fake.requests.map((r) => r.operationId)).toEqual([
      'pulls/list',
      'pulls/create',
      'pulls/list-reviews',
      'pulls/create-review',
      'pulls/get',
      'pulls/list-reviews',
      'pulls/update-review',
    ]);
    expect(w.fake.violations).toEqual([]);
  });

  it('opens one pull request when two reviewers race for it', async () => {
    await using w = await world();
    const head = await w.push('NOTES.md', 'x\n');
    const [a, b] = await Promise.all([w.forge.openPullRequest(w.input(head, 'A')), w.forge.openPullRequest(w.input(head, 'B'))]);
    expect(a.number).toBe(1);
    expect(b.number).toBe(1);
    expect(w.fake.repo('acme', 'widgets').pulls).toHaveLength(1);
    expect(w.fake.violations).toEqual([]);
  });

  it('refuses to touch a pull request people closed or merged (not retryable)', async () => {
    await using w = await world();
    const head = await w.push('NOTES.md', 'x\n');
    await w.forge.openPullRequest(w.input(head, 'Summary.'));
    w.fake.merge('acme', 'widgets', 1);
    await expect(w.forge.openPullRequest(w.input(head, 'Again.'))).rejects.toMatchObject({ code: 'pull_request_merged', retryable: false });
    expect(w.fake.repo('acme', 'widgets').pulls).toHaveLength(1);
    expect(w.fake.violations).toEqual([]);
  });

  it('says when GitHub refuses the credentials, to git and to the API (not retryable)', async () => {
    await using w = await world({ GITHUB_TOKEN: 'ghp_wrong' });
    await expect(openWorkspace({ repo: REPO, ticketId: TICKET, root: w.workspaces, remote: w.forge.remote(REPO) })).rejects.toMatchObject({ code: 'git_failed' });
    expect(w.fake.gitRequests.length).toBeGreaterThan(0);
    expect(w.fake.gitRequests.every((r) => r.status === 401)).toBe(true);
    await expect(w.forge.openPullRequest(w.input('0'.repeat(40), 'x'))).rejects.toMatchObject({ code: 'github_unauthorized', retryable: false });
    expect(w.fake.violations).toEqual([]);
  });

  it('reports a GitHub outage as retryable, and the retry opens the pull request', async () => {
    await using w = await world();
    const head = await w.push('NOTES.md', 'x\n');
    w.fake.failNext('pulls/create', 502);
    await expect(w.forge.openPullRequest(w.input(head, 'x'))).rejects.toMatchObject({ code: 'github_unavailable', retryable: true, status: 502 });
    expect(w.fake.repo('acme', 'widgets').pulls).toHaveLength(0);
    expect((await w.forge.openPullRequest(w.input(head, 'x'))).number).toBe(1);
    expect(w.fake.violations).toEqual([]);
  });

  it('acts as a GitHub App installation: a JWT for the installation token, the token for the API and git', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    await using w = await world(
      // As an env file would hold it: one line, `\n` escapes.
      { GITHUB_APP_ID: '31337', GITHUB_APP_PRIVATE_KEY: pem.replaceAll('\n', '\\n') },
      { app: { id: 31337, publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString() } },
    );
    const head = await w.push('NOTES.md', 'x\n');
    expect(w.fake.gitRequests.length).toBeGreaterThan(0);
    expect(w.fake.gitRequests.filter((r) => !r.authorized)).toEqual([]);
    const pr = await w.forge.openPullRequest(w.input(head, 'Summary.'));
    expect(pr.number).toBe(1);
    expect(w.fake.pull('acme', 'widgets', 1).reviews[0]).toMatchObject({ user: 'nightshift-bot[bot]' });
    // One installation lookup and one token, reused for git and every API call until it nears expiry.
    expect(w.fake.requests.filter((r) => r.as === 'app').map((r) => r.operationId)).toEqual(['apps/get-repo-installation', 'apps/create-installation-access-token']);
    expect(w.fake.issuedTokens).toHaveLength(1);
    expect(w.fake.requests.filter((r) => r.operationId?.startsWith('pulls/')).every((r) => r.as === 'nightshift-bot[bot]')).toBe(true);
    expect(w.fake.violations).toEqual([]);
  });
});

forgeContract({
  name: 'GitHub (on the fake GitHub)',
  forgeName: 'github',
  async world() {
    const w = await world();
    return {
      forge: w.forge,
      store: w.store,
      repo: REPO,
      repoName: REPO.url!,
      origin: w.bare,
      workspaces: w.workspaces,
      pullsAtForge: async () => w.fake.repo('acme', 'widgets').pulls.length,
      async [Symbol.asyncDispose]() {
        const violations = [...w.fake.violations];
        await w[Symbol.asyncDispose]();
        expect(violations).toEqual([]);
      },
    };
  },
});
