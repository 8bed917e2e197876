import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import Docker from 'dockerode';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { prepareWorkspace, runSuite } from '../../agents/kit/suite.ts';
import { DEFAULT_NODE_IMAGE, detectProfile, DockerSandbox, runFailure, SANDBOX_LABEL, StageSandbox, type RunSpecInput, type Sandbox } from '../../sandbox/index.ts';
import { intToIpv4, ipv4ToInt, parseCidr } from '../../shared/index.ts';
import { describeDocker } from '../helpers/docker.ts';
import { logSink } from '../helpers/env.ts';
import { hostAddresses, hostListener, hostUdpListener, hostProcessesWith, probeCommand, probeOutcomes, Tally, type HostListener, type Target } from './probes.ts';
import { testLabels } from '../helpers/leftovers.ts';
import { scaled } from '../helpers/wait.ts';

/**
 * The sandbox part of the security battery (docs/security.md), through the real DockerSandbox:
 * network from the run step, host access from the setup step, secrets of the host, writes outside the
 * workspace, and resource attacks. Every container, network and server it creates is removed, also on
 * failure; it prints one figure per class. Every attack from the run step is made twice: through cold
 * runs and through a warm session (`StageSandbox`, as the agents use it), whose commands share one
 * container.
 */

const MiB = 1024 * 1024;
const TEST_LABEL = 'nightshift.security-test';

