import { NightshiftError } from '../shared/index.ts';

/**
 * Why a sandbox could not run a command at all. A command that ran and failed, timed out, ran out of
 * memory or printed too much is not an error: it is a `RunResult`.
 *
 * - `engine_unavailable` (retryable): the container engine did not answer.
 * - `image_missing`: the image is not in the engine; the message names the recipe that builds it.
 * - `invalid_spec`: the run spec is malformed (a cwd outside the workspace, a bad limit…).
 * - `invalid_workspace`: the workspace is not an existing absolute directory, or cannot be made
 *   writable by the sandbox user.
 * - `cancelled` (retryable): the caller's abort signal fired; the command was killed.
 * - `sandbox_failed` (retryable): the engine refused or failed an operation.
 */
export class SandboxError extends NightshiftError {
  readonly code: SandboxErrorCode;
  readonly retryable: boolean;

  constructor(code: SandboxErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options);
    this.code = code;
    this.retryable = RETRYABLE.has(code);
  }
}

export type SandboxErrorCode =
  | 'engine_unavailable'
  | 'image_missing'
  | 'invalid_spec'
  | 'invalid_workspace'
  | 'cancelled'
  | 'sandbox_failed';

const RETRYABLE: ReadonlySet<SandboxErrorCode> = new Set(['engine_unavailable', 'cancelled', 'sandbox_failed']);

/**
 * A repository whose sandbox profile cannot be determined: no `.nightshift.yml` and nothing
 * recognisable, or a `.nightshift.yml` / `package.json` that does not parse (`invalid_repo_config`,
 * `unknown_repo_type`), or a manifest that needs a toolchain the image does not have: a go.mod's Go,
 * a pyproject.toml's `requires-python` (`toolchain_missing`). Not retryable: the repository (or its
 * image) has to change. `issues` lists each problem with its field (or `line N`).
 */
export type ProfileErrorCode = 'invalid_repo_config' | 'unknown_repo_type' | 'toolchain_missing';

export class ProfileError extends NightshiftError {
  readonly code: ProfileErrorCode;
  readonly retryable = false;
  readonly issues: readonly { path: string; message: string }[];

  constructor(
    code: ProfileErrorCode,
    message: string,
    issues: readonly { path: string; message: string }[] = [],
  ) {
    super(issues.length === 0 ? message : `${message}\n${issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}`);
    this.code = code;
    this.issues = issues;
  }
}
