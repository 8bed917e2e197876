import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { afterAll, afterEach, beforeEach, expect, it } from 'vitest';
import { intToIpv4, ipv4ToInt, parseCidr } from '../shared/index.ts';
import { sandboxContract } from '../test/contracts/sandbox.contract.ts';
import type { SandboxRunObservation } from '../shared/index.ts';
import { describeDocker } from '../test/helpers/docker.ts';
import {
  DEADLINE_LABEL,
  DEFAULT_NODE_IMAGE,
  detectProfile,
  DockerSandbox,
  OWNER_LABEL,
  RUN_ID_LABEL,
  SANDBOX_LABEL,
  SANDBOX_UID,
  SESSION_LABEL,
  type DockerSession,
  type RunSpecInput,
} from './index.ts';
import { TEST_FILE_LABEL, testLabels } from '../test/helpers/leftovers.ts';
import { scaled } from '../test/helpers/wait.ts';

/*
 * DockerSandbox against a real Docker engine: the sandbox contract, then what only Docker shows: the
 * hardening (user, read-only root, capabilities, no network but the setup's gated bridge), the limits
 * (CPU, memory, pids, a fork bomb), runs of a Node repository's tests, the refusal of unknown images and
 * of an unreachable engine, sessions, and the removal of leftover containers. One file because it is one
 * unit on one engine: the tests share one sandbox and its workspace per test, and the labels that let the
 * leftovers tests tell this file's containers from another test's.
 */

const MiB = 1024 * 1024;
/** An image nightshift ships no recipe for. */
const UNSHIPPED = 'nightshift-sandbox-rust:1';

