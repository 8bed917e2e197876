import { readFile } from 'node:fs/promises';
import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
import { delay, type SandboxRunObservation } from '../shared/index.ts';
import { engineError, execIn, observedRun, sinkOf, statusOf } from './engine.ts';
import { SandboxError } from './errors.ts';
import { OutputCapture } from './output.ts';
import { argvOf, parseSessionRunSpec, WORKSPACE_DIR, type RunOptions, type RunResult, type SandboxSession, type SessionRunSpecInput, type SessionSpec } from './sandbox.ts';
import { SessionQueue } from './session.ts';
import { resolveWorkspace } from './workspace.ts';

/**
 * pid 1 of a session container: a shell that keeps a sleeping child (so that it waits, and reaps every
 * orphan the commands leave: a shell's wait reaps any child), and starts a new one when a command's
 * clean-up (`kill -9 -1`) has killed it. pid 1 itself cannot be killed from inside its namespace.
 */
export const SESSION_INIT = ['sh', '-c', 'trap "exit 0" TERM; while :; do sleep 2147483647 & wait; done'];

/**
 * How each command runs: under a shell that, once the command has exited, kills every other process
 * of the sandbox but pid 1 (`kill -9 -1` excludes pid 1 and the caller, and is atomic with respect to
 * fork), then exits with the command's status (128 + signal when a signal ended it, as in a container).
 * The shell's own messages ("Killed") go nowhere: the command's stderr is the exec's, through fd 3.
 */
const COMMAND_WRAPPER = 'exec 3>&2 2>/dev/null; "$@" 2>&3 3>&-; s=$?; kill -9 -1; exit $s';

/** How long output may keep arriving after the exec has ended. */
const OUTPUT_DRAIN_MS = 2_000;
/** How long processes killed by the clean-up may take to be gone before the sandbox is reset. */
const SETTLE_MS = 1_000;
/** Bound on nightshift's own small execs (the fall-back counter read). */
const PROBE_TIMEOUT_MS = 30_000;

/** The kernel's counters of the session's cgroup that tell what a command left behind. */
interface Counters {
  /** Processes killed by the OOM killer since the cgroup was made; null when unreadable. */
  oomKills: number | null;
  /** Tasks in the cgroup; null when unreadable. */
  pids: number | null;
}

/** What the Docker session needs from its `DockerSandbox`. */
export interface DockerSessionInit {
  docker: Docker;
  spec: SessionSpec;
  /** The container, created (not started) with `SESSION_INIT` as its command. */
  container: Docker.Container;
  /**
   * Which `uid:gid` runs commands on the workspace (its real root, the root's owner), and the giving
   * of the tree to that user when configured (`ready`: the command starts after it).
   */
  prepareUser: (root: string, uid: number, gid: number) => { user: string; ready: Promise<void> };
  /** Told how each command ended (the agents' metrics), as cold runs are. */
  onRun?: (run: SandboxRunObservation) => void;
}

/**
 * A warm Docker sandbox (`DockerSandbox.session`): one hardened container, created like a cold run's
 * (no network, non-root, read-only root, tmpfs /tmp, capabilities dropped, no-new-privileges, limits,
 * labels), kept running with `SESSION_INIT`; each command is a `docker exec` in it, under
 * `COMMAND_WRAPPER`, as the workspace's user, with the command's own env and cwd.
 *
 * - Timeout, output cap and cancel kill the whole container (SIGKILL to pid 1 ends every process in it)
 *   and wait for it to stop before the run settles; the next command starts it again (a fresh /tmp).
 * - OOM: the kernel's `oom_kill` counter of the container's memory cgroup, read before and after each
 *   command (from the host's cgroup filesystem when it is there, else from inside the container).
 * - Leftovers: after each command the cgroup's task count must fall back to pid 1 and its sleeper; if
 *   a command got around the wrapper's clean-up (it killed the wrapper), the container is reset.
 */
export class DockerSession implements SandboxSession {
  readonly #docker: Docker;
  readonly #spec: SessionSpec;
  readonly #container: Docker.Container;
  readonly #prepareUser: (root: string, uid: number, gid: number) => { user: string; ready: Promise<void> };
  readonly #queue = new SessionQueue();
  readonly #onRun: ((run: SandboxRunObservation) => void) | undefined;
  /** Host paths of the container's cgroup files, or null: read them from inside. */
  #cgroup: { oom: string; pids: string } | null = null;
  /** Task count with nothing running but pid 1 and its sleeper (by the same way of reading). */
  #idlePids = 2;
  #oomKills: number | null = null;
  /** The container was killed (or found stopped): start it before the next command. */
  #stopped = true;

  constructor(init: DockerSessionInit) {
    this.#docker = init.docker;
    this.#spec = init.spec;
    this.#container = init.container;
    this.#prepareUser = init.prepareUser;
    this.#onRun = init.onRun;
  }

  /** The container's id, for tests and logs. */
  get id(): string {
    return this.#container.id;
  }

