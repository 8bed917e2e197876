import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { connectBus } from '../../bus/index.ts';
import { freePort, freePortRange, Ticket } from '../../shared/index.ts';
import { runCli, spawnCli } from '../helpers/cli.ts';
import { describeDocker } from '../helpers/docker.ts';
import { logSink } from '../helpers/env.ts';
import { makeRepo } from '../helpers/git.ts';
import { scaled, waitFor } from '../helpers/wait.ts';

const HANDLER = new URL('../fixtures/handlers/advance.ts', import.meta.url).pathname;

/** Whether the process runs: a zombie (dead, not yet reaped by an init that may never reap it) does not. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z /s.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

interface UpEvent {
  event: string;
  nats: string;
  embedded: boolean;
  replicas: number;
  servers: { name: string; pid: number; port: number; data: string }[];
  processes: { name: string; pid: number }[];
}

const AGENT_HANDLERS = ['refiner', 'test-author', 'coder', 'reviewer'].flatMap((role) => ['--handler', `${role}=${HANDLER}`]);

/**
 * Kills, when the test ends (passed or failed), every nats-server and every child process `up`
 * reported starting: a test that fails kills `up` with SIGKILL, and neither a nats-server nor (seen on
 * a failed run, where they lived on for half an hour retrying their connection) the coordinator and
 * agents reliably stop by themselves.
 */
function killServersAtEnd(stdout: () => string, dataDir: string): void {
  onTestFinished(() => {
    for (const e of eventsOf(stdout())) {
      const listed = e.event === 'up' || e.event === 'starting';
      const servers = listed ? ((e.servers as { pid: number }[] | undefined) ?? []).map((s) => s.pid) : e.event === 'nats_restarted' ? [e.pid as number] : [];
      const children = listed ? ((e.processes as { pid: number }[] | undefined) ?? []).map((p) => p.pid) : [];
      for (const pid of [...servers, ...children]) {
        try {
          // Only this stack's: a pid that is gone may have been reused (servers name the data dir, children have it in their environment).
          const mine = readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dataDir) || readFileSync(`/proc/${pid}/environ`, 'utf8').includes(dataDir);
          if (mine) process.kill(pid, 'SIGKILL');
        } catch {
          // gone already
        }
      }
    }
  });
}

