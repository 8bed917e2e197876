import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  argvOf,
  imageMissingMessage,
  parseRunSpec,
  parseSessionSpec,
  SandboxError,
  type Availability,
  type RunOptions,
  type RunResult,
  type RunSpec,
  type RunSpecInput,
  type Sandbox,
  type SandboxSession,
  type SessionSpecInput,
  sessionOverRuns,
} from '../../sandbox/index.ts';
import { OutputCapture, resolveWorkspace } from '../../sandbox/internal.ts';

export interface ProcessSandboxOptions {
  /**
   * Images `ensureImage` and `run` accept; any other is `image_missing`, as in Docker. Default: every
   * image is accepted (and ignored).
   */
  images?: readonly string[];
}

/**
 * !!! NO ISOLATION. FOR UNIT TESTS ONLY. NEVER RUN UNTRUSTED CODE WITH IT. !!!
 *
 * A `Sandbox` that runs each command as a plain child process of this one, on the host, in the
 * workspace directory itself: no container, no network isolation (`network` is ignored), no CPU,
 * memory or pids limits (`limits` is ignored, `oomKilled` is always false), the host's filesystem
 * fully visible, and the host user's privileges. `image` is ignored (or checked against `images`).
 *
 * What it does keep, so that agent unit tests see Docker's behaviour (the same contract suite runs
 * against both): exit codes, separate stdout/stderr, the cwd inside the workspace (refused outside),
 * an environment of only `spec.env` plus PATH and a fresh HOME, stdin closed, the wall-clock timeout
 * and the output cap (both kill the whole process group), background children killed when the command
 * exits, and cancellation. Every parsed spec is recorded in `runs`.
 */
export class ProcessSandbox implements Sandbox {
  readonly kind = 'local-process';
  /** Every spec run so far, with defaults applied, in order. */
  readonly runs: RunSpec[] = [];
  readonly #images: ReadonlySet<string> | null;

  constructor(options: ProcessSandboxOptions = {}) {
    this.#images = options.images ? new Set(options.images) : null;
  }

  async available(): Promise<Availability> {
    return { ok: true, detail: 'local processes (no isolation: unit tests only)' };
  }

  /** The workspace itself: commands run on the host, in it. */
  mountPoint(workspace: string): string {
    return workspace;
  }

  async ensureImage(image: string): Promise<void> {
    if (this.#images && !this.#images.has(image)) throw new SandboxError('image_missing', imageMissingMessage(image));
  }

  async run(input: RunSpecInput, options: RunOptions = {}): Promise<RunResult> {
    const spec = parseRunSpec(input);
    if (options.signal?.aborted) throw new SandboxError('cancelled', 'the sandbox run was cancelled before it started');
    await this.ensureImage(spec.image);
    const ws = await resolveWorkspace(spec);
    this.runs.push(spec);
    const home = await mkdtemp(join(tmpdir(), 'nightshift-fake-home-'));
    try {
      return await runProcess(spec, ws.cwd, home, options.signal);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  }

  /**
   * A session whose commands are `run`s of its image, workspace and limits, one at a time (each is
   * recorded in `runs`, with `network: 'none'`). Checks the image and the workspace as it opens.
   */
  async session(input: SessionSpecInput): Promise<SandboxSession> {
    const spec = parseSessionSpec(input);
    await this.ensureImage(spec.image);
    await resolveWorkspace({ workspace: spec.workspace, cwd: '.' });
    return sessionOverRuns(this, spec);
  }
}

function runProcess(spec: RunSpec, cwd: string, home: string, signal: AbortSignal | undefined): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const [file, ...args] = argvOf(spec);
    const child = spawn(file!, args, {
      cwd,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, ...spec.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let killedBy: 'timeout' | 'output' | 'cancel' | null = null;
    const killGroup = () => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // the group is already gone
      }
    };
    const kill = (why: 'timeout' | 'output' | 'cancel') => {
      if (killedBy !== null) return;
      killedBy = why;
      killGroup();
    };
    const capture = new OutputCapture(spec.maxOutputBytes, () => kill('output'));
    child.stdout!.on('data', (d: Buffer) => capture.push('stdout', d));
    child.stderr!.on('data', (d: Buffer) => capture.push('stderr', d));
    const onAbort = () => kill('cancel');
    signal?.addEventListener('abort', onAbort, { once: true });
    const started = performance.now();
    const timer = setTimeout(() => kill('timeout'), spec.timeoutMs);
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    child.on('exit', (code, sig) => {
      exit = { code, signal: sig };
      // Like a container's init: when the command exits, whatever it left running dies with it.
      killGroup();
    });
    let settled = false;
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (err.code !== 'ENOENT' && err.code !== 'EACCES') {
        return reject(new SandboxError('sandbox_failed', `could not start ${file}: ${err.message}`, { cause: err }));
      }
      // What a container's init reports for a command it cannot execute.
      resolve({
        exitCode: err.code === 'ENOENT' ? 127 : 126,
        timedOut: false,
        oomKilled: false,
        outputLimitExceeded: false,
        durationMs: Math.round(performance.now() - started),
        stdout: '',
        stderr: `exec ${file} failed: ${err.message}\n`,
      });
    });
    child.on('close', () => {
      if (exit === undefined || settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      const durationMs = Math.round(performance.now() - started);
      if (killedBy === 'cancel') return reject(new SandboxError('cancelled', 'the sandbox run was cancelled'));
      const exitCode = killedBy !== null ? null : (exit.code ?? 128 + signalNumber(exit.signal));
      resolve({
        exitCode,
        timedOut: killedBy === 'timeout',
        oomKilled: false,
        outputLimitExceeded: killedBy === 'output',
        durationMs,
        stdout: capture.text('stdout'),
        stderr: capture.text('stderr'),
      });
    });
  });
}

function signalNumber(sig: NodeJS.Signals | null): number {
  return sig === null ? 0 : (constants.signals[sig] ?? 0);
}
