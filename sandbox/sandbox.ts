import { posix } from 'node:path';
import { z } from 'zod';
import { fieldIssues, formatDuration } from '../shared/index.ts';
import { SandboxError } from './errors.ts';

/** Where the workspace appears inside a sandbox. */
export const WORKSPACE_DIR = '/workspace';

const MiB = 1024 * 1024;
/** Default wall-clock bound of a run. */
export const DEFAULT_TIMEOUT_MS = 600_000;
/** Default output cap of a run (stdout and stderr together). */
export const DEFAULT_MAX_OUTPUT_BYTES = MiB;

/** Resource limits of one run. Defaults suit a test suite of a mid-sized repository. */
export const RunLimits = z
  .object({
    /** CPU time as a number of cores (0.5 = half a core). */
    cpus: z.number().positive().max(64).default(1),
    /** Memory, without swap; the command is killed by the kernel beyond it (`oomKilled`). */
    memoryBytes: z.number().int().min(32 * MiB).default(2048 * MiB),
    /** Processes plus threads. A fork bomb hits this and gets EAGAIN. */
    pids: z.number().int().min(16).max(65_536).default(512),
    /** Size of the tmpfs at /tmp (also HOME). Its pages count against `memoryBytes`. */
    tmpBytes: z.number().int().min(MiB).default(512 * MiB),
  })
  .strict();

/** Resource limits after defaults. */
export type RunLimits = z.infer<typeof RunLimits>;

const relativeCwd = z
  .string()
  .default('.')
  .refine((cwd) => !posix.isAbsolute(cwd) && !cwd.includes('\\'), 'must be a path relative to the workspace')
  .transform((cwd) => posix.normalize(cwd).replace(/\/+$/, '') || '.')
  .refine((cwd) => cwd !== '..' && !cwd.startsWith('../'), 'must stay inside the workspace');

/**
 * One command to run in a fresh sandbox. Parsed (and defaulted) by every implementation with
 * `parseRunSpec`; callers pass a `RunSpecInput`.
 */
export const RunSpec = z
  .object({
    /** Container image, e.g. `DEFAULT_NODE_IMAGE`. It is never pulled: it must already be in the engine. */
    image: z.string().min(1),
    /** Absolute host path of the workspace, mounted read-write at `/workspace`. */
    workspace: z.string().refine((p) => p.startsWith('/'), 'must be an absolute host path'),
    /** An argv array run as is, or a shell command run with `sh -c`. */
    command: z.union([z.string().min(1), z.array(z.string()).min(1)]),
    /** Working directory relative to the workspace root; must exist. */
    cwd: relativeCwd,
    /**
     * The whole environment of the command, besides the image's own (PATH) and HOME=/tmp.
     * Nothing of the host's environment is passed, ever.
     */
    env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'not an environment variable name'), z.string()).default({}),
    /**
     * `none` (default): no network interface but loopback. `bridge`: the setup network, for an
     * explicit dependency-installation setup step only, never for running repository code. It reaches
     * public addresses (package registries) and DNS, never the host or private networks (the Docker
     * implementation's egress gate; docs/security.md).
     */
    network: z.enum(['none', 'bridge']).default('none'),
    /** Wall-clock bound; the command is killed (SIGKILL) when it is reached. */
    timeoutMs: z.number().int().positive().max(86_400_000).default(DEFAULT_TIMEOUT_MS),
    /**
     * Bound on stdout and stderr together. The first `maxOutputBytes` are kept; one byte more and the
     * command is killed (`outputLimitExceeded`), so a runaway printer is stopped, not just truncated.
     */
    maxOutputBytes: z.number().int().positive().max(256 * MiB).default(DEFAULT_MAX_OUTPUT_BYTES),
    limits: RunLimits.prefault({}),
  })
  .strict();

/** A run spec with every default applied. */
export type RunSpec = z.infer<typeof RunSpec>;
/** A run spec as callers write it (defaults optional). */
export type RunSpecInput = z.input<typeof RunSpec>;

