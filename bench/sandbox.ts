/**
 * The cost of one sandbox command, against the engine's own minimum for the same thing:
 * - cold: `DockerSandbox.run` of a trivial command against a raw `docker run --rm` of the same image
 *   and command with the same hardening flags (create, attach, start, wait, remove, through the same
 *   engine client);
 * - warm: `session().run` of the same command against a raw `docker exec` (create, start, read the
 *   stream, inspect the exit code) in an already running container of the same image and flags;
 * - and, for scale, the warm command against the cold one.
 * The two sides of each pair run interleaved, one after the other, and each figure is their median.
 */
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { performance } from 'node:perf_hooks';
import Docker from 'dockerode';
import { DEFAULT_NODE_IMAGE, DockerSandbox, SANDBOX_UID, type SandboxSession } from '../sandbox/index.ts';
import { median, percentile, print, skipped, type BenchModule, type BenchOptions } from './lib.ts';

const IMAGE = DEFAULT_NODE_IMAGE;
const COMMAND = ['true'];
const LABEL = 'nightshift.bench';
const MiB = 1024 * 1024;

/** `a` and `b` alternately, `runs` times each after two warm-up rounds: their times in ms. */
async function interleaved(runs: number, a: () => Promise<unknown>, b: () => Promise<unknown>): Promise<{ a: number[]; b: number[] }> {
  const times = { a: [] as number[], b: [] as number[] };
  for (let i = 0; i < runs + 2; i++) {
    for (const [key, fn] of (i % 2 === 0 ? [['a', a], ['b', b]] : [['b', b], ['a', a]]) as ['a' | 'b', () => Promise<unknown>][]) {
      const t0 = performance.now();
      await fn();
      if (i >= 2) times[key].push(performance.now() - t0);
    }
  }
  return times;
}

/** The hardening `DockerSandbox` applies, for the raw baselines (docker run / docker exec with the same flags). */
function hostConfig(workspace: string): Docker.HostConfig {
  return {
    Mounts: [{ Type: 'bind', Source: workspace, Target: '/workspace', ReadOnly: false }],
    NetworkMode: 'none',
    ReadonlyRootfs: true,
    Tmpfs: { '/tmp': `rw,exec,nosuid,nodev,size=${512 * MiB},mode=1777` },
    CapDrop: ['ALL'],
    SecurityOpt: ['no-new-privileges'],
    PidsLimit: 512,
    Memory: 2048 * MiB,
    MemorySwap: 2048 * MiB,
    NanoCpus: 1e9,
    IpcMode: 'private',
    LogConfig: { Type: 'none', Config: {} },
  };
}

function baseConfig(workspace: string): Docker.ContainerCreateOptions {
  return {
    Image: IMAGE,
    User: `${SANDBOX_UID}:${SANDBOX_UID}`,
    WorkingDir: '/workspace',
    Env: ['HOME=/tmp'],
    Hostname: 'sandbox',
    Labels: { [LABEL]: '1' },
    AttachStdin: false,
    AttachStdout: true,
    AttachStderr: true,
    OpenStdin: false,
    Tty: false,
  };
}

/** Reads a multiplexed stream to its end. */
function drain(docker: Docker, stream: Readable): Promise<void> {
  return new Promise((resolve) => {
    stream.once('end', resolve);
    stream.once('close', resolve);
    stream.once('error', () => resolve());
    const sink = { write: () => true, end: () => undefined } as unknown as NodeJS.WritableStream;
    docker.modem.demuxStream(stream, sink, sink);
  });
}

/** `docker run --rm` of the command: create, attach, start, wait, remove. */
async function rawRun(docker: Docker, workspace: string): Promise<void> {
  const container = await docker.createContainer({
    ...baseConfig(workspace),
    Entrypoint: [COMMAND[0]!],
    Cmd: COMMAND.slice(1),
    HostConfig: { ...hostConfig(workspace), Init: true },
  });
  try {
    const stream = (await container.attach({ stream: true, stdout: true, stderr: true })) as unknown as Readable;
    const ended = drain(docker, stream);
    await container.start();
    const status = (await container.wait()) as { StatusCode: number };
    await ended;
    if (status.StatusCode !== 0) throw new Error(`raw docker run exited ${status.StatusCode}`);
  } finally {
    await container.remove({ force: true, v: true });
  }
}

