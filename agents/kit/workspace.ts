import type { WorkItemData } from '../../bus/index.ts';
import { openWorkspace, type Workspace } from '../../shared/index.ts';
import type { AgentDeps } from './deps.ts';

/** A fresh clone of the ticket's repository on its branch, from (and pushing to) its forge's remote. */
export function openTicketWorkspace(deps: AgentDeps, work: WorkItemData): Promise<Workspace> {
  const repo = work.ticket.repo;
  return openWorkspace({
    repo,
    ticketId: work.ticket.id,
    root: deps.config.NIGHTSHIFT_WORKSPACES_DIR,
    remote: deps.forges.forgeFor(repo).remote(repo),
  });
}
