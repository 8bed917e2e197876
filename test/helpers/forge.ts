/** A forge's pull-request store in memory, for the agent tests and the token bench (no vitest here: the bench runs under plain node). */
import type { PullRequestStore } from '../../shared/forge/forge.ts';
import { PullRequest } from '../../shared/index.ts';

/** Pull requests in memory, one per ticket, numbered per repository. */
export function memoryPrStore(): PullRequestStore & { prs: Map<string, PullRequest> } {
  const prs = new Map<string, PullRequest>();
  const seq = new Map<string, number>();
  return {
    prs,
    get: async (ticketId) => prs.get(ticketId) ?? null,
    async create(pr) {
      if (prs.has(pr.ticketId)) return false;
      prs.set(pr.ticketId, PullRequest.parse(pr));
      return true;
    },
    async put(pr) {
      prs.set(pr.ticketId, PullRequest.parse(pr));
    },
    list: async () => [...prs.values()],
    async nextNumber(repo) {
      const n = (seq.get(repo) ?? 0) + 1;
      seq.set(repo, n);
      return n;
    },
  };
}
