import { ConfigError, NightshiftError, UsageError } from '../shared/index.ts';
import { WaitTimeoutError } from '../bus/index.ts';

/**
 * The exit codes of every `nightshift` command, and the one place an error is turned into one:
 * - 0 `ok`: done;
 * - 1 `failed`: the command ran and failed (NATS unreachable, a ticket or pull request not found, a
 *   refused answer, anything unexpected);
 * - 2 `usage`: it cannot run as written: bad usage (an unknown command or flag, a malformed argument,
 *   an ambiguous reference) or bad configuration (an invalid or missing setting), whatever the command;
 * - 3 `timedOut`: gave up waiting (`ticket wait`, `--wait`).
 */
export const EXIT = { ok: 0, failed: 1, usage: 2, timedOut: 3 } as const;

/** The exit code for an error a command ended with. */
export function exitCodeOf(err: unknown): number {
  if (err instanceof WaitTimeoutError) return EXIT.timedOut;
  if (err instanceof UsageError || err instanceof ConfigError) return EXIT.usage;
  return EXIT.failed;
}

/** Whether an error is one nightshift raised on purpose (its message says it all; no stack trace). */
export function isExpected(err: unknown): boolean {
  return err instanceof NightshiftError;
}

/** The table for `nightshift --help`. */
export const EXIT_HELP = `exit codes: ${EXIT.ok} ok · ${EXIT.failed} failed · ${EXIT.usage} bad usage or configuration · ${EXIT.timedOut} timed out waiting`;
