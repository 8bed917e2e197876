import { join } from 'node:path';
import type { WorkItemData } from '../../bus/index.ts';
import { openWorkspace, type Workspace } from '../../shared/index.ts';
import type { AgentDeps } from './deps.ts';

/**
 * A fresh clone of the ticket's repository on its branch, pushing to its forge's remote, cloned from
 * this machine's mirror of that remote (fetched first; `NIGHTSHIFT_CACHE_DIR`).
 */
export function openTicketWorkspace(deps: AgentDeps, work: WorkItemData): Promise<Workspace> {
  const repo = work.ticket.repo;
  return openWorkspace({
    repo,
    ticketId: work.ticket.id,
    root: deps.config.NIGHTSHIFT_WORKSPACES_DIR,
    remote: deps.forges.forgeFor(repo).remote(repo),
    cacheDir: deps.config.NIGHTSHIFT_CACHE_DIR ?? join(deps.config.NIGHTSHIFT_WORKSPACES_DIR, '.mirrors'),
  });
}