/** What became of one run. */
export interface RunResult {
  /**
   * The command's exit status (128 + signal number when a signal ended it, e.g. 137 after the
   * kernel's OOM kill), or null when the sandbox killed it: `timedOut` or `outputLimitExceeded`.
   */
  exitCode: number | null;
  /** Killed at `timeoutMs`. */
  timedOut: boolean;
  /** The kernel killed a process of the run for exceeding `limits.memoryBytes`. */
  oomKilled: boolean;
  /** Killed for writing more than `maxOutputBytes`. */
  outputLimitExceeded: boolean;
  /** From start to exit, in milliseconds. */
  durationMs: number;
  /** Standard output as UTF-8 (invalid bytes replaced), at most `maxOutputBytes` bytes. */
  stdout: string;
  /** Standard error, likewise; stdout and stderr together hold at most `maxOutputBytes` bytes. */
  stderr: string;
}

/**
 * What a warm session is opened on: one sandbox for many commands on one workspace (`Sandbox.session`).
 * Always without network: setup steps that need one stay cold `run`s.
 */
export const SessionSpec = z
  .object({
    /** Container image, as in `RunSpec`; never pulled. */
    image: z.string().min(1),
    /** Absolute host path of the workspace, mounted read-write at `/workspace` for the session's life. */
    workspace: z.string().refine((p) => p.startsWith('/'), 'must be an absolute host path'),
    /** Limits of the whole session; each command gets all of them while it runs (commands never overlap). */
    limits: RunLimits.prefault({}),
  })
  .strict();

/** A session spec with every default applied. */
export type SessionSpec = z.infer<typeof SessionSpec>;
/** A session spec as callers write it. */
export type SessionSpecInput = z.input<typeof SessionSpec>;

/** One command of a session: the per-command fields of `RunSpec`, same meanings and defaults. */
export const SessionRunSpec = RunSpec.pick({ command: true, cwd: true, env: true, timeoutMs: true, maxOutputBytes: true }).strict();

/** A session command with every default applied. */
export type SessionRunSpec = z.infer<typeof SessionRunSpec>;
/** A session command as callers write it. */
export type SessionRunSpecInput = z.input<typeof SessionRunSpec>;

/**
 * A warm sandbox: the same isolation as `Sandbox.run` (no network, non-root, read-only root, limits,
 * none of the host's environment), but kept alive between commands so that each command costs an exec,
 * not a container. Commands run one at a time (a second `run` waits for the first); each sees the
 * workspace as the previous one left it. What a command leaves running is killed before its `run`
 * settles, as with a cold run; `/tmp` (HOME) may keep files between commands of one session.
 * Always `close()` it (or `await using`): that removes the sandbox; a crashed process's sessions are
 * reaped by the backend's leftover removal.
 */
