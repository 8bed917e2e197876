import { SandboxError } from './errors.ts';
import {
  parseRunSpec,
  parseSessionRunSpec,
  parseSessionSpec,
  type Availability,
  type RunOptions,
  type RunResult,
  type RunSpecInput,
  type Sandbox,
  type SandboxSession,
  type SessionRunSpecInput,
  type SessionSpecInput,
} from './sandbox.ts';

/**
 * Serialises the commands of a session: each `run` starts when the previous one has settled, and none
 * starts after `close()`.
 */
export class SessionQueue {
  #tail: Promise<unknown> = Promise.resolve();
  #closed = false;

  get closed(): boolean {
    return this.#closed;
  }

  /** Runs `work` after everything queued before it; rejects with `sandbox_failed` once closed. */
  run<T>(work: () => Promise<T>): Promise<T> {
    const next = this.#tail.then(() => {
      if (this.#closed) throw new SandboxError('sandbox_failed', 'the sandbox session is closed');
      return work();
    });
    this.#tail = next.catch(() => undefined);
    return next;
  }

  /** Marks the queue closed and resolves when the command in progress, if any, has settled. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#tail;
  }
}

/**
 * A `SandboxSession` whose commands are cold `sandbox.run`s of the session's image, workspace and
 * limits, one at a time: the session of a backend with nothing to keep warm (the unit-test fake).
 */
export async function sessionOverRuns(sandbox: Pick<Sandbox, 'run'>, input: SessionSpecInput): Promise<SandboxSession> {
  const spec = parseSessionSpec(input);
  const queue = new SessionQueue();
  const close = () => queue.close();
  return {
    run: (command: SessionRunSpecInput, options: RunOptions = {}) => {
      const parsed = parseSessionRunSpec(command);
      return queue.run(() => sandbox.run({ ...spec, ...parsed, network: 'none' }, options));
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/**
 * A `Sandbox` for one stage attempt: every run without network goes to a warm session of its image,
 * workspace and limits (opened on its first run, kept for the next), every other run (a setup step
 * with network) is a cold `run` of `sandbox`. Results, errors and isolation are those of `sandbox`;
 * only the cost of a command changes. `close()` (or `await using`) closes every session it opened:
 * call it in a `finally` at the end of the stage attempt.
 */
export class StageSandbox implements Sandbox, AsyncDisposable {
  readonly #sandbox: Sandbox;
  readonly #sessions = new Map<string, Promise<SandboxSession>>();
  #closed = false;

  constructor(sandbox: Sandbox) {
    this.#sandbox = sandbox;
  }

  get kind(): string {
    return this.#sandbox.kind;
  }

  available(): Promise<Availability> {
    return this.#sandbox.available();
  }

  ensureImage(image: string): Promise<void> {
    return this.#sandbox.ensureImage(image);
  }

  mountPoint(workspace: string): string {
    return this.#sandbox.mountPoint(workspace);
  }

  async run(input: RunSpecInput, options: RunOptions = {}): Promise<RunResult> {
    const spec = parseRunSpec(input);
    if (spec.network !== 'none') return this.#sandbox.run(spec, options);
    if (this.#closed) throw new SandboxError('sandbox_failed', 'the stage sandbox is closed');
    const { image, workspace, limits, command, cwd, env, timeoutMs, maxOutputBytes } = spec;
    const key = JSON.stringify([image, workspace, limits]);
    let session = this.#sessions.get(key);
    if (session === undefined) {
      session = this.#sandbox.session({ image, workspace, limits });
      this.#sessions.set(key, session);
      // A session that could not open is not kept: the next run tries again (and fails as `run` would).
      session.catch(() => this.#sessions.delete(key));
    }
    return (await session).run({ command, cwd, env, timeoutMs, maxOutputBytes }, options);
  }

  session(spec: SessionSpecInput): Promise<SandboxSession> {
    return this.#sandbox.session(spec);
  }

  /** Closes every session opened for the stage. Never rejects. */
  async close(): Promise<void> {
    this.#closed = true;
    const sessions = [...this.#sessions.values()];
    this.#sessions.clear();
    await Promise.all(sessions.map((s) => s.then((session) => session.close()).catch(() => undefined)));
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