describeDocker('DockerSandbox', () => {
  sandboxContract({ name: 'DockerSandbox', image: DEFAULT_NODE_IMAGE, create: () => new DockerSandbox({ labels: testLabels() }) });

  const docker = new Docker();
  const sandbox = new DockerSandbox({ docker, labels: testLabels() });
  let ws: string;
  const run = (spec: Partial<RunSpecInput> = {}) =>
    sandbox.run({ image: DEFAULT_NODE_IMAGE, workspace: ws, command: 'true', timeoutMs: 30_000, ...spec });

  beforeEach(() => {
    ws = mkdtempSync(join(tmpdir(), 'nightshift-docker-'));
  });
  afterEach(() => {
    rmSync(ws, { recursive: true, force: true });
  });

  // This file's own containers only (labelled with its id): others may share the engine.
  const ownContainers = async () =>
    (await docker.listContainers({ all: true, filters: { label: [`${SANDBOX_LABEL}=1`, `${TEST_FILE_LABEL}=${testLabels()[TEST_FILE_LABEL]}`] } })).map((c) => c.Id);
  afterAll(async () => {
    expect(await ownContainers(), 'sandbox containers left behind by these tests').toEqual([]);
  });

  it('runs as a non-root user, with a read-only root, a writable /workspace and /tmp, and no capabilities', async () => {
    const r = await run({
      command: [
        'id -u; id -g; echo "HOME=$HOME"',
        'touch /workspace/ok && echo workspace-writable',
        'touch /tmp/ok && echo tmp-writable',
        'touch /oops 2>/dev/null || echo root-read-only',
        'touch /usr/oops 2>/dev/null || echo usr-read-only',
        'touch /etc/passwd 2>/dev/null || echo etc-read-only',
        "grep -E '^(CapEff|CapPrm|CapBnd|NoNewPrivs):' /proc/self/status",
      ].join('\n'),
    });
    expect(r.exitCode).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines.slice(0, 3)).toEqual([String(SANDBOX_UID), String(SANDBOX_UID), 'HOME=/tmp']);
    for (const line of ['workspace-writable', 'tmp-writable', 'root-read-only', 'usr-read-only', 'etc-read-only']) {
      expect(lines).toContain(line);
    }
    expect(r.stdout).toMatch(/^CapEff:\s+0+$/m);
    expect(r.stdout).toMatch(/^CapPrm:\s+0+$/m);
    expect(r.stdout).toMatch(/^CapBnd:\s+0+$/m);
    expect(r.stdout).toMatch(/^NoNewPrivs:\s+1$/m);
    expect(statSync(join(ws, 'ok')).uid).toBe(SANDBOX_UID);
  });

  it('gives a root-owned workspace to the sandbox user on every run, so files the host adds later are writable', async () => {
    expect(statSync(ws).uid).toBe(0);
    await run({ command: 'true' });
    expect(statSync(ws).uid).toBe(SANDBOX_UID);
    mkdirSync(join(ws, 'added'));
    writeFileSync(join(ws, 'added/by-host.txt'), 'root wrote this\n');
    chmodSync(join(ws, 'added'), 0o755);
    const r = await run({ command: 'echo sandbox appended >> added/by-host.txt && touch added/new' });
    expect(r.exitCode).toBe(0);
    expect(readFileSync(join(ws, 'added/by-host.txt'), 'utf8')).toBe('root wrote this\nsandbox appended\n');
  });

  it('never follows a symlink out of the workspace when giving it to the sandbox user', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'nightshift-outside-'));
    try {
      writeFileSync(join(outside, 'host-secret'), 'secret\n');
      symlinkSync(join(outside, 'host-secret'), join(ws, 'link-to-file'));
      symlinkSync(outside, join(ws, 'link-to-dir'));
      await run({ command: 'true' });
      expect(statSync(join(outside, 'host-secret')).uid).toBe(0);
      expect(statSync(outside).uid).toBe(0);
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  it('leaves the workspace usable by host-side git given safe.directory', async () => {
    execFileSync('git', ['init', '-q', ws]);
    await run({ command: 'echo x > file.txt' });
    const status = execFileSync('git', ['-C', ws, '-c', `safe.directory=${ws}`, 'status', '--porcelain'], { encoding: 'utf8' });
    expect(status).toContain('file.txt');
  });

  it('has no network but loopback: no interface, no DNS, no connection to the host', async () => {
    await using server = await listenOnBridgeGateway(docker);
    const r = await run({
      command: [
        'ls /sys/class/net',
        'getent hosts registry.npmjs.org >/dev/null 2>&1 && echo dns-works || echo no-dns',
        `node -e "${connectScript(server.host, server.port)}"`,
      ].join('\n'),
      timeoutMs: 20_000,
    });
    expect(r.stdout.split('\n')[0]).toBe('lo');
    expect(r.stdout).toContain('no-dns');
    expect(r.stdout).toMatch(/connect-failed/);
    expect(server.connections()).toBe(0);
  });

  it('gives a setup run with network "bridge" DNS but not the host: a port the host opens on the gateway is refused', async () => {
    await using server = await listenOnBridgeGateway(docker);
    const r = await run({
      command: [
        'echo "hostname $(cat /proc/sys/kernel/hostname)"',
        'getent hosts registry.npmjs.org >/dev/null 2>&1 && echo dns-works || echo no-dns',
        `node -e "${connectScript(server.host, server.port)}"`,
      ].join('\n'),
      network: 'bridge',
      timeoutMs: 20_000,
    });
    expect(r.stdout).toContain('hostname sandbox');
    expect(r.stdout).toContain('dns-works');
    expect(r.stdout).toContain('connect-failed ECONNREFUSED');
    expect(server.connections()).toBe(0);
  });

  it('never runs a setup step without its egress gate: a missing gate image, a missing or non-bridge network fail the run', async () => {
    const setup = (options: ConstructorParameters<typeof DockerSandbox>[0]) =>
      new DockerSandbox({ docker, labels: testLabels(), ...options }).run({ image: DEFAULT_NODE_IMAGE, workspace: ws, command: 'touch ran', network: 'bridge' });
    await expect(setup({ gateImage: 'nightshift-no-such-gate:0' })).rejects.toMatchObject({ code: 'image_missing' });
    await expect(setup({ setupNetwork: 'nightshift-no-such-network' })).rejects.toMatchObject({ code: 'invalid_spec', message: /does not exist/ });
    await expect(setup({ setupNetwork: 'host' })).rejects.toMatchObject({ code: 'invalid_spec', message: /host driver/ });
    expect(existsSync(join(ws, 'ran'))).toBe(false);
  });

  it('applies the CPU, memory and pids limits', async () => {
    const r = await run({
      command: [
        'if [ -f /sys/fs/cgroup/cpu.max ]; then',
        '  echo "cpu $(cat /sys/fs/cgroup/cpu.max)"; echo "mem $(cat /sys/fs/cgroup/memory.max)"; echo "pids $(cat /sys/fs/cgroup/pids.max)"',
        'else',
        '  echo "cpu $(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us) $(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us)"',
        '  echo "mem $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)"; echo "pids $(cat /sys/fs/cgroup/pids/pids.max)"',
        'fi',
      ].join('\n'),
      limits: { cpus: 0.5, memoryBytes: 256 * MiB, pids: 100 },
    });
    expect(r.exitCode).toBe(0);
    const [quota, period] = /^cpu (\d+) (\d+)$/m.exec(r.stdout)!.slice(1).map(Number) as [number, number];
    expect(quota / period).toBeCloseTo(0.5);
    expect(r.stdout).toContain(`mem ${256 * MiB}\n`);
    expect(r.stdout).toContain('pids 100\n');
  });

  it('reports a run killed for exceeding its memory as oomKilled', async () => {
    const r = await run({
      command: ['node', '-e', 'const kept = []; for (;;) kept.push(Buffer.alloc(8 << 20, 1))'],
      limits: { memoryBytes: 96 * MiB },
    });
    expect(r).toMatchObject({ oomKilled: true, timedOut: false, exitCode: 137 });
  });

  it('tells its onRun observer how each run ended, its network and its duration', async () => {
    const seen: SandboxRunObservation[] = [];
    const observed = new DockerSandbox({ docker, labels: testLabels(), onRun: (r) => seen.push(r) });
    const go = (spec: Partial<RunSpecInput>, options = {}) => observed.run({ image: DEFAULT_NODE_IMAGE, workspace: ws, command: 'true', timeoutMs: 30_000, ...spec }, options);
    await go({});
    await go({ command: 'exit 3' });
    await go({ command: 'sleep 60', timeoutMs: 1_000 });
    await go({ command: 'yes', maxOutputBytes: 1_000 });
    await expect(go({}, { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'cancelled' });
    expect(seen.map((r) => [r.outcome, r.network])).toEqual([
      ['ok', 'none'],
      ['nonzero', 'none'],
      ['timeout', 'none'],
      ['output_limit', 'none'],
      ['cancelled', 'none'],
    ]);
    expect(seen[2]!.durationMs).toBeGreaterThanOrEqual(1_000);

    // A warm session's commands are told too.
    seen.length = 0;
    const session = await observed.session({ image: DEFAULT_NODE_IMAGE, workspace: ws });
    try {
      await session.run({ command: 'true' });
      await session.run({ command: 'exit 4' });
      await session.run({ command: 'sleep 60', timeoutMs: 1_000 });
    } finally {
      await session.close();
    }
    expect(seen.map((r) => [r.outcome, r.network])).toEqual([
      ['ok', 'none'],
      ['nonzero', 'none'],
      ['timeout', 'none'],
    ]);
  });

  it('contains a fork bomb at the pids limit', async () => {
    const script = `
      const { spawn } = require('node:child_process');
      const children = []; let failed = 0;
      for (let i = 0; i < 80; i++) {
        try {
          const c = spawn('sleep', ['20'], { stdio: 'ignore' });
          c.on('error', () => {});
          if (c.pid === undefined) failed++; else children.push(c);
        } catch { failed++; }
      }
      console.log(JSON.stringify({ started: children.length, failed }));
      for (const c of children) c.kill('SIGKILL');
    `;
    const r = await run({ command: ['node', '-e', script], limits: { pids: 32 }, timeoutMs: 30_000 });
    const counts = JSON.parse(r.stdout.trim().split('\n').pop()!) as { started: number; failed: number };
    expect(counts.started).toBeLessThan(32);
    expect(counts.failed).toBeGreaterThan(0);
    expect(counts.started + counts.failed).toBe(80);
  });

  it('runs npm offline under the read-only root: the detected test command of a Node repository', async () => {
    writeFileSync(
      join(ws, 'package.json'),
      JSON.stringify({ name: 'fixture', version: '1.0.0', scripts: { test: 'node check.js' } }),
    );
    writeFileSync(join(ws, 'check.js'), "console.log('suite ran', process.version); process.exit(0);\n");
    const profile = await detectProfile(ws);
    expect(profile).toMatchObject({ image: DEFAULT_NODE_IMAGE, setup: null, test: 'npm test', imageShipped: true });
    const r = await run({ command: profile.test, timeoutMs: 60_000 });
    expect(r.stderr).toBe('');
    expect(r).toMatchObject({ exitCode: 0 });
    expect(r.stdout).toMatch(/suite ran v24\./);
  });

  it('installs dependencies in a setup run with network, then runs the tests without any', async () => {
    writeFileSync(
      join(ws, 'package.json'),
      JSON.stringify({
        name: 'fixture',
        version: '1.0.0',
        scripts: { test: 'node -e "process.exit(require(\'is-number\')(5) ? 0 : 1)"' },
        dependencies: { 'is-number': '7.0.0' },
      }),
    );
    const profile = await detectProfile(ws);
    expect(profile).toMatchObject({ setup: ['npm install --no-package-lock'], setupNetwork: 'bridge' });
    const setup = await run({ command: profile.setup!.join(' && '), network: profile.setupNetwork, timeoutMs: 120_000 });
    expect(setup.stderr).not.toMatch(/npm error/);
    expect(setup.exitCode).toBe(0);
    const test = await run({ command: profile.test, timeoutMs: 60_000 });
    expect(test).toMatchObject({ exitCode: 0, timedOut: false });
  }, scaled(180_000));

  it('refuses an image that is not in the engine, naming what to do, and never pulls it', async () => {
    await expect(sandbox.ensureImage(UNSHIPPED)).rejects.toMatchObject({ code: 'image_missing', message: /ships no recipe/ });
    await expect(run({ image: UNSHIPPED })).rejects.toMatchObject({ code: 'image_missing' });
    await sandbox.ensureImage(DEFAULT_NODE_IMAGE);
  });

  it('reports an unreachable engine as engine_unavailable', async () => {
    const down = new DockerSandbox({ docker: new Docker({ socketPath: join(ws, 'no-such.sock') }) });
    expect(await down.available()).toMatchObject({ ok: false, reason: /no Docker engine answers/ });
    await expect(down.ensureImage(DEFAULT_NODE_IMAGE)).rejects.toMatchObject({ code: 'engine_unavailable', retryable: true });
  });

  it('keeps a session in one hardened, labelled container without network, gives host-written files to the sandbox user, and removes it on close', async () => {
    const s = (await sandbox.session({ image: DEFAULT_NODE_IMAGE, workspace: ws, limits: { pids: 100, memoryBytes: 256 * MiB } })) as DockerSession;
    try {
      const info = await docker.getContainer(s.id).inspect();
      expect(info.Config.Labels).toMatchObject({ [SANDBOX_LABEL]: '1', [SESSION_LABEL]: '1' });
      expect(info.HostConfig).toMatchObject({
        NetworkMode: 'none',
        ReadonlyRootfs: true,
        CapDrop: ['ALL'],
        SecurityOpt: ['no-new-privileges'],
        PidsLimit: 100,
        Memory: 256 * MiB,
        MemorySwap: 256 * MiB,
      });
      const probe = await s.run({ command: 'id -u; ls /sys/class/net; grep -E "^CapEff:" /proc/self/status; touch /x 2>/dev/null || echo read-only' });
      expect(probe.stdout).toMatch(new RegExp(`^${SANDBOX_UID}\nlo\nCapEff:\\s+0+\nread-only\n$`));
      // A file the host (root) writes between two commands is the sandbox user's by the next one.
      writeFileSync(join(ws, 'late.txt'), 'host\n');
      const append = await s.run({ command: 'echo sandbox >> late.txt && cat late.txt' });
      expect(append).toMatchObject({ exitCode: 0, stdout: 'host\nsandbox\n' });
    } finally {
      await s.close();
    }
    await expect(docker.getContainer(s.id).inspect()).rejects.toMatchObject({ statusCode: 404 });
  });

  it('leaves nothing running for the next session command even when a command kills its wrapper first', async () => {
    const s = await sandbox.session({ image: DEFAULT_NODE_IMAGE, workspace: ws });
    try {
      const fraction = String(process.pid % 100_000);
      // The marker is assembled at run time, so only the daemon's own command line holds it.
      const count = `for p in /proc/[0-9]*; do tr '\\000' ' ' < "$p/cmdline" 2>/dev/null; echo; done | grep -c '86398[.]${fraction}' || true`;
      const escaped = await s.run({
        command: `kill -9 $PPID; m=86398; m="$m.${fraction}"; (setsid sleep "$m" >/dev/null 2>&1 &); ${count}`,
      });
      expect(escaped.stdout.trim(), 'the daemon was running when the command ended').toBe('1');
      expect((await s.run({ command: count })).stdout.trim()).toBe('0');
      expect((await s.run({ command: 'echo usable' })).stdout).toBe('usable\n');
    } finally {
      await s.close();
    }
  });

  it("reaps a crashed process's session with removeLeftovers once its lifetime is over", async () => {
    const shortLived = new DockerSandbox({ docker, labels: testLabels(), sessionLifetimeMs: 1 });
    const s = (await shortLived.session({ image: DEFAULT_NODE_IMAGE, workspace: ws })) as DockerSession;
    try {
      expect((await s.run({ command: 'echo up' })).stdout).toBe('up\n');
      expect(await shortLived.removeLeftovers()).toBeGreaterThanOrEqual(1);
      await expect(docker.getContainer(s.id).inspect()).rejects.toMatchObject({ statusCode: 404 });
      await expect(s.run({ command: 'true' })).rejects.toMatchObject({ code: 'sandbox_failed' });
    } finally {
      await s.close();
    }
  });

  it("reaps at once the session of an owner process that is gone, and keeps a live owner's", async () => {
    const gone = spawnSync('true').pid!;
    const orphaned = new DockerSandbox({ docker, labels: testLabels(), owner: `${hostname()}/${gone}/1` });
    const dead = (await orphaned.session({ image: DEFAULT_NODE_IMAGE, workspace: ws })) as DockerSession;
    const alive = (await sandbox.session({ image: DEFAULT_NODE_IMAGE, workspace: ws })) as DockerSession;
    try {
      expect((await dead.run({ command: 'echo up' })).stdout).toBe('up\n');
      expect((await alive.run({ command: 'echo up' })).stdout).toBe('up\n');
      expect((await docker.getContainer(alive.id).inspect()).Config.Labels[OWNER_LABEL]).toMatch(new RegExp(`^${hostname()}/${process.pid}/\\d+$`));
      // At least it: a test running beside this one may have killed an agent in the middle of a session.
      expect(await sandbox.removeLeftovers()).toBeGreaterThanOrEqual(1);
      await expect(docker.getContainer(dead.id).inspect()).rejects.toMatchObject({ statusCode: 404 });
      expect((await alive.run({ command: 'echo still' })).stdout).toBe('still\n');
    } finally {
      await dead.close();
      await alive.close();
    }
  });

  it('removes leftover containers past their deadline, and only those', async () => {
    const create = (deadline: number) =>
      docker.createContainer({
        Image: DEFAULT_NODE_IMAGE,
        Cmd: ['true'],
        Labels: { ...testLabels(), [SANDBOX_LABEL]: '1', [RUN_ID_LABEL]: 'leftover-test', [DEADLINE_LABEL]: String(deadline) },
      });
    const stale = await create(Date.now() - 1_000);
    const live = await create(Date.now() + 3_600_000);
    try {
      expect(await sandbox.removeLeftovers()).toBeGreaterThanOrEqual(1);
      await expect(stale.inspect()).rejects.toMatchObject({ statusCode: 404 });
      expect((await live.inspect()).Id).toBe(live.id);
    } finally {
      await live.remove({ force: true }).catch(() => undefined);
      await stale.remove({ force: true }).catch(() => undefined);
    }
  });
});