  /** Starts the container and finds its cgroup counters. */
  async open(): Promise<void> {
    await this.#start();
  }

  run(input: SessionRunSpecInput, options: RunOptions = {}): Promise<RunResult> {
    const spec = parseSessionRunSpec(input);
    if (options.signal?.aborted) return Promise.reject(new SandboxError('cancelled', 'the sandbox run was cancelled before it started'));
    return this.#queue.run(() => observedRun(this.#onRun, 'none', spec.command, () => this.#run(spec, options.signal)));
  }

  async close(): Promise<void> {
    // Kill first: a command in progress ends now rather than at its timeout.
    const closing = this.#queue.close();
    await this.#container.kill({ signal: 'SIGKILL' }).catch(() => undefined);
    await closing.catch(() => undefined);
    await this.#container.remove({ force: true, v: true }).catch(() => undefined);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #start(): Promise<void> {
    try {
      await this.#container.start();
    } catch (err) {
      // 304: already running.
      if (statusOf(err) !== 304) throw engineError(err, this.#spec.image, 'start the sandbox session');
    }
    this.#stopped = false;
    this.#cgroup ??= await findCgroup(this.#container.id);
    // pid 1 starts its sleeper at once; wait for it so that the idle count is the steady one.
    let counters = await this.#counters();
    const until = performance.now() + SETTLE_MS;
    while (counters.pids !== null && counters.pids < this.#idleFloor() && performance.now() < until) {
      await delay(10);
      counters = await this.#counters();
    }
    this.#idlePids = Math.max(counters.pids ?? 0, this.#idleFloor());
    this.#oomKills = counters.oomKills;
  }

  /** pid 1 and its sleeper, plus the reader's own processes when the counters are read from inside. */
  #idleFloor(): number {
    return this.#cgroup === null ? 3 : 2;
  }

