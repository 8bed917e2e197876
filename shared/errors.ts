/**
 * Every error nightshift raises on purpose. `code` is stable and machine-readable; `retryable` tells the
 * coordinator and the agent runtime whether trying again can help. Nothing downstream reads `message`
 * to decide anything. A bare Error is left only for a broken invariant, a bug no caller handles (an
 * illegal transition in the reducer, a malformed subject token).
 */
export abstract class NightshiftError extends Error {
  abstract readonly code: string;
  abstract readonly retryable: boolean;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A failure inside an agent's work. The runtime retries it later when `retryable`, else reports it. */
export class AgentError extends NightshiftError {
  readonly code: string;
  readonly retryable: boolean;

  constructor(code: string, message: string, options: { retryable: boolean; cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.retryable = options.retryable;
  }
}

/** Bad input from outside (a request, a flag, a payload). Never retryable: the same input fails again. */
export class UserInputError extends NightshiftError {
  readonly code: string;
  readonly retryable = false;
  readonly issues: readonly FieldIssue[];

  constructor(code: string, message: string, issues: readonly FieldIssue[] = []) {
    super(message);
    this.code = code;
    this.issues = issues;
  }
}

/**
 * A command line that cannot be carried out as written: an unknown command or flag, a malformed
 * argument (a ticket id that is not one), an ambiguous reference. The CLI exits 2 on it, as on a
 * ConfigError; other UserInputErrors (a ticket that does not exist) exit 1.
 */
export class UsageError extends UserInputError {
  constructor(message: string, code = 'usage', issues: readonly FieldIssue[] = []) {
    super(code, message, issues);
  }
}

/** Invalid configuration found at start-up; lists every offending variable or flag. */
export class ConfigError extends NightshiftError {
  readonly code = 'invalid_config';
  readonly retryable = false;
  readonly issues: readonly FieldIssue[];

  constructor(issues: readonly FieldIssue[]) {
    super(`invalid configuration:\n${issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}`);
    this.issues = issues;
  }
}

/**
 * A command that ran and failed the way its message says (a refused ticket, a server that would not
 * start, no free ports): the CLI prints the message without a stack trace and exits 1.
 */
export class CommandError extends NightshiftError {
  readonly code: string;
  readonly retryable = false;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** A compare-and-set lost against a concurrent writer; re-read and try again. */
export class ConflictError extends NightshiftError {
  readonly code = 'conflict';
  readonly retryable = true;
}

/** One problem with one field: `path` is dotted (`repo.url`, `labels.2`). */
export interface FieldIssue {
  path: string;
  message: string;
}

/** Turns zod issues into field issues with dotted paths (`(root)` for the value itself). */
export function fieldIssues(issues: readonly { path: readonly PropertyKey[]; message: string }[]): FieldIssue[] {
  return issues.map((i) => ({
    path: i.path.length === 0 ? '(root)' : i.path.map(String).join('.'),
    message: i.message,
  }));
}

/** A plain description of any thrown value, for logs and error replies. */
export function describeError(err: unknown): { code: string; message: string; retryable: boolean } {
  if (err instanceof NightshiftError) return { code: err.code, message: err.message, retryable: err.retryable };
  if (err instanceof Error) return { code: 'internal_error', message: err.message, retryable: true };
  return { code: 'internal_error', message: String(err), retryable: true };
}
