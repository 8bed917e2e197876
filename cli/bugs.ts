import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { reportBug } from '../bus/index.ts';
import { UsageError } from '../shared/index.ts';
import { parse, type Ctx } from './command.ts';
import { INTAKE_FLAGS, postIntakeCommand, repoArg } from './intake.ts';

/** `nightshift bug report`. */
export function bugCommand(ctx: Ctx, argv: string[]): Promise<number> {
  const [sub, ...args] = argv;
  if (sub === 'report') return bugReport(ctx, args);
  throw new UsageError('bug needs a subcommand: report');
}

function bugReport(ctx: Ctx, argv: string[]): Promise<number> {
  const parsed = parse(argv, {
    ...INTAKE_FLAGS,
    description: { type: 'string' },
    steps: { type: 'string' },
    expected: { type: 'string' },
    actual: { type: 'string' },
    logs: { type: 'string' },
    environment: { type: 'string' },
    reporter: { type: 'string' },
  });
  return postIntakeCommand(ctx, 'bug report', parsed, (v) => {
    if (!v.title || v.description === undefined || !v.repo) throw new UsageError('bug report needs --title, --description and --repo (or --file)');
    return {
      title: v.title,
      description: v.description,
      repo: repoArg(v.repo, v['base-branch']),
      ...(v.steps && { steps: v.steps }),
      ...(v.expected && { expected: v.expected }),
      ...(v.actual && { actual: v.actual }),
      ...(v.logs && { logs: readFileSync(v.logs === '-' ? 0 : v.logs, 'utf8') }),
      ...(v.environment && { environment: v.environment }),
      reporter: v.reporter ?? `cli:${userInfo().username}`,
      ...(v['external-id'] && { externalId: v['external-id'] }),
      ...(v.label && { labels: v.label }),
    };
  }, reportBug);
}
