/**
 * The Docker sandbox: `DockerSandbox`, the one class that creates, runs and removes the containers of
 * cold runs, opens warm sessions, and finds leftovers by the labels and owner it writes on them. One
 * file because every method works on the same private state (engine client, run user, egress gate,
 * labels); what stands on its own is already apart: engine helpers (engine.ts), the egress gate
 * (gate.ts), a warm session's commands (docker-session.ts).
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { posix } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { delay, type AllowRule, type SandboxRunObservation } from '../shared/index.ts';
import { engineError, errorText, observedRun, sinkOf, statusOf, withTimeout } from './engine.ts';
import { SandboxError } from './errors.ts';
import { openGate, type Gate } from './gate.ts';
import { DockerSession, SESSION_INIT } from './docker-session.ts';
import { GATE_IMAGE, SANDBOX_UID } from './images.ts';
import { OutputCapture } from './output.ts';
import {
  argvOf,
  parseRunSpec,
  parseSessionSpec,
  WORKSPACE_DIR,
  type Availability,
  type RunOptions,
  type RunResult,
  type RunSpec,
  type RunSpecInput,
  type Sandbox,
  type SandboxSession,
  type SessionSpecInput,
} from './sandbox.ts';
import { resolveWorkspace } from './workspace.ts';

const execFileAsync = promisify(execFile);

/** Label on every container a DockerSandbox creates. */
export const SANDBOX_LABEL = 'nightshift.sandbox';
/** Label holding the run's id. */
export const RUN_ID_LABEL = 'nightshift.run';
/** Label marking a warm session's container (`DockerSandbox.session`). */
export const SESSION_LABEL = 'nightshift.session';
/** Label holding the epoch milliseconds after which the container is a leftover that may be removed. */
export const DEADLINE_LABEL = 'nightshift.deadline';
/**
 * Label on a session's container naming the process that owns it, `<host>/<pid>/<start time>`: on
 * the same host, a session whose owner is gone (crashed, killed) is a leftover at once, whatever its
 * deadline says.
 */
export const OWNER_LABEL = 'nightshift.owner';

/** This process as an owner label says it: host, pid and the kernel's start time of the pid (so a reused pid is not taken for it). */
function ownerOf(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    return start === undefined ? null : `${hostname()}/${pid}/${start}`;
  } catch {
    return null;
  }
}

/** Whether the owner a label names is known to be gone: it ran on this host and its pid is dead or another process's now. */
function ownerGone(label: string | undefined): boolean {
  const m = label === undefined ? null : /^(.+)\/(\d+)\/(\d+)$/.exec(label);
  if (!m || m[1] !== hostname()) return false;
  return ownerOf(Number(m[2])) !== label;
}

/** Margin past a run's timeout before its container counts as a leftover. */
const LEFTOVER_GRACE_MS = 60_000;
/** How long output may keep arriving after the container has exited. */
const OUTPUT_DRAIN_MS = 2_000;
const PROBE_TIMEOUT_MS = 5_000;

/** Options of `DockerSandbox`; every one has a default. */
export interface DockerSandboxOptions {
  /** The engine client; default `new Docker()` (DOCKER_HOST, else /var/run/docker.sock). */
  docker?: Docker;
  /** uid and gid the command runs as when the workspace belongs to root. Default 10001 (`sandbox`). */
  sandboxUid?: number;
  /**
   * Give the workspace tree to the run's user before each run (`chown -R -h`, never following
   * symlinks). Default: when this process runs as root, since files it writes are root-owned and the
   * sandbox user could not change them. Host-side git on nightshift's workspaces is not affected: it is
   * given the git directory (kept outside the mounted tree), so it never checks who owns the tree.
   */
  chownWorkspace?: boolean;
  /**
   * The Docker network of setup runs (`network: 'bridge'` in the spec), a bridge-driver network.
   * Default `bridge` (Docker's default network). NIGHTSHIFT_SETUP_NETWORK.
   */
  setupNetwork?: string;
  /** TCP destinations a setup run may reach although private. Default none. NIGHTSHIFT_SETUP_ALLOW. */
  setupAllow?: readonly AllowRule[];
  /** The egress gate's image. Default `GATE_IMAGE`. */
  gateImage?: string;
  /** Extra labels on every container this sandbox creates (gates included), e.g. to find its own. */
  labels?: Record<string, string>;
  /** Told how each run ended, its network and duration (the agents' metrics); must not throw. */
  onRun?: (run: SandboxRunObservation) => void;
  /**
   * How long a session's container is kept from `removeLeftovers` (its deadline label). Default 6 h:
   * longer than any stage. A session whose owner process is gone is removed at once by a process on
   * the same host (`OWNER_LABEL`); one from another host (an agent in another container) lives out
   * its lifetime.
   */
  sessionLifetimeMs?: number;
  /** The owner label of this sandbox's sessions (`OWNER_LABEL`); this process by default. */
  owner?: string;
}

