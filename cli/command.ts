import { userInfo } from 'node:os';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { checkTicketId } from '../bus/index.ts';
import {
  ConfigError,
  describeError,
  loadConfig,
  parseDuration,
  ROLES,
  State,
  UsageError,
  UserInputError,
  type Config,
  type FieldIssue,
  type Logger,
  type Role,
} from '../shared/index.ts';
import { exitCodeOf, isExpected } from './exit.ts';

/**
 * What a command gets from the process that runs it (bin/nightshift.ts, which owns the process): its
 * output, environment, working directory, how to run the CLI again in a child, and the signal that
 * stops a long-running command.
 */
export interface Ctx {
  /** --json anywhere on the command line. */
  json: boolean;
  /** Prints a command's result: `value` as one JSON line with --json, else `text`. */
  out(value: unknown, text: string): void;
  /** Writes to standard output as it is. */
  stdout(text: string): void;
  /** Writes to standard error as it is. */
  stderr(text: string): void;
  env: Record<string, string | undefined>;
  cwd: string;
  /** How to run the CLI itself in a child: the node binary and its arguments. */
  self: { node: string; args: string[] };
  /** An AbortSignal for a long-running command: aborted by SIGINT, SIGTERM, or a parent that went away. */
  shutdown(log: Logger): AbortSignal;
}

/** A command (or a group of subcommands): the arguments after its name, and the exit code. */
export type Command = (ctx: Ctx, argv: string[]) => Promise<number>;

/** The options every command accepts. */
export const GLOBAL_OPTIONS = {
  nats: { type: 'string' },
  prefix: { type: 'string' },
  'log-level': { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const satisfies NonNullable<ParseArgsConfig['options']>;

type Options = NonNullable<ParseArgsConfig['options']>;

/** A command's arguments with its own options and the global ones; anything else is bad usage. */
export function parse<O extends Options>(argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, options: { ...GLOBAL_OPTIONS, ...options }, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/**
 * The configuration of a command: the environment with the global options over it. A client command
 * (one that talks to the bus and ends) logs warnings only unless told otherwise.
 */
export function configFrom(ctx: Ctx, values: Record<string, unknown>, clientCommand: boolean): Config {
  return loadConfig(ctx.env, {
    NATS_URL: values.nats as string | undefined,
    NIGHTSHIFT_PREFIX: values.prefix as string | undefined,
    NIGHTSHIFT_LOG_LEVEL: (values['log-level'] as string | undefined) ?? (clientCommand ? ctx.env.NIGHTSHIFT_LOG_LEVEL ?? 'warn' : undefined),
  });
}

/** Prints the error a command ended with (a JSON reply with --json) and returns its exit code. */
export function reportError(ctx: Ctx, err: unknown): number {
  const { code, message } = describeError(err);
  const issues: readonly FieldIssue[] = err instanceof ConfigError || err instanceof UserInputError ? err.issues : [];
  if (ctx.json) {
    ctx.stdout(`${JSON.stringify({ ok: false, error: { code, message, ...(issues.length && { issues }) } })}\n`);
  } else {
    ctx.stderr(`nightshift: ${message}\n`);
    if (!(err instanceof ConfigError)) for (const i of issues) ctx.stderr(`  ${i.path}: ${i.message}\n`);
    if (err instanceof UsageError) ctx.stderr(`run \`nightshift --help\` for usage\n`);
  }
  if (!isExpected(err) && !ctx.json) ctx.stderr(`${(err as Error).stack ?? ''}\n`);
  return exitCodeOf(err);
}

export function role(name: string | undefined): Role {
  if (!name || !(ROLES as readonly string[]).includes(name)) throw new UsageError(`agent needs a role: one of ${ROLES.join(', ')}`);
  return name as Role;
}

export function duration(text: string | undefined, fallback: number, flag: string): number {
  if (text === undefined) return fallback;
  const ms = parseDuration(text);
  if (ms === undefined) throw new UsageError(`${flag} "${text}" is not a duration (e.g. 30s, 5m, 1h)`);
  return ms;
}

export function states(values: string[] | undefined): State[] {
  return (values ?? []).flatMap((v) => v.split(',')).map((s) => {
    const parsed = State.safeParse(s.trim());
    if (!parsed.success) throw new UsageError(`"${s}" is not a ticket state`);
    return parsed.data;
  });
}

/** `<role>=<value>,…` as a record. */
export function keyValues(text: string | undefined, flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (text ?? '').split(',').filter(Boolean)) {
    const [k, v] = part.split('=');
    if (!k || !v) throw new UsageError(`${flag} takes <role>=<value>, got "${part}"`);
    out[k.trim()] = v.trim();
  }
  return out;
}

export function oneId(positionals: string[], what: string): string {
  if (positionals.length !== 1) throw new UsageError(`${what} takes one ticket id`);
  return checkTicketId(positionals[0]!);
}

/** Who acts: --by, else NIGHTSHIFT_USER, else the login name. */
export function actor(ctx: Ctx, values: { by?: string | undefined }): string {
  return values.by ?? ctx.env.NIGHTSHIFT_USER ?? userInfo().username;
}