  async #run(spec: ReturnType<typeof parseSessionRunSpec>, signal: AbortSignal | undefined): Promise<RunResult> {
    const ws = await resolveWorkspace({ workspace: this.#spec.workspace, cwd: spec.cwd });
    const { user, ready } = this.#prepareUser(ws.root, ws.stats.uid, ws.stats.gid);
    // The workspace is given to the user while the exec is prepared; the command starts after both.
    const preparing = ready.catch((err: unknown) => err);

    const env = { HOME: '/tmp', ...spec.env };
    const execOptions = {
      Cmd: ['sh', '-c', COMMAND_WRAPPER, 'sh', ...argvOf(spec)],
      Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
      WorkingDir: posix.join(WORKSPACE_DIR, spec.cwd),
      User: user,
      AttachStdin: false,
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
    };
    let exec: Docker.Exec;
    try {
      if (this.#stopped) await this.#restart();
      exec = await this.#container.exec(execOptions);
    } catch (err) {
      await preparing;
      // The container stopped between commands (pid 1 killed by the OOM killer): start it once more.
      if (statusOf(err) !== 409) throw engineError(err, this.#spec.image, 'run a command in the sandbox session');
      await this.#restart();
      exec = await this.#container.exec(execOptions).catch((e: unknown) => {
        throw engineError(e, this.#spec.image, 'run a command in the sandbox session');
      });
    }
    const failed = await preparing;
    if (failed !== undefined) throw failed;
    if (signal?.aborted) throw new SandboxError('cancelled', 'the sandbox run was cancelled before it started');

    let killedBy: 'timeout' | 'output' | 'cancel' | null = null;
    let killing: Promise<void> | undefined;
    const kill = (why: 'timeout' | 'output' | 'cancel') => {
      if (killedBy !== null) return;
      killedBy = why;
      killing = this.#kill();
    };
    const capture = new OutputCapture(spec.maxOutputBytes, () => kill('output'));
    const onAbort = () => kill('cancel');
    let timer: NodeJS.Timeout | undefined;
    let stream: Readable | undefined;
    try {
      signal?.addEventListener('abort', onAbort, { once: true });
      const started = performance.now();
      stream = (await exec.start({ hijack: true, stdin: false })) as unknown as Readable;
      const output = stream;
      const ended = new Promise<void>((resolve) => {
        output.once('end', resolve);
        output.once('close', resolve);
        output.once('error', () => resolve());
      });
      this.#docker.modem.demuxStream(output, sinkOf((c) => capture.push('stdout', c)), sinkOf((c) => capture.push('stderr', c)));
      timer = setTimeout(() => kill('timeout'), Math.max(0, spec.timeoutMs - (performance.now() - started)));
      if (signal?.aborted) kill('cancel');
      await ended;
      const durationMs = Math.round(performance.now() - started);
      clearTimeout(timer);
      const [info, counters] = await Promise.all([exitOf(exec), killedBy === null ? this.#settled() : this.#counters()]);
      await killing;
      if (killedBy === 'cancel') throw new SandboxError('cancelled', 'the sandbox run was cancelled');
      const oomKilled = counters.oomKills !== null && this.#oomKills !== null && counters.oomKills > this.#oomKills;
      if (!this.#stopped) this.#oomKills = counters.oomKills;
      const exitCode = killedBy === null ? info : null;
      return {
        exitCode,
        timedOut: killedBy === 'timeout',
        oomKilled,
        outputLimitExceeded: killedBy === 'output',
        durationMs,
        stdout: capture.text('stdout'),
        stderr: capture.text('stderr'),
      };
    } catch (err) {
      await killing;
      if (err instanceof SandboxError) throw err;
      if (killedBy === 'cancel') throw new SandboxError('cancelled', 'the sandbox run was cancelled', { cause: err });
      throw engineError(err, this.#spec.image, 'run a command in the sandbox session');
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      stream?.destroy();
    }
  }

  /**
   * The counters once the command's clean-up has settled: the killed processes gone and reaped. When
   * tasks remain beyond pid 1 and its sleeper (a command that killed its wrapper before the clean-up),
   * the container is killed, so that nothing of this command outlives its run.
   */
  async #settled(): Promise<Counters> {
    let counters = await this.#counters();
    if (counters.pids === null) return counters;
    const until = performance.now() + SETTLE_MS;
    while (counters.pids! > this.#idlePids && performance.now() < until) {
      await delay(5);
      counters = await this.#counters();
    }
    if (counters.pids! > this.#idlePids) {
      await this.#kill();
    }
    return counters;
  }

  /** Kills every process of the sandbox (the container stops) and waits until it has stopped. */
  async #kill(): Promise<void> {
    this.#stopped = true;
    await this.#container.kill({ signal: 'SIGKILL' }).catch(() => undefined);
    await this.#container.wait().catch(() => undefined);
  }

  async #restart(): Promise<void> {
    await this.#container.wait().catch(() => undefined);
    await this.#start();
  }

  async #counters(): Promise<Counters> {
    if (this.#cgroup !== null) {
      const [oom, pids] = await Promise.all([readFile(this.#cgroup.oom, 'utf8').catch(() => null), readFile(this.#cgroup.pids, 'utf8').catch(() => null)]);
      return { oomKills: oom === null ? null : oomKillsOf(oom), pids: pids === null ? null : Number.parseInt(pids, 10) };
    }
    try {
      const r = await execIn(
        this.#docker,
        this.#container,
        ['sh', '-c', 'cat /sys/fs/cgroup/memory.events /sys/fs/cgroup/memory/memory.oom_control 2>/dev/null; echo pids $(cat /sys/fs/cgroup/pids.current /sys/fs/cgroup/pids/pids.current 2>/dev/null)'],
        { timeoutMs: PROBE_TIMEOUT_MS },
      );
      const pids = /^pids (\d+)/m.exec(r.stdout)?.[1];
      return { oomKills: oomKillsOf(r.stdout), pids: pids === undefined ? null : Number(pids) };
    } catch {
      return { oomKills: null, pids: null };
    }
  }
}

/** The exit code of an exec whose stream has ended (the engine may need a moment to record it). */
async function exitOf(exec: Docker.Exec): Promise<number | null> {
  const until = performance.now() + OUTPUT_DRAIN_MS;
  for (;;) {
    const info = await exec.inspect();
    if (!info.Running || performance.now() > until) return info.ExitCode ?? null;
    await delay(5);
  }
}

function oomKillsOf(text: string): number | null {
  const m = /^oom_kill (\d+)$/m.exec(text);
  return m ? Number(m[1]) : null;
}

/**
 * The container's memory and pids cgroup files on this host, when this process sees the engine's
 * cgroup filesystem (a local engine, cgroupfs or systemd driver, cgroup v1 or v2), else null.
 */
async function findCgroup(id: string): Promise<{ oom: string; pids: string } | null> {
  const candidates = [
    { oom: `/sys/fs/cgroup/memory/docker/${id}/memory.oom_control`, pids: `/sys/fs/cgroup/pids/docker/${id}/pids.current` },
    {
      oom: `/sys/fs/cgroup/memory/system.slice/docker-${id}.scope/memory.oom_control`,
      pids: `/sys/fs/cgroup/pids/system.slice/docker-${id}.scope/pids.current`,
    },
    { oom: `/sys/fs/cgroup/system.slice/docker-${id}.scope/memory.events`, pids: `/sys/fs/cgroup/system.slice/docker-${id}.scope/pids.current` },
    { oom: `/sys/fs/cgroup/docker/${id}/memory.events`, pids: `/sys/fs/cgroup/docker/${id}/pids.current` },
  ];
  for (const c of candidates) {
    try {
      const [oom, pids] = await Promise.all([readFile(c.oom, 'utf8'), readFile(c.pids, 'utf8')]);
      if (oomKillsOf(oom) !== null && Number.isFinite(Number.parseInt(pids, 10))) return c;
    } catch {
      // not this layout
    }
  }
  return null;
}