/**
 * The Docker implementation of `Sandbox`. Each run is a fresh container of `spec.image`:
 *
 * - the workspace bind-mounted read-write at /workspace, the working directory inside it;
 * - `NetworkMode: none` unless the spec says `bridge`: then the container joins the network namespace
 *   of an egress gate (sandbox/gate.ts) on `setupNetwork`, which lets it reach public addresses (package
 *   registries), its DNS resolvers and the `setupAllow` list, and nothing on the engine's host or on
 *   private, loopback, link-local, CGNAT or multicast ranges; IPv6 is off. No gate, no run;
 * - a non-root user: the workspace owner's uid:gid, or `sandboxUid` (10001) when root owns it; with
 *   `chownWorkspace` the tree is given to that user first, so that it can write everywhere in it;
 * - read-only root filesystem, a tmpfs at /tmp (HOME=/tmp), all capabilities dropped,
 *   no-new-privileges, an init process reaping orphans;
 * - CPU (NanoCpus), memory without swap, pids limits; no logs kept by the engine;
 * - the environment is exactly `spec.env` plus HOME and the image's own variables (PATH);
 * - labels `nightshift.sandbox=1`, `nightshift.run=<id>`, `nightshift.deadline=<ms>`, so leftovers of
 *   a crashed process can be found and removed (`removeLeftovers`).
 *
 * `session()` keeps such a container running for many commands, each a `docker exec`
 * (sandbox/docker-session.ts); setup runs with network stay cold.
 *
 * The container is killed at the timeout or when output exceeds the cap, inspected for the OOM kill,
 * then removed. Images are never pulled. Runs on one workspace must not overlap: the ownership fix-up
 * of one would race with the other's writes.
 */
export class DockerSandbox implements Sandbox {
  readonly kind = 'docker';
  readonly #docker: Docker;
  readonly #sandboxUid: number;
  readonly #chown: boolean;
  readonly #setupNetwork: string;
  readonly #setupAllow: readonly AllowRule[];
  readonly #gateImage: string;
  readonly #labels: Record<string, string>;
  readonly #onRun: ((run: SandboxRunObservation) => void) | undefined;
  readonly #sessionLifetimeMs: number;
  readonly #owner: string | null;

  constructor(options: DockerSandboxOptions = {}) {
    this.#docker = options.docker ?? new Docker();
    this.#sandboxUid = options.sandboxUid ?? SANDBOX_UID;
    this.#chown = options.chownWorkspace ?? process.getuid?.() === 0;
    this.#setupNetwork = options.setupNetwork ?? 'bridge';
    this.#setupAllow = options.setupAllow ?? [];
    this.#gateImage = options.gateImage ?? GATE_IMAGE;
    this.#labels = { ...options.labels };
    this.#onRun = options.onRun;
    this.#sessionLifetimeMs = options.sessionLifetimeMs ?? 6 * 3_600_000;
    this.#owner = options.owner ?? ownerOf(process.pid);
  }

