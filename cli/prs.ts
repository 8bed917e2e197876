import { listPullRequests, showPullRequest } from '../bus/index.ts';
import { repoLabel } from './render.ts';
import { createLogger, stripTerminalCodes, UsageError, type PullRequest } from '../shared/index.ts';
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