/** The events `up --json` printed so far, parsed. */
function eventsOf(stdout: string): Record<string, unknown>[] {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('nightshift up', () => {
  it('runs the local stack with an embedded server, and Ctrl-C leaves no process behind', async () => {
    const port = await freePort();
    const dataDir = mkdtempSync(join(tmpdir(), 'nightshift-up-'));
    const env = { NATS_URL: '', NIGHTSHIFT_DATA_DIR: dataDir, NIGHTSHIFT_LOG_LEVEL: 'info', NIGHTSHIFT_SWEEP_INTERVAL: '100ms', NIGHTSHIFT_WEB_PORT: '0' };
    const args = ['up', '--json', '--port', String(port), '--replicas', 'coder=2'];
    for (const role of ['refiner', 'test-author', 'coder', 'reviewer']) args.push('--handler', `${role}=${HANDLER}`);

    const nats = `nats://127.0.0.1:${port}`;
    // The CLI finds the credentials `up` wrote under the same data directory.
    const cli = { NIGHTSHIFT_DATA_DIR: dataDir };
    let id = '';
    {
      await using stack = spawnCli(args, env);
      killServersAtEnd(stack.stdout, dataDir);
      const ready = await waitFor('the up event', () => stack.stdout().split('\n').find((l) => l.includes('"event":"up"')), { timeoutMs: 120_000 });
      const upEvent = JSON.parse(ready) as UpEvent;
      expect(upEvent).toMatchObject({ nats, embedded: true });
      expect(upEvent.processes.map((p) => p.name).sort()).toEqual(
        ['coder-1', 'coder-2', 'coordinator-1', 'refiner-1', 'reviewer-1', 'test-author-1', 'triager-1', 'web-1'],
      );

      // Up means up: every process said it serves before, each with its progress, and a ticket posted at once is taken.
      const progress = eventsOf(stack.stdout()).filter((e) => e.event === 'progress');
      for (const p of upEvent.processes) {
        const mine = progress.filter((e) => e.process === p.name);
        expect(mine.length, p.name).toBeGreaterThan(1);
        expect(mine.at(-1)!.phase, p.name).toBeNull();
      }
      const created = await runCli(['ticket', 'create', '--nats', nats, '--title', 'Up', '--body', 'b', '--repo', makeRepo()], cli);
      expect(created.code, created.stderr).toBe(0);
      id = created.stdout.trim();

      // Locked down by default: no credentials, no bus; the viewer's may read but not post or cancel.
      const anonymous = await runCli(['ticket', 'list', '--nats', nats, '--json'], { NIGHTSHIFT_DATA_DIR: join(dataDir, 'elsewhere') });
      expect(JSON.parse(anonymous.stdout)).toMatchObject({ ok: false, error: { code: 'nats_unreachable', message: expect.stringContaining('Authorization Violation') } });
      const viewer = { NATS_NKEY: join(dataDir, 'auth', 'viewer.nk') };
      expect((await runCli(['ticket', 'show', id, '--nats', nats, '--json'], viewer)).code).toBe(0);
      const posted = await runCli(['ticket', 'create', '--nats', nats, '--json', '--title', 'No', '--body', 'b', '--repo', makeRepo()], viewer);
      expect(JSON.parse(posted.stdout)).toMatchObject({ ok: false, error: { code: 'nats_permission_denied' } });
      const waited = await runCli(['ticket', 'wait', id, '--nats', nats, '--state', 'pr_open', '--timeout', '60s'], cli);
      expect(waited.code).toBe(0);
      expect(waited.stdout.trim()).toBe(`${id} is pr_open`);
      expect(waited.stderr).toContain('reviewing → pr_open');

      stack.proc.kill('SIGINT');
      expect(await stack.exited).toBe(0);
      expect(stack.stdout()).toContain('"event":"stopped"');
      for (const p of upEvent.processes) {
        await waitFor(`${p.name} (pid ${p.pid}) to be gone`, () => !alive(p.pid));
      }
      const refused = await runCli(['ticket', 'list', '--nats', nats, '--json'], cli);
      expect(refused.code).toBe(1);
      expect(JSON.parse(refused.stdout)).toMatchObject({ ok: false, error: { code: 'nats_unreachable' } });
    }

    // The data stays in the data dir: a new stack still knows the ticket.
    await using again = spawnCli(args, env);
    killServersAtEnd(again.stdout, dataDir);
    await waitFor('the second up event', () => again.stdout().includes('"event":"up"'), { timeoutMs: 120_000 });
    const shown = await waitFor('ticket show', async () => {
      const r = await runCli(['ticket', 'show', id, '--nats', nats, '--json'], cli);
      return r.code === 0 ? r.stdout : undefined;
    });
    expect(Ticket.parse(JSON.parse(shown)).state).toBe('pr_open');
    again.proc.kill('SIGTERM');
    expect(await again.exited).toBe(0);
  }, scaled(180_000));

  it('restarts its embedded nats-server after a SIGKILL on the same data, and a ticket in flight reaches its end state', async () => {
    const port = await freePort();
    const dataDir = mkdtempSync(join(tmpdir(), 'nightshift-up-'));
    const env = { NATS_URL: '', NIGHTSHIFT_DATA_DIR: dataDir, NIGHTSHIFT_LOG_LEVEL: 'info', NIGHTSHIFT_SWEEP_INTERVAL: '100ms', NIGHTSHIFT_WEB_PORT: '0' };
    const nats = `nats://127.0.0.1:${port}`;
    const cli = { NIGHTSHIFT_DATA_DIR: dataDir };
    await using stack = spawnCli(['up', '--json', '--port', String(port), ...AGENT_HANDLERS], env);
    killServersAtEnd(stack.stdout, dataDir);
    const upEvent = JSON.parse(await waitFor('the up event', () => stack.stdout().split('\n').find((l) => l.includes('"event":"up"')), { timeoutMs: 120_000 })) as UpEvent;
    expect(upEvent.servers).toHaveLength(1);
    const killed = upEvent.servers[0]!.pid;
    // Each try starts a CLI process: seconds apiece on a busy machine.
    const id = await waitFor(
      'intake served',
      async () => {
        const r = await runCli(['ticket', 'create', '--nats', nats, '--title', 'Survive', '--body', 'b', '--repo', makeRepo()], cli);
        return r.code === 0 ? r.stdout.trim() : undefined;
      },
      { timeoutMs: 60_000 },
    );
    // The ticket is durably stored and on its way: the server dies under it.
    process.kill(killed, 'SIGKILL');
    const restarted = await waitFor('the nats-server restarted', () => eventsOf(stack.stdout()).find((e) => e.event === 'nats_restarted'), { timeoutMs: 30_000 });
    expect(restarted.pid).not.toBe(killed);
    expect(alive(restarted.pid as number)).toBe(true);
    const waited = await runCli(['ticket', 'wait', id, '--nats', nats, '--state', 'pr_open', '--timeout', '90s'], cli, { timeoutMs: 120_000 });
    expect(waited.code, waited.stderr).toBe(0);
    expect(waited.stdout.trim()).toBe(`${id} is pr_open`);
    stack.proc.kill('SIGINT');
    expect(await stack.exited).toBe(0);
    for (const pid of [restarted.pid as number, ...upEvent.processes.map((p) => p.pid)]) await waitFor(`pid ${pid} to be gone`, () => !alive(pid));
  }, scaled(180_000));

  it('stops the nats-server an up killed with SIGKILL left behind when up starts again on the same data', async () => {
    const port = await freePort();
    const dataDir = mkdtempSync(join(tmpdir(), 'nightshift-up-stale-'));
    const env = { NATS_URL: '', NIGHTSHIFT_DATA_DIR: dataDir, NIGHTSHIFT_LOG_LEVEL: 'info', NIGHTSHIFT_WEB_PORT: '0' };
    const args = ['up', '--json', '--port', String(port), ...AGENT_HANDLERS];
    let left: number;
    {
      await using killed = spawnCli(args, env);
      killServersAtEnd(killed.stdout, dataDir);
      const upEvent = JSON.parse(await waitFor('the up event', () => killed.stdout().split('\n').find((l) => l.includes('"event":"up"')), { timeoutMs: 120_000 })) as UpEvent;
      left = upEvent.servers[0]!.pid;
      killed.proc.kill('SIGKILL');
      expect(await killed.exited).toBe('SIGKILL');
      // Its children see their parent gone and stop; the nats-server cannot, and lives on.
      for (const p of upEvent.processes) await waitFor(`${p.name} (pid ${p.pid}) to stop with its parent`, () => !alive(p.pid));
      expect(alive(left)).toBe(true);
    }
    await using again = spawnCli(args, env);
    killServersAtEnd(again.stdout, dataDir);
    await waitFor('the second up event', () => again.stdout().includes('"event":"up"'), { timeoutMs: 120_000 });
    expect(eventsOf(again.stdout()).find((e) => e.event === 'nats_stale_stopped')).toMatchObject({ pid: left });
    expect(alive(left)).toBe(false);
    again.proc.kill('SIGINT');
    expect(await again.exited).toBe(0);
  }, scaled(300_000));

  it('runs on an embedded 3-node JetStream cluster: serves intake, survives a node killed, and Ctrl-C leaves no process behind', async () => {
    const port = await freePortRange(6);
    const dataDir = mkdtempSync(join(tmpdir(), 'nightshift-up-cluster-'));
    const env = { NATS_URL: '', NIGHTSHIFT_DATA_DIR: dataDir, NIGHTSHIFT_LOG_LEVEL: 'info', NIGHTSHIFT_SWEEP_INTERVAL: '100ms', NIGHTSHIFT_LOST_WORK_CHECK: '5s', NIGHTSHIFT_WEB_PORT: '0' };
    const cli = { NIGHTSHIFT_DATA_DIR: dataDir };
    await using stack = spawnCli(['up', '--json', '--port', String(port), '--cluster', '3', ...AGENT_HANDLERS], env);
    killServersAtEnd(stack.stdout, dataDir);
    const ready = await waitFor('the up event', () => stack.stdout().split('\n').find((l) => l.includes('"event":"up"')), { timeoutMs: 120_000 });
    const upEvent = JSON.parse(ready) as UpEvent;
    const urls = [0, 1, 2].map((i) => `nats://127.0.0.1:${port + i}`);
    expect(upEvent).toMatchObject({ nats: urls.join(','), embedded: true, replicas: 3 });
    expect(upEvent.servers.map((s) => [s.name, s.port, s.data])).toEqual([1, 2, 3].map((n) => [`n${n}`, port + n - 1, join(dataDir, 'nats', `n${n}`)]));
    const nats = urls.join(',');
    const id = await waitFor(
      'intake served',
      async () => {
        const r = await runCli(['ticket', 'create', '--nats', nats, '--title', 'Clustered', '--body', 'b', '--repo', makeRepo()], cli);
        return r.code === 0 ? r.stdout.trim() : undefined;
      },
      { timeoutMs: 60_000 },
    );
    // The coordinator provisioned every stream and bucket with 3 replicas (NIGHTSHIFT_JS_REPLICAS=3 given to it).
    const bus = await connectBus({ url: nats, kind: 'coordinator', auth: { nkey: join(dataDir, 'auth', 'coordinator.nk') }, name: 'test', log: logSink().log });
    try {
      const n = bus.names;
      const names = [n.workStream, n.eventsStream, n.rejectedStream, n.advisoriesStream, n.transcriptsStream, `KV_${n.ticketsBucket}`, `KV_${n.prsBucket}`, `KV_${n.escalationsBucket}`];
      for (const name of names) expect((await bus.jsm.streams.info(name)).config.num_replicas, name).toBe(3);
    } finally {
      await bus.close();
    }
    // One node dies with the ticket on its way: the two others carry on, and the node comes back.
    process.kill(upEvent.servers[1]!.pid, 'SIGKILL');
    const restarted = await waitFor('n2 restarted', () => eventsOf(stack.stdout()).find((e) => e.event === 'nats_restarted' && e.server === 'n2'), { timeoutMs: 30_000 });
    // While the cluster elects new leaders a request may time out: the wait is asked again until the deadline.
    const waited = await waitFor(
      'the ticket to reach pr_open across the failover',
      async () => {
        const r = await runCli(['ticket', 'wait', id, '--nats', nats, '--state', 'pr_open', '--timeout', '60s'], cli, { timeoutMs: 90_000 });
        if (r.code === 0) return r;
        if (/timeout/i.test(r.stderr)) return undefined;
        throw new Error(`ticket wait failed: ${r.stderr}`);
      },
      { timeoutMs: 180_000 },
    );
    expect(waited.stdout.trim()).toBe(`${id} is pr_open`);

    stack.proc.kill('SIGINT');
    expect(await stack.exited).toBe(0);
    expect(stack.stdout()).toContain('"event":"stopped"');
    const pids = [restarted.pid as number, upEvent.servers[0]!.pid, upEvent.servers[2]!.pid, ...upEvent.processes.map((p) => p.pid)];
    for (const pid of pids) await waitFor(`pid ${pid} to be gone`, () => !alive(pid));
  }, scaled(360_000));

  it('refuses to start on a port that is taken, with a clear message', async () => {
    const port = await freePort();
    const srv = createServer().listen(port, '127.0.0.1');
    try {
      const r = await runCli(['up', '--port', String(port)], { NATS_URL: '', NIGHTSHIFT_DATA_DIR: mkdtempSync(join(tmpdir(), 'ns-')) });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`port ${port} is in use`);
    } finally {
      srv.close();
    }
  });
});