  async available(): Promise<Availability> {
    try {
      const version = await withTimeout(this.#docker.version(), PROBE_TIMEOUT_MS, 'the Docker engine did not answer');
      return { ok: true, detail: `Docker ${version.Version} (API ${version.ApiVersion})` };
    } catch (err) {
      return { ok: false, reason: `no Docker engine answers (${errorText(err)}); start one with scripts/dockerd` };
    }
  }

  mountPoint(_workspace: string): string {
    return WORKSPACE_DIR;
  }

  async ensureImage(image: string): Promise<void> {
    try {
      await this.#docker.getImage(image).inspect();
    } catch (err) {
      throw engineError(err, image, `inspect image ${image}`);
    }
  }

  run(input: RunSpecInput, options: RunOptions = {}): Promise<RunResult> {
    return observedRun(this.#onRun, (input as { network?: 'none' | 'bridge' }).network ?? 'none', input.command, () => this.#run(input, options));
  }

  async #run(input: RunSpecInput, options: RunOptions): Promise<RunResult> {
    const spec = parseRunSpec(input);
    const { signal } = options;
    throwIfAborted(signal);
    const ws = await resolveWorkspace(spec);
    const { user, ready } = this.#userFor(ws.root, ws.stats.uid, ws.stats.gid);
    // The workspace is given to the user while the container is created; it starts after both.
    const preparing = ready.then(
      () => undefined,
      (err: unknown) => err,
    );
    const runId = randomUUID();
    const labels = {
      ...this.#labels,
      [SANDBOX_LABEL]: '1',
      [RUN_ID_LABEL]: runId,
      [DEADLINE_LABEL]: String(Date.now() + spec.timeoutMs + LEFTOVER_GRACE_MS),
    };

    let gate: Gate | undefined;
    let container: Docker.Container;
    try {
      if (spec.network === 'bridge') {
        await this.ensureImage(spec.image);
        gate = await openGate(this.#docker, { network: this.#setupNetwork, allow: this.#setupAllow, labels, image: this.#gateImage });
        throwIfAborted(signal);
      }
      container = await this.#docker.createContainer(this.#containerConfig(spec, ws.root, user, labels, gate));
    } catch (err) {
      await preparing;
      await gate?.close();
      throw engineError(err, spec.image, 'create the sandbox container');
    }
    const failed = await preparing;
    if (failed !== undefined) {
      await container.remove({ force: true, v: true }).catch(() => undefined);
      await gate?.close();
      throw failed;
    }

    let killedBy: 'timeout' | 'output' | 'cancel' | null = null;
    let running = false;
    const killContainer = () => container.kill({ signal: 'SIGKILL' }).catch(() => undefined);
    const kill = (why: 'timeout' | 'output' | 'cancel') => {
      if (killedBy !== null) return;
      killedBy = why;
      if (running) void killContainer();
    };
    const capture = new OutputCapture(spec.maxOutputBytes, () => kill('output'));
    const onAbort = () => kill('cancel');
    let timer: NodeJS.Timeout | undefined;
    let stream: Readable | undefined;
    try {
      stream = (await container.attach({ stream: true, stdout: true, stderr: true })) as unknown as Readable;
      const output = stream;
      const ended = new Promise<void>((resolve) => {
        output.once('end', resolve);
        output.once('close', resolve);
        output.once('error', () => resolve());
      });
      this.#docker.modem.demuxStream(output, sink('stdout', capture), sink('stderr', capture));

      signal?.addEventListener('abort', onAbort, { once: true });
      throwIfAborted(signal);
      const started = performance.now();
      await container.start();
      running = true;
      // A cancel that came while the container was starting could not kill it yet.
      if (killedBy !== null) void killContainer();
      timer = setTimeout(() => kill('timeout'), spec.timeoutMs);
      const status = (await container.wait()) as { StatusCode: number };
      const durationMs = Math.round(performance.now() - started);
      clearTimeout(timer);
      await Promise.race([ended, delay(OUTPUT_DRAIN_MS)]);
      const info = await container.inspect();
      if (killedBy === 'cancel') throw new SandboxError('cancelled', 'the sandbox run was cancelled');
      return {
        exitCode: killedBy === null ? status.StatusCode : null,
        timedOut: killedBy === 'timeout',
        oomKilled: info.State.OOMKilled === true,
        outputLimitExceeded: killedBy === 'output',
        durationMs,
        stdout: capture.text('stdout'),
        stderr: capture.text('stderr'),
      };
    } catch (err) {
      if (err instanceof SandboxError) throw err;
      if (killedBy === 'cancel') throw new SandboxError('cancelled', 'the sandbox run was cancelled', { cause: err });
      throw engineError(err, spec.image, 'run the sandbox container');
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      stream?.destroy();
      await container.remove({ force: true, v: true }).catch(() => undefined);
      await gate?.close();
    }
  }

  /**
   * A warm session (`DockerSession`): one container like a cold run's, on `network: none`, kept
   * running until `close()`. Its deadline label is `sessionLifetimeMs` away: a session that outlives
   * it may be removed by `removeLeftovers` of any process.
   */
  async session(input: SessionSpecInput): Promise<SandboxSession> {
    const spec = parseSessionSpec(input);
    const ws = await resolveWorkspace({ workspace: spec.workspace, cwd: '.' });
    const user = await this.#prepareUser(ws.root, ws.stats.uid, ws.stats.gid);
    const labels = {
      ...this.#labels,
      [SANDBOX_LABEL]: '1',
      [RUN_ID_LABEL]: randomUUID(),
      [SESSION_LABEL]: '1',
      [DEADLINE_LABEL]: String(Date.now() + this.#sessionLifetimeMs),
      ...(this.#owner !== null && { [OWNER_LABEL]: this.#owner }),
    };
    const runSpec = parseRunSpec({ ...spec, command: SESSION_INIT, network: 'none' });
    const config = this.#containerConfig(runSpec, ws.root, user, labels, undefined);
    // pid 1 is SESSION_INIT itself, which reaps orphans; an init in front of it would exit with it.
    config.HostConfig = { ...config.HostConfig, Init: false };
    let container: Docker.Container;
    try {
      container = await this.#docker.createContainer(config);
    } catch (err) {
      throw engineError(err, spec.image, 'create the sandbox session container');
    }
    const session = new DockerSession({
      docker: this.#docker,
      spec,
      container,
      prepareUser: (root, uid, gid) => this.#userFor(root, uid, gid),
      ...(this.#onRun && { onRun: this.#onRun }),
    });
    try {
      await session.open();
    } catch (err) {
      await session.close();
      throw err;
    }
    return session;
  }

  /**
   * Removes containers left by runs whose process died before removing them: every container
   * labelled `nightshift.sandbox` whose deadline (its run's timeout plus a minute, or a session's
   * `sessionLifetimeMs`) has passed.
   * Containers of runs still in progress, in this process or another, are left alone, so any
   * process may call it at start-up. Resolves with the number removed.
   */
  async removeLeftovers(now: number = Date.now()): Promise<number> {
    let list: Docker.ContainerInfo[];
    try {
      list = await this.#docker.listContainers({ all: true, filters: { label: [`${SANDBOX_LABEL}=1`] } });
    } catch (err) {
      throw engineError(err, '', 'list sandbox containers');
    }
    let removed = 0;
    for (const c of list) {
      const deadline = Number(c.Labels[DEADLINE_LABEL]);
      if (Number.isFinite(deadline) && deadline > now && !ownerGone(c.Labels[OWNER_LABEL])) continue;
      try {
        await this.#docker.getContainer(c.Id).remove({ force: true, v: true });
        removed += 1;
      } catch (err) {
        if (statusOf(err) !== 404) throw engineError(err, '', `remove leftover container ${c.Id}`);
      }
    }
    return removed;
  }

  async #prepareUser(root: string, ownerUid: number, ownerGid: number): Promise<string> {
    const { user, ready } = this.#userFor(root, ownerUid, ownerGid);
    await ready;
    return user;
  }

  /**
   * The `uid:gid` that runs commands on a workspace whose root `ownerUid:ownerGid` owns, and the
   * giving of the tree to it (`ready`, when `chownWorkspace`), so that a caller can prepare the
   * command meanwhile. Throws `invalid_workspace` when root owns it and it cannot be given away.
   */
  #userFor(root: string, ownerUid: number, ownerGid: number): { user: string; ready: Promise<void> } {
    const uid = ownerUid === 0 ? this.#sandboxUid : ownerUid;
    const gid = ownerUid === 0 || ownerGid === 0 ? uid : ownerGid;
    let ready = Promise.resolve();
    if (this.#chown) {
      ready = execFileAsync('chown', ['-R', '-P', '-h', `${uid}:${gid}`, '--', root], { timeout: 120_000 }).then(
        () => undefined,
        (err: unknown) => {
          throw new SandboxError('invalid_workspace', `could not give the workspace ${root} to uid ${uid}: ${errorText(err)}`, {
            cause: err,
          });
        },
      );
    } else if (ownerUid === 0) {
      throw new SandboxError(
        'invalid_workspace',
        `workspace ${root} belongs to root, and this process cannot give it to an unprivileged sandbox user; ` +
          'run the workspace as a non-root user, or run nightshift as root',
      );
    }
    return { user: `${uid}:${gid}`, ready };
  }


  #containerConfig(
    spec: RunSpec,
    workspace: string,
    user: string,
    labels: Record<string, string>,
    gate: Gate | undefined,
  ): Docker.ContainerCreateOptions {
    const [entrypoint, ...args] = argvOf(spec);
    const env = { HOME: '/tmp', ...spec.env };
    return {
      Image: spec.image,
      Entrypoint: [entrypoint!],
      Cmd: args,
      Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
      WorkingDir: posix.join(WORKSPACE_DIR, spec.cwd),
      User: user,
      // A container sharing the gate's network namespace shares its hostname too.
      ...(gate === undefined && { Hostname: 'sandbox' }),
      AttachStdin: false,
      AttachStdout: true,
      AttachStderr: true,
      OpenStdin: false,
      Tty: false,
      Labels: labels,
      HostConfig: {
        Mounts: [{ Type: 'bind', Source: workspace, Target: WORKSPACE_DIR, ReadOnly: false }],
        NetworkMode: gate === undefined ? 'none' : `container:${gate.id}`,
        ReadonlyRootfs: true,
        Tmpfs: { '/tmp': `rw,exec,nosuid,nodev,size=${spec.limits.tmpBytes},mode=1777` },
        CapDrop: ['ALL'],
        SecurityOpt: ['no-new-privileges'],
        Init: true,
        PidsLimit: spec.limits.pids,
        Memory: spec.limits.memoryBytes,
        MemorySwap: spec.limits.memoryBytes,
        NanoCpus: Math.round(spec.limits.cpus * 1e9),
        IpcMode: 'private',
        AutoRemove: false,
        LogConfig: { Type: 'none', Config: {} },
      },
    };
  }
}

function sink(stream: 'stdout' | 'stderr', capture: OutputCapture): Writable {
  return sinkOf((chunk) => capture.push(stream, chunk));
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new SandboxError('cancelled', 'the sandbox run was cancelled before it started');
}