describeDocker('security battery: the sandbox', () => {
  const docker = new Docker();
  const testId = randomBytes(6).toString('hex');
  const networkName = `nightshift-security-${testId}`;
  const tally = new Tally();
  let network: Docker.Network | undefined;
  let gateway: string;
  let defaultBridgeGateway: string | undefined;
  let blocked: HostListener;
  let allowed: HostListener;
  let datagrams: HostListener;
  let sandbox: DockerSandbox;
  let ws: string;
  let canaryDir: string;
  let canaryFile: string;
  const canary = { env: `canary-${randomBytes(12).toString('hex')}`, key: `sk-canary-${randomBytes(12).toString('hex')}`, file: `file-canary-${randomBytes(12).toString('hex')}` };
  const saved = { canary: process.env.NIGHTSHIFT_CANARY, key: process.env.OPENAI_API_KEY };

  /** The setup step's runs: always cold (sessions have no network). */
  const run = (spec: Partial<RunSpecInput> = {}) =>
    sandbox.run({ image: DEFAULT_NODE_IMAGE, workspace: ws, command: 'true', timeoutMs: scaled(30_000), ...spec });
  const ours = () => docker.listContainers({ all: true, filters: { label: [`${TEST_LABEL}=${testId}`] } });

  beforeAll(async () => {
    process.env.NIGHTSHIFT_CANARY = canary.env;
    process.env.OPENAI_API_KEY = canary.key;
    canaryDir = mkdtempSync(join(tmpdir(), 'nightshift-canary-'));
    canaryFile = join(canaryDir, 'secret.txt');
    writeFileSync(canaryFile, `${canary.file}\n`, { mode: 0o644 });
    blocked = await hostListener();
    allowed = await hostListener();
    datagrams = await hostUdpListener(blocked.port);
    network = await docker.createNetwork({ Name: networkName, Driver: 'bridge', CheckDuplicate: true, Labels: { [TEST_LABEL]: testId } });
    const found = await gatewayOf(docker, networkName);
    if (found === undefined) throw new Error(`the test network ${networkName} has no IPv4 gateway`);
    gateway = found;
    defaultBridgeGateway = await gatewayOf(docker, 'bridge');
    sandbox = new DockerSandbox({
      docker,
      setupNetwork: networkName,
      setupAllow: [{ cidr: parseCidr(gateway)!, port: allowed.port }],
      labels: { ...testLabels(), [TEST_LABEL]: testId },
    });
  });

  afterAll(async () => {
    tally.print();
    for (const c of await ours().catch(() => [])) await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
    await network?.remove().catch(() => undefined);
    await blocked?.[Symbol.asyncDispose]();
    await allowed?.[Symbol.asyncDispose]();
    await datagrams?.[Symbol.asyncDispose]();
    rmSync(canaryDir, { recursive: true, force: true });
    if (saved.canary === undefined) delete process.env.NIGHTSHIFT_CANARY;
    else process.env.NIGHTSHIFT_CANARY = saved.canary;
    if (saved.key === undefined) delete process.env.OPENAI_API_KEY;
    else process.env.OPENAI_API_KEY = saved.key;
  });

  beforeEach(() => {
    ws = mkdtempSync(join(tmpdir(), 'nightshift-security-ws-'));
  });

  afterEach(async () => {
    rmSync(ws, { recursive: true, force: true });
    // Every run removes what it created (its container, its gate) before it returns.
    const left = await ours();
    for (const c of left) await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
    expect(left.map((c) => `${c.Image} ${c.State}`), 'containers left behind by a run').toEqual([]);
  });

  /** Every address of this machine a listener on 0.0.0.0 answers on, by label. */
  const hostTargets = (port: number): Target[] => [
    { label: `test network gateway ${gateway}`, kind: 'tcp', host: gateway, port },
    ...(defaultBridgeGateway === undefined || defaultBridgeGateway === gateway
      ? []
      : [{ label: `default bridge gateway ${defaultBridgeGateway}`, kind: 'tcp' as const, host: defaultBridgeGateway, port }]),
    ...hostAddresses()
      .filter((a) => a !== gateway && a !== defaultBridgeGateway)
      .map((a): Target => ({ label: `host address ${a}`, kind: 'tcp', host: a, port })),
  ];

  const udpTargets = (port: number): Target[] =>
    hostTargets(port).flatMap((t): Target[] => (t.kind === 'tcp' ? [{ ...t, kind: 'udp', label: `UDP ${t.label}` }] : []));

  for (const mode of ['run', 'session'] as const) {
    const via = mode === 'run' ? 'cold run' : 'warm session';
    describe(`through a ${via}`, () => {
      let stage: StageSandbox | undefined;
      beforeEach(() => {
        stage = mode === 'session' ? new StageSandbox(sandbox) : undefined;
      });
      afterEach(async () => {
        await stage?.close();
      });
      const target = (): Sandbox => stage ?? sandbox;
      const run = (spec: Partial<RunSpecInput> = {}) =>
        target().run({ image: DEFAULT_NODE_IMAGE, workspace: ws, command: 'true', timeoutMs: scaled(30_000), ...spec });

      it('run step: no network at all — not the host on any of its addresses, not DNS, not the npm registry', async () => {
        const targets: Target[] = [
          ...hostTargets(blocked.port),
          ...hostTargets(allowed.port).map((t) => ({ ...t, label: `${t.label} (allow-listed port)` })),
          { label: 'loopback 127.0.0.1 (the container’s own)', kind: 'tcp', host: '127.0.0.1', port: blocked.port },
          { label: 'DNS lookup of registry.npmjs.org', kind: 'dns', name: 'registry.npmjs.org' },
          { label: 'https://registry.npmjs.org', kind: 'https', url: 'https://registry.npmjs.org/is-number' },
        ];
        const udp = udpTargets(datagrams.port);
        const r = await run({ command: probeCommand(ws, [...targets, ...udp]), timeoutMs: 60_000 });
        const outcomes = probeOutcomes(r.stdout);
        // Datagrams that got through arrive before the probe prints (same host, no loss on a bridge).
        tally.record(`${via}: network (run step)`, `UDP to ${udp.length} host addresses`, datagrams.peers.length === 0);
        const through = targets
          .map((t) => `${t.label}: ${outcomes[t.label]}`)
          .filter((line) => {
            const open = /: (connected|resolved|http \d+)$/.test(line);
            tally.record(`${via}: network (run step)`, line, !open);
            return open;
          });
        expect(through, 'what the run step reached').toEqual([]);
        expect(datagrams.peers, 'datagrams the host received').toEqual([]);
        expect(blocked.peers.length + allowed.peers.length, 'connections the host accepted').toBe(0);
        const ifaces = await run({ command: 'ls /sys/class/net' });
        expect(ifaces.stdout.trim()).toBe('lo');
      });

      it('secrets: the host environment never reaches the setup step or the suite run', async () => {
        writeFileSync(join(ws, 'dump-env.sh'), "env\ntr '\\000' '\\n' < /proc/1/environ\n");
        writeFileSync(
          join(ws, '.nightshift.yml'),
          [`image: ${DEFAULT_NODE_IMAGE}`, 'setup: "sh dump-env.sh > setup-env.txt"', 'setup_network: bridge', 'test: "sh dump-env.sh"', 'env:', '  - TZ=UTC', ''].join('\n'),
        );
        const profile = await detectProfile(ws);
        await prepareWorkspace(target(), ws, profile, logSink().log);
        const suite = await runSuite(target(), ws, profile, () => new Date());
        const setupEnv = readFileSync(join(ws, 'setup-env.txt'), 'utf8');
        for (const [where, text] of [['setup step', setupEnv], ['suite run', suite.run.output]] as const) {
          expect(text, where).toContain('TZ=UTC');
          for (const [name, value] of [['NIGHTSHIFT_CANARY', canary.env], ['OPENAI_API_KEY', canary.key]]) {
            const leaked = text.includes(value!) || text.includes(`${name}=`);
            tally.record(`${via}: secrets`, `${name} in the ${where}`, !leaked);
            expect(leaked, `${name} in the ${where}`).toBe(false);
          }
        }
      });

      it("secrets: a host file outside the workspace is out of reach (absolute path, ../, a planted symlink), and the docker socket too", async () => {
        symlinkSync(canaryFile, join(ws, 'planted-link'));
        symlinkSync(canaryDir, join(ws, 'planted-dir'));
        const traversal = join('/workspace', relative(ws, canaryFile));
        const reads = [canaryFile, traversal, '/workspace/planted-link', '/workspace/planted-dir/secret.txt'];
        const r = await run({
          command: [
            ...reads.map((p) => `cat '${p}' 2>/dev/null || echo 'unreadable ${p}'`),
            "echo overwritten > /workspace/planted-link 2>/dev/null || echo 'unwritable link'",
            '[ -e /var/run/docker.sock ] || [ -e /run/docker.sock ] || echo no-docker-socket',
          ].join('\n'),
        });
        for (const p of reads) {
          const blockedRead = r.stdout.includes(`unreadable ${p}`) && !r.stdout.includes(canary.file);
          tally.record(`${via}: secrets`, `read ${p}`, blockedRead);
          expect(r.stdout, p).toContain(`unreadable ${p}`);
        }
        expect(r.stdout).not.toContain(canary.file);
        expect(readFileSync(canaryFile, 'utf8'), 'the canary file is unchanged').toBe(`${canary.file}\n`);
        expect(statSync(canaryFile).uid, 'the canary file was not given to the sandbox user').toBe(process.getuid!());
        tally.record(`${via}: secrets`, 'write through a planted symlink', readFileSync(canaryFile, 'utf8') === `${canary.file}\n`);
        tally.record(`${via}: secrets`, 'the docker socket', r.stdout.includes('no-docker-socket'));
        expect(r.stdout).toContain('no-docker-socket');
      });

      it('writes outside /workspace fail: a read-only root, /etc, /usr, /var, the kernel', async () => {
        const paths = ['/escape', '/workspace/../escape-up', '/etc/escape', '/usr/escape', '/usr/local/bin/node', '/var/escape', '/root/escape'];
        const r = await run({
          command: [
            ...paths.map((p) => `(echo x > '${p}') 2>/dev/null && echo 'WROTE ${p}' || echo 'refused ${p}'`),
            "(echo 1 > /proc/sys/kernel/core_pattern) 2>/dev/null && echo 'WROTE kernel' || echo 'refused kernel'",
            'touch /workspace/inside && echo inside-ok',
          ].join('\n'),
        });
        for (const p of [...paths, 'kernel']) {
          tally.record(`${via}: writes outside the workspace`, p, r.stdout.includes(`refused ${p}`));
          expect(r.stdout, p).toContain(`refused ${p}`);
        }
        expect(r.stdout).toContain('inside-ok');
        expect(existsSync(join(ws, '..', 'escape-up')), 'nothing appeared next to the workspace on the host').toBe(false);
      });

      it('a fork bomb is contained by the pids limit and the sandbox still returns', async () => {
        const count = `
          const { spawn } = require('node:child_process'); let started = 0, failed = 0;
          for (let i = 0; i < 200; i++) { try { const c = spawn('sleep', ['30'], { stdio: 'ignore' }); c.on('error', () => {}); if (c.pid === undefined) failed++; else started++; } catch { failed++; } }
          console.log(JSON.stringify({ started, failed })); process.exit(0);`;
        const counted = await run({ command: ['node', '-e', count], limits: { pids: 64 } });
        const { started, failed } = JSON.parse(counted.stdout.trim()) as { started: number; failed: number };
        expect(started).toBeLessThan(64);
        expect(failed).toBeGreaterThan(0);
        const bomb = await run({ command: 'b() { b | b & }; b; wait', limits: { pids: 64 }, timeoutMs: 5_000 });
        expect(bomb.exitCode === null ? bomb.timedOut : true).toBe(true);
        expect(bomb.durationMs).toBeLessThan(20_000);
        // With the bomb's limits: in a session, the same container as the bomb.
        const after = await run({ command: 'echo alive', limits: { pids: 64 } });
        tally.record(`${via}: resources`, 'fork bomb', started < 64 && after.stdout.trim() === 'alive');
        expect(after.stdout.trim()).toBe('alive');
      });

      it('a memory bomb is killed and reported as out of memory', async () => {
        const limits = { memoryBytes: 96 * MiB };
        const r = await run({ command: ['node', '-e', 'const k = []; for (;;) k.push(Buffer.alloc(8 << 20, 1))'], limits });
        tally.record(`${via}: resources`, 'memory bomb', r.oomKilled);
        expect(r).toMatchObject({ oomKilled: true, timedOut: false });
        expect(runFailure(r, { limits })).toMatch(/^killed: out of memory \(limit 96 MiB\)/);
        const after = await run({ command: 'echo alive', limits });
        expect(after).toMatchObject({ exitCode: 0, oomKilled: false, stdout: 'alive\n' });
      });

      it('an infinite loop is killed at the timeout, and the outcome says so', async () => {
        const r = await run({ command: 'while :; do :; done', timeoutMs: 3_000 });
        tally.record(`${via}: resources`, 'infinite loop', r.timedOut);
        expect(r).toMatchObject({ timedOut: true, exitCode: null });
        expect(r.durationMs).toBeGreaterThanOrEqual(2_900);
        expect(r.durationMs).toBeLessThan(15_000);
        expect(runFailure(r, { timeoutMs: 3_000 })).toBe('killed: no exit within the 3s timeout');
      });

      it('an output flood is cut at the cap and killed', async () => {
        const cap = 256 * 1024;
        const r = await run({ command: 'yes "flood flood flood flood flood flood flood"', maxOutputBytes: cap, timeoutMs: 30_000 });
        const kept = Buffer.byteLength(r.stdout) + Buffer.byteLength(r.stderr);
        tally.record(`${via}: resources`, 'output flood', r.outputLimitExceeded && kept <= cap);
        expect(r).toMatchObject({ outputLimitExceeded: true, exitCode: null, timedOut: false });
        expect(kept).toBeLessThanOrEqual(cap);
        expect(kept).toBeGreaterThan(cap / 2);
        expect(runFailure(r, { maxOutputBytes: cap })).toMatch(/runaway output/);
      });

      it('a daemon the run leaves behind is gone when the run returns', async () => {
        const marker = `86399.${randomBytes(3).readUIntBE(0, 3)}`;
        const [whole, fraction] = marker.split('.');
        // The marker is assembled at run time, so only the daemon's own command line holds it.
        const r = await run({
          command: [
            `m=${whole}; m="$m.${fraction}"`,
            '(setsid sleep "$m" >/dev/null 2>&1 &)',
            // Until the daemon has exec'd sleep (a busy machine may take a while), its command line is not yet the marker's.
            `i=0; while [ "$i" -lt ${Math.ceil(scaled(10_000) / 100)} ]; do`,
            `  n=$(for p in /proc/[0-9]*; do tr '\\000' ' ' < "$p/cmdline" 2>/dev/null; echo; done | grep -c '${whole}[.]${fraction}')`,
            '  [ "$n" = 1 ] && break; i=$((i + 1)); sleep 0.1',
            'done',
            'echo "$n"',
          ].join('\n'),
        });
        expect(r.stdout.trim(), 'the daemon was running inside the sandbox').toBe('1');
        const survivors = hostProcessesWith(marker);
        tally.record(`${via}: resources`, 'daemon left behind', survivors.length === 0);
        expect(survivors, 'host processes with the daemon’s marker').toEqual([]);
      });
    });
  }

  it('setup step: the host and private networks are refused; the allow-list and the npm registry are reachable', async () => {
    const before = { blocked: blocked.peers.length, allowed: allowed.peers.length };
    const refused: Target[] = [
      ...hostTargets(blocked.port),
      // The allow-list names the gateway and one port: the same port on the host's other addresses stays shut.
      ...hostTargets(allowed.port)
        .filter((t) => t.kind === 'tcp' && t.host !== gateway)
        .map((t) => ({ ...t, label: `${t.label} (allow-listed port, other address)` })),
      // No probe of another machine's address (a cloud's metadata service, a private network): the rules
      // that refuse those ranges are checked in sandbox/egress.test.ts.
    ];
    const loopback: Target = { label: 'loopback 127.0.0.1 (the container’s own)', kind: 'tcp', host: '127.0.0.1', port: blocked.port };
    const reachable: Target[] = [
      { label: `allow-listed ${gateway}:${allowed.port}`, kind: 'tcp', host: gateway, port: allowed.port },
      { label: 'DNS lookup of registry.npmjs.org', kind: 'dns', name: 'registry.npmjs.org' },
      { label: 'https://registry.npmjs.org', kind: 'https', url: 'https://registry.npmjs.org/is-number' },
    ];
    const udp = udpTargets(datagrams.port);
    const r = await run({ command: probeCommand(ws, [...refused, loopback, ...reachable, ...udp]), network: 'bridge', timeoutMs: 60_000 });
    const outcomes = probeOutcomes(r.stdout);
    // Datagrams that got through arrive before the probe prints (same host, no loss on a bridge).
    tally.record('network (setup step)', `UDP to ${udp.length} host addresses`, datagrams.peers.length === 0);
    // Refused at once (a reset from the gate; on loopback, nothing listens), not merely slow.
    const through = [...refused, loopback]
      .map((t) => `${t.label}: ${outcomes[t.label]}`)
      .filter((line) => {
        const open = !line.endsWith(': refused');
        tally.record('network (setup step)', line, !open);
        return open;
      });
    expect(through, 'what the setup step reached or did not get refused by').toEqual([]);
    expect(datagrams.peers, 'datagrams the host received').toEqual([]);
    expect(blocked.peers.length, 'connections to the blocked listener').toBe(before.blocked);
    expect(outcomes[reachable[0]!.label]).toBe('connected');
    expect(outcomes[reachable[1]!.label]).toBe('resolved');
    expect(outcomes[reachable[2]!.label]).toBe('http 200');
    expect(allowed.peers.length - before.allowed, 'connections to the allow-listed listener').toBe(1);
    // The gate's rules cannot be changed from inside: the setup step has no capabilities.
    const change = await run({ command: 'grep -E "^CapEff:" /proc/self/status', network: 'bridge' });
    expect(change.stdout).toMatch(/^CapEff:\s+0+$/m);
  });
});


/** The IPv4 gateway of a Docker network; the default bridge lists only its subnet on some engines: its first address. */
async function gatewayOf(docker: Docker, name: string): Promise<string | undefined> {
  const info = (await docker.getNetwork(name).inspect()) as { IPAM?: { Config?: { Gateway?: string; Subnet?: string }[] } };
  for (const c of info.IPAM?.Config ?? []) {
    if (c.Gateway !== undefined && parseCidr(c.Gateway)) return c.Gateway;
    const subnet = c.Subnet === undefined ? undefined : parseCidr(c.Subnet);
    if (subnet) return intToIpv4(ipv4ToInt(subnet.address)! + 1);
  }
  return undefined;
}