/** A node -e script: connects to host:port, prints what it reads or `connect-failed <code>`. */
function connectScript(host: string, port: number): string {
  return (
    `const s = require('node:net').connect(${port}, '${host}');` +
    `s.setTimeout(3000, () => { console.log('connect-failed timeout'); process.exit(0); });` +
    `s.on('data', (d) => { console.log('connected: ' + d); s.destroy(); });` +
    `s.on('error', (e) => console.log('connect-failed ' + e.code));`
  );
}

interface HostServer extends AsyncDisposable {
  host: string;
  port: number;
  connections(): number;
}

/** A TCP server on the Docker bridge's gateway address (this machine), answering one line. */
async function listenOnBridgeGateway(docker: Docker): Promise<HostServer> {
  const bridge = await docker.getNetwork('bridge').inspect();
  const config = (bridge as { IPAM?: { Config?: { Gateway?: string; Subnet?: string }[] } }).IPAM?.Config?.[0];
  // The default bridge lists only its subnet on some engines; its gateway is then the subnet's first address.
  const subnet = config?.Subnet === undefined ? undefined : parseCidr(config.Subnet);
  const host = config?.Gateway ?? (subnet ? intToIpv4(ipv4ToInt(subnet.address)! + 1) : undefined);
  if (!host) throw new Error('the Docker bridge network has no gateway address');
  let count = 0;
  const server: Server = createServer((socket) => {
    count += 1;
    socket.end('hello from the host');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  const port = (server.address() as { port: number }).port;
  return {
    host,
    port,
    connections: () => count,
    [Symbol.asyncDispose]: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
