import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Docker from 'dockerode';
import { expect, it } from 'vitest';
import { createDemoRepo, demoTicket } from '../../cli/demo.ts';
import { AGENT_NODE_FLAGS } from '../../cli/up.ts';
import { ROLES } from '../../shared/index.ts';
import { describeDocker, IN_CI } from '../../test/helpers/docker.ts';
import { waitFor } from '../../test/helpers/wait.ts';

/**
 * The Compose deployment end to end, on this machine's Docker engine: the images built by their
 * (idempotent) scripts, the NATS configuration written by `init`, the whole stack up with the demo's
 * scripted model, the demo ticket through the real chain to its pull request, and `down -v` leaving
 * nothing of the project behind — no container, network or volume, and no sandbox container the
 * agents started on the host's engine.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const HERE = join(ROOT, 'deploy', 'compose');
const COMPOSE_FILE = join(HERE, 'docker-compose.yml');
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
/** NIGHTSHIFT_IMAGE builds and runs another tag (build.sh and init read it too), e.g. beside another checkout's image. */
const IMAGE = process.env.NIGHTSHIFT_IMAGE ?? `nightshift:${VERSION}`;
/** Every long-running service of `--profile demo up`: its containers, and the kind whose seed each must be given. */
const SERVICES: Record<string, { replicas: number; kind: string | null }> = {
  nats1: { replicas: 1, kind: null },
  nats2: { replicas: 1, kind: null },
  nats3: { replicas: 1, kind: null },
  coordinator: { replicas: 2, kind: 'coordinator' },
  triager: { replicas: 1, kind: 'triager' },
  refiner: { replicas: 1, kind: 'refiner' },
  'test-author': { replicas: 1, kind: 'test-author' },
  coder: { replicas: 1, kind: 'coder' },
  reviewer: { replicas: 1, kind: 'reviewer' },
  web: { replicas: 1, kind: 'web' },
  'mock-llm': { replicas: 1, kind: null },
};
/** The image's entrypoint (deploy/image/Dockerfile), and the agents' with the flags `nightshift up` gives them. */
const ENTRYPOINT = ['node', '/app/bin/nightshift.mjs'];
const AGENT_ENTRYPOINT = ['node', ...AGENT_NODE_FLAGS, '/app/bin/nightshift.mjs'];

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end within `timeoutMs` (then SIGKILL), collecting its output. */
function run(cmd: string, args: string[], { env, input, timeoutMs }: { env: NodeJS.ProcessEnv; input?: string; timeoutMs: number }): Promise<Run> {
  return new Promise((resolve, reject) => {
    const proc = spawn(cmd, args, { env, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    if (input !== undefined) proc.stdin!.end(input);
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')} did not finish within ${timeoutMs} ms\nstdout: ${stdout.slice(-3000)}\nstderr: ${stderr.slice(-3000)}`));
    }, timeoutMs);
    proc.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function ok(r: Run, what: string): Run {
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code})\nstdout: ${r.stdout.slice(-4000)}\nstderr: ${r.stderr.slice(-4000)}`);
  return r;
}

/** The last line of a command's stdout, as JSON. */
function lastJson<T>(r: Run): T {
  const line = r.stdout.trim().split('\n').at(-1) ?? '';
  return JSON.parse(line) as T;
}

const composeVersion = spawnSync('docker-compose', ['version', '--short'], { encoding: 'utf8' });
const composeMissing = composeVersion.status === 0 ? null : `docker-compose is not installed (apt-get install docker-compose): ${composeVersion.error?.message ?? composeVersion.stderr}`;

describeDocker('Docker Compose deployment (deploy/compose)', () => {
  if (composeMissing !== null && !IN_CI) {
    it.skip(`runs the demo through the Compose stack [skipped: ${composeMissing}]`, () => undefined);
    return;
  }

  it('builds the images, starts the stack with --profile demo, takes the demo ticket to its pull request, and leaves nothing behind', async () => {
    if (composeMissing !== null) throw new Error(`${composeMissing} (CI=true: not skipped; scripts/install installs it)`);
    const docker = new Docker();
    const started = Date.now();
    const phases: string[] = [];
    let mark = started;
    const phase = (name: string) => {
      const now = Date.now();
      phases.push(`${name} ${((now - mark) / 1000).toFixed(1)}s`);
      mark = now;
    };

    // The images: idempotent, so a second run of the test (or of CI) spends a few seconds here.
    const hostEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      ...(process.env.DOCKER_HOST && { DOCKER_HOST: process.env.DOCKER_HOST }),
      ...(process.env.NIGHTSHIFT_IMAGE && { NIGHTSHIFT_IMAGE: process.env.NIGHTSHIFT_IMAGE }),
    };
    // The console on any free port of the host's loopback (`127.0.0.1:` + `:4280`): another stack may hold 4280.
    const composeEnv = { ...hostEnv, NIGHTSHIFT_WEB_PUBLISH: '127.0.0.1:' };
    ok(await run(join(ROOT, 'deploy/image/build.sh'), [], { env: hostEnv, timeoutMs: 10 * 60_000 }), 'deploy/image/build.sh');
    ok(await run(join(ROOT, 'deploy/image/build-nats.sh'), [], { env: hostEnv, timeoutMs: 5 * 60_000 }), 'deploy/image/build-nats.sh');
    phase('images');

    // Host directories mounted at the same path in the containers: workspaces (sandboxes are siblings
    // on this engine) and repositories (the demo's origin, which the ticket names by path).
    const tmp = realpathSync(mkdtempSync(join(tmpdir(), 'ns-compose-')));
    const envFile = join(tmp, 'compose.env');
    const project = `nscompose${process.pid}${Math.random().toString(36).slice(2, 8)}`;
    const compose = (args: string[], opts: { input?: string; timeoutMs?: number } = {}) =>
      // `run cli` activates the cli service's profile (tools) by naming it; `up` starts the demo's only.
      run('docker-compose', ['--project-name', project, '--file', COMPOSE_FILE, '--env-file', envFile, '--profile', 'demo', ...args], {
        env: composeEnv,
        timeoutMs: opts.timeoutMs ?? 2 * 60_000,
        ...(opts.input !== undefined && { input: opts.input }),
      });
    const cli = async (args: string[], opts: { input?: string; timeoutMs?: number } = {}) =>
      ok(await compose(['run', '--rm', '-T', '--no-deps', 'cli', ...args], opts), `docker-compose run cli ${args.join(' ')}`);
    const logs = async () => (await compose(['logs', '--no-color', '--tail', '60']).catch((e: Error) => ({ stdout: e.message }))).stdout;

    let down: Run | Error = new Error('the stack was not started');
    try {
      const repo = await createDemoRepo(join(tmp, 'repos', 'demo'));
      ok(
        await run(
          join(HERE, 'init'),
          ['--config-dir', join(tmp, 'config'), '--workspaces', join(tmp, 'workspaces'), '--repos', join(tmp, 'repos'), '--env-file', envFile, '--demo'],
          { env: hostEnv, timeoutMs: 2 * 60_000 },
        ),
        'deploy/compose/init',
      );
      phase('init');

      try {
        ok(await compose(['up', '-d', '--no-build'], { timeoutMs: 5 * 60_000 }), 'docker-compose up -d');
        // Ready: every service's container healthy (nats-healthz on the nodes, /readyz on the others).
        const containers = await waitFor(
          'every container of every service healthy',
          async () => {
            const list = await docker.listContainers({ all: true, filters: { label: [`com.docker.compose.project=${project}`] } });
            for (const c of list) {
              if (c.State === 'exited' || c.State === 'dead') throw new Error(`${c.Names.join(',')} ${c.Status}`);
            }
            const healthy = Object.entries(SERVICES).every(
              ([service, { replicas }]) => list.filter((c) => c.Labels['com.docker.compose.service'] === service && c.Status.includes('(healthy)')).length === replicas,
            );
            return healthy && list;
          },
          { timeoutMs: 4 * 60_000, intervalMs: 1_000 },
        );
        phase('up and ready');

        // Every nightshift process has its own kind's seed, and only that, read-only.
        expect(containers.map((c) => c.Labels['com.docker.compose.service']).sort()).toEqual(
          Object.entries(SERVICES).flatMap(([service, { replicas }]) => Array<string>(replicas).fill(service)).sort(),
        );
        for (const c of containers) {
          const service = c.Labels['com.docker.compose.service']!;
          const kind = SERVICES[service]!.kind;
          const info = await docker.getContainer(c.Id).inspect();
          if (kind !== null) {
            const agent = (ROLES as readonly string[]).includes(kind);
            expect(info.Config.Entrypoint, service).toEqual(agent ? AGENT_ENTRYPOINT : ENTRYPOINT);
          }
          const seeds = info.Mounts.filter((m) => m.Source.endsWith('.nk'));
          if (kind === null) {
            expect(seeds, service).toEqual([]);
            continue;
          }
          expect(seeds.map((m) => [m.Source, m.Destination, m.RW]), service).toEqual([[join(tmp, 'config', `${kind}.nk`), '/run/nightshift/nats.nk', false]]);
        }

        const ticket = demoTicket();
        const posted = lastJson<{ ok: boolean; id: string }>(
          await cli(['ticket', 'create', '--file', '-', '--json'], { input: JSON.stringify({ ...ticket, externalId: `COMPOSE-${project}`, repo: { path: repo } }) }),
        );
        expect(posted.ok).toBe(true);
        const rested = lastJson<{ state: string; failure?: unknown }>(
          await cli(['ticket', 'wait', posted.id, '--state', 'pr_open', '--timeout', '8m', '--json'], { timeoutMs: 9 * 60_000 }),
        );
        expect(rested.state, JSON.stringify(rested.failure)).toBe('pr_open');
        const shown = lastJson<{ pr: { title: string; ticketId: string; branch: string }; diff: string | null }>(await cli(['pr', 'show', posted.id, '--json']));
        expect(shown.pr.title).toBe(ticket.title);
        expect(shown.pr.ticketId).toBe(posted.id);
        expect(shown.pr.branch).toBe(`nightshift/${posted.id}`);
        expect(shown.diff).toContain('maxLength');
        phase('demo ticket to pr_open');

        // The console, through its published port: reading needs the token `init` wrote (it listens
        // beyond its container's loopback), and with it the board shows the ticket where it rests.
        const web = containers.find((c) => c.Labels['com.docker.compose.service'] === 'web')!;
        const published = (await docker.getContainer(web.Id).inspect()).NetworkSettings.Ports['4280/tcp']?.[0];
        expect(published?.HostIp).toBe('127.0.0.1');
        const consoleUrl = `http://127.0.0.1:${published!.HostPort}`;
        const token = /^NIGHTSHIFT_WEB_TOKEN=(.{16,})$/m.exec(readFileSync(envFile, 'utf8'))?.[1];
        expect(token).toBeDefined();
        const anonymous = await fetch(`${consoleUrl}/`, { redirect: 'manual' });
        expect(anonymous.status).toBe(303);
        expect(anonymous.headers.get('location')).toMatch(/^\/login/);
        const board = await waitFor('the ticket on the console\'s board', async () => {
          const res = await fetch(`${consoleUrl}/`, { headers: { Authorization: `Bearer ${token}` } });
          expect(res.status).toBe(200);
          const text = await res.text();
          const column = text.slice(text.indexOf('id="col-pr_open"'));
          return column.slice(0, column.indexOf('</ol>')).includes(`id="t-${posted.id}"`) && text;
        });
        expect(board).not.toContain(token);
        phase('the console serves the board');
      } catch (err) {
        throw new Error(`${(err as Error).message}\n--- docker-compose logs (last lines per service) ---\n${await logs()}`, { cause: err });
      } finally {
        down = await compose(['--profile', 'tools', 'down', '--volumes', '--remove-orphans', '--timeout', '45'], { timeoutMs: 3 * 60_000 }).catch((e: Error) => e);
        phase('down');
      }
    } finally {
      try {
        rmSync(tmp, { recursive: true, force: true });
      } catch {
        // Files the containers wrote belong to their users (10001, 10002): remove them as root, in a container.
        spawnSync('docker', ['run', '--rm', '--network', 'none', '--user', '0:0', '--entrypoint', 'rm', '-v', `${tmp}:${tmp}`, IMAGE, '-rf', join(tmp, 'config'), join(tmp, 'repos'), join(tmp, 'workspaces')]);
        rmSync(tmp, { recursive: true, force: true });
      }
    }

    expect(down instanceof Error ? down.message : down.code, down instanceof Error ? '' : down.stderr).toBe(0);
    const label = [`com.docker.compose.project=${project}`];
    expect(await docker.listContainers({ all: true, filters: { label } })).toEqual([]);
    expect(await docker.listNetworks({ filters: { label } })).toEqual([]);
    expect((await docker.listVolumes({ filters: { label } })).Volumes ?? []).toEqual([]);
    // The agents' sandboxes (and their egress gates) are containers on this engine, outside the project:
    // none that started since this test did may be left. (Integration test files run one at a time.)
    const sandboxes = await docker.listContainers({ all: true, filters: { label: ['nightshift.sandbox=1'] } });
    expect(sandboxes.filter((c) => c.Created * 1000 >= started - 1_000).map((c) => `${c.Id.slice(0, 12)} ${c.Image} ${c.Status}`)).toEqual([]);
    console.log(`compose: ${phases.join(', ')}; ${((Date.now() - started) / 1000).toFixed(1)}s in all`);
  }, 20 * 60_000);
});
