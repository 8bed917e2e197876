import { pullRequestRecord, type Forge, type OpenPullRequest, type PullRequest, type PullRequestStore } from './forge.ts';
import { ConflictError } from '../errors.ts';

/**
 * The default forge: the branch is already pushed to the origin repository by the agents; the pull
 * request is recorded in the store, one per ticket, and `nightshift pr list|show` prints it.
 */
export function createLocalForge({ store, clock = () => new Date() }: { store: PullRequestStore; clock?: () => Date }): Forge {
  return {
    name: 'local',
    handles: () => true,
    remote: (repo) => ({ url: repo.url ?? repo.path! }),
    async openPullRequest(input: OpenPullRequest): Promise<PullRequest> {
      const now = clock().toISOString();
      for (let tries = 0; tries < 5; tries++) {
        const existing = await store.get(input.ticketId);
        if (existing) {
          const updated: PullRequest = { ...existing, headSha: input.headSha, body: input.body, title: input.title, updatedAt: now };
          await store.put(updated);
          return updated;
        }
        const number = await store.nextNumber(input.repo);
        const pr = pullRequestRecord(input, { forge: 'local', number, url: `${input.repo}#${input.branch}`, now });
        if (await store.create(pr)) return pr;
      }
      throw new ConflictError(`could not record the pull request of ${input.ticketId}: the store keeps refusing it`);
    },
  };
}
