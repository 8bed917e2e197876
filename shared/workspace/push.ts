import type { Logger } from '../log.ts';
import { ticketOfBranch } from '../ticket/branch.ts';
import { localPathOf } from './git.ts';
import { remoteOptions, ticketBranch, workspaceGit, WorkspaceError, type Workspace } from './workspace.ts';

/**
 * Pushes the ticket branch, and only it, to the origin: one explicit refspec
 * `refs/heads/<branch>:refs/heads/<branch>` (fast-forward only, no force, no tags, no submodules),
 * straight to the origin's URL, so no remote configuration (mirror, push refspecs, receive-pack) takes
 * part. Refuses any branch but the ticket's (`refused_push`).
 *
 * For a local origin the base branch's commit is read before and after the push; a change is a
 * security failure (`base_branch_written`, logged at error level): nothing nightshift runs may move it.
 */
export async function pushBranch(ws: Workspace, { log }: { log?: Pick<Logger, 'error'> } = {}): Promise<void> {
  const expected = ticketBranch(ws.ticketId);
  if (ws.branch !== expected || ws.branch === ws.baseBranch || ticketOfBranch(ws.branch) !== ws.ticketId) {
    throw new WorkspaceError('refused_push', `refusing to push ${ws.branch}: only ${expected} may be written`);
  }
  const ref = `refs/heads/${ws.branch}`;
  const local = localPathOf(ws.remote.url) !== null;
  const before = local ? await baseCommit(ws) : null;
  let failure: unknown = null;
  try {
    await workspaceGit(
      ws,
      ['push', '--quiet', '--no-verify', '--no-follow-tags', '--recurse-submodules=no', ws.remote.url, `${ref}:${ref}`],
      await remoteOptions(ws.remote),
    );
  } catch (err) {
    failure = err;
  }
  if (local) {
    const after = await baseCommit(ws);
    if (after !== before) {
      const message = `SECURITY: the base branch ${ws.baseBranch} of ${ws.remote.url} moved from ${before ?? '(none)'} to ${after ?? '(none)'} around the push of ${ws.branch}`;
      log?.error({ code: 'base_branch_written', remote: ws.remote.url, base: ws.baseBranch, before, after }, message);
      throw new WorkspaceError('base_branch_written', message);
    }
  }
  if (failure !== null) throw failure;
}

/** The commit of the base branch on the origin, or null when it has none. */
async function baseCommit(ws: Workspace): Promise<string | null> {
  const out = await workspaceGit(ws, ['ls-remote', ws.remote.url, `refs/heads/${ws.baseBranch}`], await remoteOptions(ws.remote));
  const line = out.split('\n').find((l) => l.endsWith(`\trefs/heads/${ws.baseBranch}`));
  return line ? line.split('\t')[0]! : null;
}