/** `docker exec` of the command in a running container: create, start, read to the end, inspect. */
async function rawExec(docker: Docker, container: Docker.Container): Promise<void> {
  const exec = await container.exec({ Cmd: COMMAND, Env: ['HOME=/tmp'], WorkingDir: '/workspace', AttachStdin: false, AttachStdout: true, AttachStderr: true, Tty: false });
  const stream = (await exec.start({ hijack: true, stdin: false })) as unknown as Readable;
  await drain(docker, stream);
  const info = await exec.inspect();
  if (info.ExitCode !== 0) throw new Error(`raw docker exec exited ${info.ExitCode}`);
}

function line(opts: BenchOptions, bench: string, subject: number[], baseline: number[], goal: string | undefined, detail: Record<string, unknown>): void {
  const value = median(subject);
  const base = median(baseline);
  print(opts, {
    bench,
    value,
    baseline: base,
    unit: 'ms',
    ratio: value / base,
    ...(goal !== undefined && { goal }),
    p95: Number(percentile(subject, 95).toFixed(1)),
    baselineP95: Number(percentile(baseline, 95).toFixed(1)),
    runs: subject.length,
    ...detail,
  });
}

const COLD = 'sandbox: cold command, DockerSandbox.run vs docker run';
const WARM = 'sandbox: warm command, session().run vs docker exec';
const WARM_VS_COLD = 'sandbox: warm command vs cold command';

async function sandboxBench(opts: BenchOptions): Promise<void> {
  const docker = new Docker();
  const sandbox = new DockerSandbox({ docker, labels: { [LABEL]: '1' } });
  const available = await sandbox.available();
  const image = available.ok ? await sandbox.ensureImage(IMAGE).then(() => null, (err: Error) => err.message) : null;
  if (!available.ok || image !== null) {
    const reason = available.ok ? image! : available.reason;
    for (const bench of [COLD, WARM, WARM_VS_COLD]) skipped(opts, bench, reason);
    return;
  }
  const workspace = mkdtempSync(join(realpathSync(tmpdir()), 'nightshift-bench-sandbox-'));
  let warm: Docker.Container | undefined;
  let session: SandboxSession | undefined;
  try {
    const cold = await interleaved(
      opts.quick ? 3 : 15,
      () => sandbox.run({ image: IMAGE, workspace, command: COMMAND, timeoutMs: 60_000 }),
      () => rawRun(docker, workspace),
    );
    line(opts, COLD, cold.a, cold.b, '<= 1.1', { command: COMMAND.join(' ') });

    warm = await docker.createContainer({
      ...baseConfig(workspace),
      Entrypoint: ['sleep', 'infinity'],
      HostConfig: { ...hostConfig(workspace), Init: true },
    });
    await warm.start();
    const running = warm;
    const open = await sandbox.session({ image: IMAGE, workspace });
    session = open;
    const hot = await interleaved(
      opts.quick ? 10 : 40,
      () => open.run({ command: COMMAND, timeoutMs: 60_000 }),
      () => rawExec(docker, running),
    );
    line(opts, WARM, hot.a, hot.b, '<= 1.3', { command: COMMAND.join(' ') });
    line(opts, WARM_VS_COLD, hot.a, cold.a, undefined, { command: COMMAND.join(' ') });
  } finally {
    await session?.close();
    await warm?.remove({ force: true, v: true }).catch(() => undefined);
    rmSync(workspace, { recursive: true, force: true });
  }
}

export const sandbox: BenchModule = {
  name: 'sandbox',
  what: 'a trivial sandbox command cold against docker run, warm (a session) against docker exec',
  run: sandboxBench,
};