describeDocker('nightshift up --demo', () => {
  it('runs the demo ticket through the whole chain offline and prints its pull request', async () => {
    const port = await freePort();
    const dataDir = mkdtempSync(join(tmpdir(), 'nightshift-demo-'));
    const r = await runCli(['up', '--demo', '--json', '--port', String(port)], { NATS_URL: '', NIGHTSHIFT_DATA_DIR: dataDir, NIGHTSHIFT_WORKSPACES_DIR: join(dataDir, 'ws'), NIGHTSHIFT_WEB_PORT: '0' }, { timeoutMs: 300_000 });
    expect(r.code, r.stderr.slice(-4000)).toBe(0);
    const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { event: string; pr?: { state: string; title: string; body: string }; diff?: string; entry?: { to?: string } });
    // Starting, a progress line per process, then up, and only then the demo ticket.
    expect(events[0]!.event).toBe('starting');
    const upAt = events.findIndex((e) => e.event === 'up');
    expect(upAt).toBeGreaterThan(0);
    expect(events.slice(1, upAt).every((e) => e.event === 'progress')).toBe(true);
    expect(events.findIndex((e) => e.event === 'timeline')).toBeGreaterThan(upAt);
    expect(events.filter((e) => e.event === 'timeline' && e.entry?.to).map((e) => e.entry!.to)).toEqual([
      'received',
      'refining',
      'writing_tests',
      'coding',
      'reviewing',
      'pr_open',
    ]);
    const pr = events.find((e) => e.event === 'pull_request')!;
    expect(pr.pr).toMatchObject({ state: 'open', title: 'slugify: add a maxLength option' });
    expect(pr.pr!.body).toContain('red as required');
    // Each acceptance criterion of the demo with its tests by name, red on the unchanged code and green with the change.
    for (const row of [
      '| **AC1** slugify(text, { maxLength }) returns a slug of at most maxLength characters | `test/slugify-max-length.test.js › cuts the slug at maxLength` | ❌ failed | ✅ passed |',
      '| **AC2** a cut slug never ends with a dash | `test/slugify-max-length.test.js › never ends a cut slug with a dash` | ❌ failed | ✅ passed |',
      '| `test/slugify-max-length.test.js › leaves slugs shorter than maxLength alone` | ✅ passed (already passed on the base) | ✅ passed |',
    ]) {
      expect(pr.pr!.body).toContain(row);
    }
    expect(pr.diff).toContain('maxLength');
    expect(events.at(-1)!.event).toBe('stopped');
  }, scaled(300_000));
});
