import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { commitAll, git, openWorkspace, pushBranch, PullRequest, type Forge, type OpenPullRequest, type PullRequestStore, type RepoRef } from '../../shared/index.ts';

/** One contract case's world: a forge over a fresh origin repository, and a way to look at both sides. */
export interface ForgeWorld extends AsyncDisposable {
  forge: Forge;
  store: PullRequestStore;
  repo: RepoRef;
  /** The repository as `OpenPullRequest.repo` names it. */
  repoName: string;
  /** The bare repository behind the forge's remote, to read refs from. */
  origin: string;
  /** Where the contract opens workspaces. */
  workspaces: string;
  /** How many pull requests the forge itself holds for the repository (GitHub: on GitHub; local: recorded). */
  pullsAtForge(): Promise<number>;
}

/** How a contract run gets its implementation. */
export interface ForgeContractInit {
  /** Shown in the suite name. */
  name: string;
  /** The name the forge reports (`Forge.name`). */
  forgeName: Forge['name'];
  world(): Promise<ForgeWorld>;
}

/**
 * What every `Forge` must do, whichever holds the pull requests: run against the local forge
 * (`shared/forge/local.int.test.ts`) and the GitHub forge on the fake GitHub
 * (`shared/forge/github.int.test.ts`), so that the reviewer may count on the same behaviour from both.
 * What only one forge does (GitHub's summary review, its refusals of merged pull requests) is tested
 * beside it.
 */
export function forgeContract(init: ForgeContractInit): void {
  describe(`Forge contract: ${init.name}`, () => {
    /** Commits `file` on the ticket's branch through a fresh workspace on the forge's remote, pushes it: the new head. */
    async function push(w: ForgeWorld, ticketId: string, file: string, content: string): Promise<string> {
      await using ws = await openWorkspace({ repo: w.repo, ticketId, root: w.workspaces, remote: w.forge.remote(w.repo) });
      writeFileSync(join(ws.dir, file), content);
      const sha = await commitAll(ws, { role: 'coder', message: `Add ${file}` });
      await pushBranch(ws);
      return sha!;
    }
    async function input(w: ForgeWorld, ticketId: string, headSha: string, body: string): Promise<OpenPullRequest> {
      const baseSha = (await git(w.origin, ['rev-parse', 'main'])).trim();
      return { ticketId, repo: w.repoName, branch: `nightshift/${ticketId}`, base: 'main', baseSha, headSha, title: `Ticket ${ticketId}`, body };
    }

    it('takes the ticket branch pushed through its remote, and leaves the base branch alone', async () => {
      await using w = await init.world();
      expect(w.forge.name).toBe(init.forgeName);
      expect(w.forge.handles(w.repo)).toBe(true);
      const base = (await git(w.origin, ['rev-parse', 'main'])).trim();
      const head = await push(w, 'tk-contract01', 'NOTES.md', 'one\n');
      expect((await git(w.origin, ['rev-parse', 'nightshift/tk-contract01'])).trim()).toBe(head);
      expect((await git(w.origin, ['rev-parse', 'main'])).trim()).toBe(base);
    });

    it('opens one pull request per ticket, valid and recorded as it returned it', async () => {
      await using w = await init.world();
      const head = await push(w, 'tk-contract02', 'NOTES.md', 'one\n');
      const pr = await w.forge.openPullRequest(await input(w, 'tk-contract02', head, '## Summary\n\nRound one.'));
      expect(PullRequest.parse(pr)).toEqual(pr);
      expect(pr).toMatchObject({ ticketId: 'tk-contract02', forge: init.forgeName, branch: 'nightshift/tk-contract02', base: 'main', headSha: head, title: 'Ticket tk-contract02', state: 'open' });
      expect(pr.body).toContain('Round one.');
      expect(pr.number).toBeGreaterThan(0);
      expect(await w.store.get('tk-contract02')).toEqual(pr);
      expect(await w.pullsAtForge()).toBe(1);
    });

    it('opening again for the same ticket updates the same pull request to the new head and summary', async () => {
      await using w = await init.world();
      const first = await push(w, 'tk-contract03', 'NOTES.md', 'one\n');
      const pr = await w.forge.openPullRequest(await input(w, 'tk-contract03', first, 'Round one.'));
      const second = await push(w, 'tk-contract03', 'MORE.md', 'two\n');
      const again = await w.forge.openPullRequest(await input(w, 'tk-contract03', second, 'Round two.'));
      expect(again).toMatchObject({ number: pr.number, url: pr.url, headSha: second, createdAt: pr.createdAt, state: 'open' });
      expect(again.body).toContain('Round two.');
      expect(again.body).not.toContain('Round one.');
      expect(await w.store.get('tk-contract03')).toEqual(again);
      expect((await w.store.list()).filter((p) => p.ticketId === 'tk-contract03')).toHaveLength(1);
      expect(await w.pullsAtForge()).toBe(1);
    });

    it('gives two tickets of one repository two pull requests with their own numbers', async () => {
      await using w = await init.world();
      const a = await w.forge.openPullRequest(await input(w, 'tk-contract04', await push(w, 'tk-contract04', 'A.md', 'a\n'), 'A'));
      const b = await w.forge.openPullRequest(await input(w, 'tk-contract05', await push(w, 'tk-contract05', 'B.md', 'b\n'), 'B'));
      expect(a.number).not.toBe(b.number);
      expect(a.url).not.toBe(b.url);
      expect((await w.store.list()).map((p) => p.ticketId).sort()).toEqual(['tk-contract04', 'tk-contract05']);
      expect(await w.pullsAtForge()).toBe(2);
    });

    it('opens one pull request when two reviewers race for the same ticket', async () => {
      await using w = await init.world();
      const head = await push(w, 'tk-contract06', 'NOTES.md', 'x\n');
      const [a, b] = await Promise.all([
        w.forge.openPullRequest(await input(w, 'tk-contract06', head, 'A')),
        w.forge.openPullRequest(await input(w, 'tk-contract06', head, 'B')),
      ]);
      expect(a.number).toBe(b.number);
      expect((await w.store.list()).filter((p) => p.ticketId === 'tk-contract06')).toHaveLength(1);
      expect(await w.pullsAtForge()).toBe(1);
    });
  });
}
