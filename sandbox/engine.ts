import type { Readable } from 'node:stream';
import { Writable } from 'node:stream';
import { performance } from 'node:perf_hooks';
import type Docker from 'dockerode';
import { inSpan, type SandboxRunObservation } from '../shared/index.ts';
import { SandboxError } from './errors.ts';
import { imageMissingMessage } from './images.ts';
import type { RunResult } from './sandbox.ts';

/** Helpers shared by the Docker sandbox and its egress gate: engine errors, timeouts, small runs. */

/** The HTTP status of a dockerode failure, if it has one. */
export function statusOf(err: unknown): number | undefined {
  const status = (err as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

/** The message of a failure without dockerode's `(HTTP code …) … -` prefix. */
export function errorText(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.replace(/^\(HTTP code \d+\) [a-z ]+- /, '').trim();
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOENT', 'EACCES', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH']);

/** Maps a dockerode failure to a SandboxError: missing image, engine down, or a failed operation. */
export function engineError(err: unknown, image: string, doing: string): SandboxError {
  if (err instanceof SandboxError) return err;
  const status = statusOf(err);
  const code = (err as { code?: unknown } | null)?.code;
  if (status === 404 && image !== '' && /no such image|not found/i.test(errorText(err))) {
    return new SandboxError('image_missing', imageMissingMessage(image), { cause: err });
  }
  if (typeof code === 'string' && UNREACHABLE.has(code)) {
    return new SandboxError('engine_unavailable', `no Docker engine answers (${code}); start one with scripts/dockerd`, {
      cause: err,
    });
  }
  return new SandboxError('sandbox_failed', `could not ${doing}: ${errorText(err)}`, { cause: err });
}

/** Rejects with `message` when `promise` has not settled within `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A writable that hands each chunk to `push`. */
export function sinkOf(push: (chunk: Buffer) => void): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      push(chunk);
      callback();
    },
  });
}

/** Largest output kept by `execIn` and `runToEnd`: they run nightshift's own short commands. */
const SMALL_OUTPUT = 1024 * 1024;

/** What a short command of nightshift's own printed, and how it ended. */
export interface SmallRun {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Collects a multiplexed attach/exec stream until it ends. */
async function collect(docker: Docker, stream: Readable): Promise<{ stdout: string; stderr: string }> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let size = 0;
  const keep = (into: Buffer[]) => (chunk: Buffer) => {
    if (size + chunk.length > SMALL_OUTPUT) return;
    size += chunk.length;
    into.push(chunk);
  };
  const ended = new Promise<void>((resolve) => {
    stream.once('end', resolve);
    stream.once('close', resolve);
    stream.once('error', () => resolve());
  });
  docker.modem.demuxStream(stream, sinkOf(keep(out)), sinkOf(keep(err)));
  await ended;
  return { stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
}

/** Runs `cmd` in a running container (with its capabilities) and waits for it, within `timeoutMs`. */
export async function execIn(
  docker: Docker,
  container: Docker.Container,
  cmd: string[],
  { env = {}, timeoutMs }: { env?: Record<string, string>; timeoutMs: number },
): Promise<SmallRun> {
  const work = async () => {
    const exec = await container.exec({
      Cmd: cmd,
      Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
      AttachStdin: false,
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
    });
    const stream = (await exec.start({ hijack: true, stdin: false })) as unknown as Readable;
    const output = await collect(docker, stream);
    const info = await exec.inspect();
    return { exitCode: info.ExitCode ?? -1, ...output };
  };
  return withTimeout(work(), timeoutMs, `\`${cmd.join(' ')}\` did not finish within ${timeoutMs} ms`);
}

/** Creates a container, runs it to its end within `timeoutMs`, and removes it whatever happens. */
export async function runToEnd(docker: Docker, config: Docker.ContainerCreateOptions, timeoutMs: number): Promise<SmallRun> {
  const container = await docker.createContainer({ ...config, AttachStdout: true, AttachStderr: true, Tty: false });
  try {
    const work = async () => {
      const stream = (await container.attach({ stream: true, stdout: true, stderr: true })) as unknown as Readable;
      const output = collect(docker, stream);
      await container.start();
      const status = (await container.wait()) as { StatusCode: number };
      return { exitCode: status.StatusCode, ...(await output) };
    };
    return await withTimeout(work(), timeoutMs, `the container did not finish within ${timeoutMs} ms`);
  } finally {
    await container.remove({ force: true, v: true }).catch(() => undefined);
  }
}

/** How much of a run's command its span keeps. */
const MAX_SPAN_COMMAND = 1_000;

/**
 * Runs `fn` (one sandbox run) in a `sandbox run` span, and tells `onRun` how it ended, its network and
 * duration: the agents' metrics, for cold runs and session commands alike. The span keeps the command
 * (nightshift's or the repository's configuration, never a secret: none enters a sandbox), the exit
 * code and whether it timed out; never the output. `onRun` must not throw.
 */
export async function observedRun(
  onRun: ((run: SandboxRunObservation) => void) | undefined,
  network: 'none' | 'bridge',
  command: string | readonly string[],
  fn: () => Promise<RunResult>,
): Promise<RunResult> {
  const text = typeof command === 'string' ? command : command.join(' ');
  const attributes = { 'nightshift.sandbox.command': text.slice(0, MAX_SPAN_COMMAND), 'nightshift.sandbox.network': network };
  return inSpan('sandbox run', { attributes }, async (span) => {
    const started = performance.now();
    try {
      const r = await fn();
      const outcome = r.timedOut ? 'timeout' : r.outputLimitExceeded ? 'output_limit' : r.oomKilled ? 'oom' : r.exitCode === 0 ? 'ok' : 'nonzero';
      span.setAttributes({
        'nightshift.sandbox.outcome': outcome,
        'nightshift.sandbox.timed_out': r.timedOut,
        'nightshift.sandbox.duration_ms': Math.round(r.durationMs),
        ...(r.exitCode !== null && { 'process.exit.code': r.exitCode }),
      });
      onRun?.({ outcome, network, durationMs: r.durationMs });
      return r;
    } catch (err) {
      const outcome = err instanceof SandboxError && err.code === 'cancelled' ? 'cancelled' : 'error';
      span.setAttribute('nightshift.sandbox.outcome', outcome);
      onRun?.({ outcome, network, durationMs: performance.now() - started });
      throw err;
    }
  });
}
