import { createPullRequestStore, type Bus } from '../bus/index.ts';
import { repoLabel } from './render.ts';
import { createLogger, git, stripTerminalCodes, TicketId, UsageError, UserInputError, type PullRequest } from '../shared/index.ts';
import { withBus } from './bus.ts';
import { configFrom, parse, type Ctx } from './command.ts';

/** `nightshift pr list|show`. */
export function prCommand(ctx: Ctx, argv: string[]): Promise<number> {
  const [sub, ...args] = argv;
  if (sub === 'list') return prList(ctx, args);
  if (sub === 'show') return prShow(ctx, args);
  throw new UsageError('pr needs a subcommand: list or show');
}

async function prList(ctx: Ctx, argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {});
  if (positionals.length) throw new UsageError('pr list takes no arguments');
  const config = configFrom(ctx, values, true);
  const prs = await withBus(config, createLogger({ level: config.NIGHTSHIFT_LOG_LEVEL }), 'read', listPullRequests);
  ctx.out({ pullRequests: prs }, renderPullRequests(prs));
  return 0;
}

async function prShow(ctx: Ctx, argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {});
  if (positionals.length !== 1) throw new UsageError('pr show takes a ticket id, <repo>#<number> or a pull request number');
  const config = configFrom(ctx, values, true);
  const shown = await withBus(config, createLogger({ level: config.NIGHTSHIFT_LOG_LEVEL }), 'read', (bus) => showPullRequest(bus, positionals[0]!));
  ctx.out(shown, renderPullRequest(shown));
  return 0;
}

/** The pull request of a ticket, or null when it has none. */
export async function pullRequestOf(bus: Bus, ticketId: string): Promise<PullRequest | null> {
  return (await createPullRequestStore(bus)).get(ticketId);
}

export async function listPullRequests(bus: Bus): Promise<PullRequest[]> {
  return (await createPullRequestStore(bus)).list();
}

/**
 * A pull request by ticket id (`tk-…`), by `<repo>#<n>` (the repository as recorded, or its last path
 * segment, e.g. `demo-repo#1` or `owner/name#1`), or by a bare number `<n>`/`#<n>` when only one
 * repository has a pull request of that number. Pull request numbers are per repository, so an
 * ambiguous number is refused with the candidates listed, never resolved by guessing.
 */
export function findPullRequest(prs: readonly PullRequest[], ref: string): PullRequest {
  const text = ref.trim();
  if (TicketId.safeParse(text).success) {
    const pr = prs.find((p) => p.ticketId === text);
    if (!pr) throw new UserInputError('pr_not_found', `ticket ${text} has no pull request (nightshift pr list shows those there are)`);
    return pr;
  }
  const m = /^(?:(.+)#|#)?(\d+)$/.exec(text);
  if (!m) throw new UsageError(`"${ref}" is not a pull request: give a ticket id (tk-…), <repo>#<number> or a number`, 'invalid_pr_ref');
  const repo = m[1];
  const number = Number(m[2]);
  const candidates = prs.filter((p) => p.number === number && (repo === undefined || repoMatches(p.repo, repo)));
  if (candidates.length === 1) return candidates[0]!;
  if (candidates.length === 0) {
    throw new UserInputError('pr_not_found', `no pull request #${number}${repo === undefined ? '' : ` in ${repo}`} (nightshift pr list shows those there are)`);
  }
  const listed = candidates.map((p) => `${p.ticketId} (${p.repo}#${p.number})`).join(', ');
  throw new UsageError(
    `pull request #${number} is ambiguous: numbers are per repository, and ${candidates.length} repositories have one. Name it by ticket id or <repo>#<number>: ${listed}`,
    'pr_ambiguous',
  );
}

function repoMatches(recorded: string, given: string): boolean {
  const g = given.replace(/\/+$/, '').replace(/\.git$/, '');
  const r = recorded.replace(/\/+$/, '').replace(/\.git$/, '');
  return r === g || r.endsWith(`/${g}`) || r.endsWith(`:${g}`);
}

/** A pull request by ticket id, `<repo>#<n>` or an unambiguous number, with its diff when the repository is a local path. */
export async function showPullRequest(bus: Bus, ref: string): Promise<{ pr: PullRequest; diff: string | null }> {
  const pr = findPullRequest(await (await createPullRequestStore(bus)).list(), ref);
  let patch: string | null = null;
  if (pr.forge === 'local' && pr.repo.startsWith('/')) {
    patch = await git(pr.repo, ['diff', '--no-color', '--no-ext-diff', '--no-textconv', `${pr.baseSha}...refs/heads/${pr.branch}`]).catch(() => null);
  }
  return { pr, diff: patch };
}

export function renderPullRequests(prs: readonly PullRequest[]): string {
  if (prs.length === 0) return 'no pull requests';
  return stripTerminalCodes(prs.map((p) => `${`${repoLabel(p.repo)}#${p.number}`.padEnd(24)} ${p.ticketId}  ${p.state.padEnd(7)} ${p.branch} → ${p.base}  ${p.title}`).join('\n'));
}

/** A pull request for a person's terminal: escape codes in its body or diff (a hostile repository's files) are not passed on. */
export function renderPullRequest({ pr, diff }: { pr: PullRequest; diff: string | null }): string {
  return stripTerminalCodes([
    `${repoLabel(pr.repo)}#${pr.number} ${pr.title}  [${pr.state}]`,
    `${pr.branch} → ${pr.base} · ${pr.url} · ticket ${pr.ticketId}`,
    `head ${pr.headSha.slice(0, 12)} · base ${pr.baseSha.slice(0, 12)} · opened ${pr.createdAt}`,
    '',
    pr.body,
    ...(diff === null ? [] : ['', '--- diff ---', diff]),
  ].join('\n'));
}
