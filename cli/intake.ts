import { readFileSync } from 'node:fs';
import type { Bus } from '../bus/index.ts';
import { createLogger, repoRefOf, UsageError, type IntakeReply, type RepoRef } from '../shared/index.ts';
import { withBus } from './bus.ts';
import { configFrom, type Ctx } from './command.ts';

/** Flags `ticket create` and `bug report` share. */
export const INTAKE_FLAGS = {
  file: { type: 'string' },
  title: { type: 'string' },
  repo: { type: 'string' },
  'base-branch': { type: 'string' },
  'external-id': { type: 'string' },
  label: { type: 'string', multiple: true },
} as const;

/**
 * `ticket create` and `bug report`: the --file as it is (or stdin with `-`), or the payload `build`
 * makes of the flags, posted with `post`; prints the id, or the refusal with its fields.
 */
export async function postIntakeCommand<V extends { file?: string | undefined }>(
  ctx: Ctx,
  what: string,
  { values, positionals }: { values: V; positionals: string[] },
  build: (values: V) => unknown,
  post: (bus: Bus, payload: unknown) => Promise<IntakeReply>,
): Promise<number> {
  if (positionals.length) throw new UsageError(`${what} takes options only (see nightshift --help)`);
  const config = configFrom(ctx, values, true);
  const log = createLogger({ level: config.NIGHTSHIFT_LOG_LEVEL });
  const payload = values.file !== undefined ? new Uint8Array(readFileSync(values.file === '-' ? 0 : values.file)) : build(values);
  const reply = await withBus(config, log, 'write', (bus) => post(bus, payload));
  return intakeResult(ctx, reply, what);
}

/** A --repo argument as the intake's repo, with its base branch. */
export function repoArg(repo: string, baseBranch: string | undefined): RepoRef {
  return { ...repoRefOf(repo), ...(baseBranch && { baseBranch }) };
}

/** Prints an intake reply: the id (exit 0), or the refusal with its field issues (exit 1). */
function intakeResult(ctx: Ctx, reply: IntakeReply, what: string): number {
  if (reply.ok) {
    ctx.out(reply, reply.duplicate ? `${reply.id} (already posted: same external id)` : reply.id);
    return 0;
  }
  if (ctx.json) ctx.out(reply, '');
  else {
    ctx.stderr(`nightshift: ${what} refused (${reply.error.code}): ${reply.error.message}\n`);
    for (const i of reply.error.issues ?? []) ctx.stderr(`  ${i.path}: ${i.message}\n`);
  }
  return 1;
}