export interface SandboxSession {
  /**
   * Runs one command to completion, with `Sandbox.run`'s results and errors. A command killed for
   * time, output, memory or cancellation leaves the session usable: the backend resets it if it must.
   * Rejects with SandboxError `sandbox_failed` after `close()`.
   */
  run(spec: SessionRunSpecInput, options?: RunOptions): Promise<RunResult>;
  /** Kills whatever runs and removes the sandbox. Idempotent; never rejects. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Parses a session spec; throws SandboxError `invalid_spec` listing every bad field. */
export function parseSessionSpec(input: SessionSpecInput): SessionSpec {
  return parseWith(SessionSpec, input, 'invalid sandbox session');
}

/** Parses one session command; throws SandboxError `invalid_spec` listing every bad field. */
export function parseSessionRunSpec(input: SessionRunSpecInput): SessionRunSpec {
  return parseWith(SessionRunSpec, input, 'invalid sandbox run');
}

function parseWith<S extends z.ZodType>(schema: S, input: unknown, what: string): z.infer<S> {
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    const issues = fieldIssues(parsed.error.issues);
    throw new SandboxError('invalid_spec', `${what}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
  }
  return parsed.data;
}

/** Whether a sandbox backend can run commands here. */
export type Availability = { ok: true; detail: string } | { ok: false; reason: string };

/** Options of one `run` call that are not part of what is run. */
export interface RunOptions {
  /** Aborting kills the command; `run` then rejects with SandboxError `cancelled`. */
  signal?: AbortSignal;
}

/**
 * Runs repository code in isolation: each `run` is one command in a fresh sandbox with the workspace
 * mounted read-write at `/workspace`, no network unless the spec says `bridge`, none of the host's
 * environment, and wall-clock, output, CPU, memory and process limits. Nothing survives a run but
 * what it wrote to the workspace.
 */
export interface Sandbox {
  /** A short name of the backend, for logs: `docker`, `local-process`. */
  readonly kind: string;

  /**
   * Whether commands can run. Never throws: `{ ok: true, detail }` (detail names the engine and its
   * version) or `{ ok: false, reason }` saying what is missing.
   */
  available(): Promise<Availability>;

  /**
   * Resolves when `image` is present. Never pulls. Rejects with SandboxError `image_missing` whose
   * message names the command that builds the image (or says that nightshift ships no recipe for
   * it), or `engine_unavailable` when the engine does not answer.
   */
  ensureImage(image: string): Promise<void>;

  /**
   * Where a run sees `workspace` (the host path of a spec's workspace): `/workspace` in a container.
   * Paths a run writes into files (a test runner's report) start with it.
   */
  mountPoint(workspace: string): string;

  /**
   * Runs one command to completion and resolves with its `RunResult`, whatever the command did: a
   * non-zero exit, a timeout, an OOM kill or too much output are results, not rejections.
   * Rejects with SandboxError only when the command could not run or was cancelled:
   * `invalid_spec`, `invalid_workspace`, `image_missing`, `engine_unavailable`, `cancelled`,
   * `sandbox_failed`. Whatever it creates for the run is removed before it settles.
   */
  run(spec: RunSpecInput, options?: RunOptions): Promise<RunResult>;

  /**
   * Opens a warm session on one workspace (see `SandboxSession`): for a stage that runs several
   * commands there. Rejects like `run` does before a command starts (`invalid_spec`,
   * `invalid_workspace`, `image_missing`, `engine_unavailable`, `sandbox_failed`).
   */
  session(spec: SessionSpecInput): Promise<SandboxSession>;
}

/** Parses a run spec; throws SandboxError `invalid_spec` listing every bad field. */
export function parseRunSpec(input: RunSpecInput): RunSpec {
  return parseWith(RunSpec, input, 'invalid sandbox run');
}

/** The argv a spec runs: the array as given, or `sh -c <command>`. */
export function argvOf(spec: Pick<RunSpec, 'command'>): string[] {
  return typeof spec.command === 'string' ? ['sh', '-c', spec.command] : [...spec.command];
}

/**
 * Why a run did not succeed, in one sentence for people and models, or null when it exited 0.
 * E.g. "killed: no exit within the 30s timeout", "killed: wrote more than 1048576 bytes of output".
 * `spec` is the run's spec (or just its limits); what it leaves out is taken as the default.
 */
export function runFailure(
  result: RunResult,
  spec: Pick<RunSpecInput, 'timeoutMs' | 'maxOutputBytes' | 'limits'> = {},
): string | null {
  if (result.timedOut) return `killed: no exit within the ${formatDuration(spec.timeoutMs ?? DEFAULT_TIMEOUT_MS)} timeout`;
  if (result.outputLimitExceeded) {
    return `killed: wrote more than ${spec.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES} bytes of output (runaway output)`;
  }
  if (result.oomKilled) {
    const memory = RunLimits.safeParse(spec.limits ?? {}).data?.memoryBytes;
    const limit = memory === undefined ? '' : ` (limit ${Math.round(memory / MiB)} MiB)`;
    return `killed: out of memory${limit}, exit code ${result.exitCode ?? 'none'}`;
  }
  if (result.exitCode === 0) return null;
  return `exit code ${result.exitCode}`;
}
