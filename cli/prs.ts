import { createPullRequestStore, type Bus } from '../bus/index.ts';
import { git, stripTerminalCodes, UserInputError, type PullRequest } from '../shared/index.ts';

export async function listPullRequests(bus: Bus): Promise<PullRequest[]> {
  return (await createPullRequestStore(bus)).list();
}

/** A pull request by ticket id or number, with its diff when the repository is a local path. */
export async function showPullRequest(bus: Bus, ref: string): Promise<{ pr: PullRequest; diff: string | null }> {
  const store = await createPullRequestStore(bus);
  const pr = /^\d+$/.test(ref) ? (await store.list()).find((p) => p.number === Number(ref)) : await store.get(ref);
  if (!pr) throw new UserInputError('pr_not_found', `no pull request for ${ref}`);
  let patch: string | null = null;
  if (pr.forge === 'local' && pr.repo.startsWith('/')) {
    patch = await git(pr.repo, ['diff', '--no-color', '--no-ext-diff', '--no-textconv', `${pr.baseSha}...refs/heads/${pr.branch}`]).catch(() => null);
  }
  return { pr, diff: patch };
}

export function renderPullRequests(prs: readonly PullRequest[]): string {
  if (prs.length === 0) return 'no pull requests';
  return stripTerminalCodes(prs.map((p) => `#${String(p.number).padEnd(4)} ${p.ticketId}  ${p.state.padEnd(7)} ${p.branch} → ${p.base}  ${p.title}`).join('\n'));
}

/** A pull request for a person's terminal: escape codes in its body or diff (a hostile repository's files) are not passed on. */
export function renderPullRequest({ pr, diff }: { pr: PullRequest; diff: string | null }): string {
  return stripTerminalCodes([
    `#${pr.number} ${pr.title}  [${pr.state}]`,
    `${pr.branch} → ${pr.base} · ${pr.url} · ticket ${pr.ticketId}`,
    `head ${pr.headSha.slice(0, 12)} · base ${pr.baseSha.slice(0, 12)} · opened ${pr.createdAt}`,
    '',
    pr.body,
    ...(diff === null ? [] : ['', '--- diff ---', diff]),
  ].join('\n'));
}
