import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SandboxError, type RunResult, type RunSpecInput, type Sandbox, type SandboxSession } from '../../sandbox/index.ts';

/** How a contract run gets its implementation. */
export interface SandboxContractInit {
  /** Shown in the suite name. */
  name: string;
  /** Image every run uses; it must have sh, coreutils and node. */
  image: string;
  create(): Sandbox | Promise<Sandbox>;
  destroy?(sandbox: Sandbox): Promise<void>;
}

/**
 * What every `Sandbox` must do, whatever isolates it: run against Docker (`sandbox/docker.int.test.ts`)
 * and against the unit-test fake (`test/fakes/sandbox.test.ts`), so the fake cannot drift from Docker.
 * Isolation itself (network, user, limits) is Docker-only and tested there. Every case runs twice: through
 * cold `run`s, and through `session().run` (one session per case, opened on its first command, closed
 * after it), so that a warm session keeps every promise of a cold run.
 */
export function sandboxContract(init: SandboxContractInit): void {
  for (const mode of ['run', 'session'] as const) contractCases(init, mode);
}

function contractCases(init: SandboxContractInit, mode: 'run' | 'session'): void {
  describe(`Sandbox contract: ${init.name}, through ${mode === 'run' ? 'cold runs' : 'a warm session'}`, () => {
    let sandbox: Sandbox;
    let ws: string;
    let session: Promise<SandboxSession> | undefined;

    beforeAll(async () => {
      sandbox = await init.create();
    });
    afterAll(async () => {
      if (sandbox) await init.destroy?.(sandbox);
    });
    beforeEach(() => {
      ws = mkdtempSync(join(realpathSync(tmpdir()), 'nightshift-contract-'));
    });
    afterEach(async () => {
      const open = session;
      session = undefined;
      await open?.then((s) => s.close(), () => undefined);
      rmSync(ws, { recursive: true, force: true });
    });

    /** One command, cold or in the case's session (a spec on another workspace gets a session of its own). */
    const run = async (spec: Partial<RunSpecInput> = {}, signal?: AbortSignal): Promise<RunResult> => {
      const full = { image: init.image, workspace: ws, command: 'true', timeoutMs: 30_000, ...spec };
      if (mode === 'run') return sandbox.run(full, { signal });
      const { image, workspace, limits, network, ...command } = full;
      if (network !== undefined) throw new Error('sessions have no network: a contract case must not ask for one');
      if (workspace !== ws || limits !== undefined) {
        const own = await sandbox.session({ image, workspace, ...(limits !== undefined && { limits }) });
        try {
          return await own.run(command, { signal });
        } finally {
          await own.close();
        }
      }
      session ??= sandbox.session({ image, workspace });
      return (await session).run(command, { signal });
    };

    it('reports itself available and accepts its image', async () => {
      expect(await sandbox.available()).toMatchObject({ ok: true });
      await sandbox.ensureImage(init.image);
    });

    it('runs a shell command and reports exit code 0, its output and its duration', async () => {
      const r = await run({ command: 'echo hello' });
      expect(r).toMatchObject({ exitCode: 0, stdout: 'hello\n', stderr: '', timedOut: false, oomKilled: false, outputLimitExceeded: false });
      expect(r.durationMs).toBeGreaterThanOrEqual(0);
      expect(r.durationMs).toBeLessThan(30_000);
    });

    it('reports a non-zero exit code as a result, not an error', async () => {
      expect((await run({ command: 'exit 3' })).exitCode).toBe(3);
    });

    it('runs an argv array as is, without a shell', async () => {
      const r = await run({ command: ['printf', '%s|', 'a b', '$HOME', '*'] });
      expect(r.stdout).toBe('a b|$HOME|*|');
    });

    it('reports a command that cannot be executed as exit 127', async () => {
      const r = await run({ command: ['nightshift-no-such-command'] });
      expect(r.exitCode).toBe(127);
      expect(r.stderr).toMatch(/nightshift-no-such-command/);
    });

    it('keeps stdout and stderr apart', async () => {
      const r = await run({ command: 'echo out; echo err >&2; echo out2' });
      expect(r.stdout).toBe('out\nout2\n');
      expect(r.stderr).toBe('err\n');
    });

    it('closes stdin', async () => {
      const r = await run({ command: 'cat; echo done', timeoutMs: 20_000 });
      expect(r).toMatchObject({ exitCode: 0, stdout: 'done\n', timedOut: false });
    });

    it('shares the workspace both ways: host files are read, writes land on the host and persist to the next run', async () => {
      writeFileSync(join(ws, 'seed.txt'), 'from the host\n');
      const first = await run({ command: 'cat seed.txt && mkdir -p out && echo from the sandbox > out/made.txt' });
      expect(first).toMatchObject({ exitCode: 0, stdout: 'from the host\n' });
      expect(readFileSync(join(ws, 'out/made.txt'), 'utf8')).toBe('from the sandbox\n');
      expect((await run({ command: 'cat out/made.txt' })).stdout).toBe('from the sandbox\n');
    });

    it('runs with the workspace at its mount point', async () => {
      const r = await run({ command: 'pwd' });
      expect(r.stdout.trim()).toBe(sandbox.mountPoint(ws));
    });

    it('runs in the cwd, relative to the workspace', async () => {
      mkdirSync(join(ws, 'pkg/sub'), { recursive: true });
      const r = await run({ command: 'echo here > where.txt && basename "$PWD"', cwd: 'pkg/sub' });
      expect(r).toMatchObject({ exitCode: 0, stdout: 'sub\n' });
      expect(existsSync(join(ws, 'pkg/sub/where.txt'))).toBe(true);
    });

    it('refuses a cwd outside the workspace, missing, or escaping through a symlink', async () => {
      for (const cwd of ['../', '/etc', 'a/../../b']) {
        await expect(run({ cwd })).rejects.toMatchObject({ code: 'invalid_spec' });
      }
      await expect(run({ cwd: 'missing' })).rejects.toMatchObject({ code: 'invalid_spec' });
      symlinkSync('/etc', join(ws, 'escape'));
      await expect(run({ cwd: 'escape' })).rejects.toMatchObject({ code: 'invalid_spec', message: /outside the workspace/ });
    });

    it('refuses a missing workspace and a malformed spec', async () => {
      await expect(run({ workspace: join(ws, 'nope') })).rejects.toMatchObject({ code: 'invalid_workspace' });
      await expect(run({ workspace: 'relative/path' })).rejects.toMatchObject({ code: 'invalid_spec' });
      await expect(run({ timeoutMs: -1 })).rejects.toBeInstanceOf(SandboxError);
    });

    it("passes only the explicit environment, none of the host's (no secrets)", async () => {
      const saved = { ...process.env };
      process.env.OPENAI_API_KEY = 'sk-contract-secret-1';
      process.env.NIGHTSHIFT_CONTRACT_TOKEN = 'contract-secret-2';
      try {
        const r = await run({ command: 'env', env: { GREETING: 'hello there', CI: 'true' } });
        expect(r.exitCode).toBe(0);
        expect(r.stdout).toContain('GREETING=hello there\n');
        expect(r.stdout).toContain('CI=true\n');
        expect(r.stdout).not.toMatch(/contract-secret|OPENAI_API_KEY|NIGHTSHIFT_CONTRACT_TOKEN/);
        for (const name of ['NATS_URL', 'GITHUB_TOKEN', 'SLACK_BOT_TOKEN', 'npm_config_registry', 'VITEST']) {
          expect(r.stdout).not.toContain(`${name}=`);
        }
      } finally {
        process.env = saved;
      }
    });

    it('keeps output under the cap whole', async () => {
      const r = await run({ command: "head -c 1000 /dev/zero | tr '\\0' a", maxOutputBytes: 1000 });
      expect(r).toMatchObject({ exitCode: 0, outputLimitExceeded: false });
      expect(r.stdout).toBe('a'.repeat(1000));
    });

    it('kills a runaway printer at the output cap and says so', async () => {
      const r = await run({ command: 'while :; do echo 0123456789abcdef0123456789abcdef; done', maxOutputBytes: 64 * 1024 });
      expect(r).toMatchObject({ exitCode: null, outputLimitExceeded: true, timedOut: false });
      expect(Buffer.byteLength(r.stdout)).toBeLessThanOrEqual(64 * 1024);
      expect(r.stdout.startsWith('0123456789abcdef')).toBe(true);
      expect(r.durationMs).toBeLessThan(20_000);
    });

    it('counts stdout and stderr together against the cap', async () => {
      const r = await run({
        command: "head -c 700 /dev/zero | tr '\\0' o; head -c 700 /dev/zero | tr '\\0' e >&2; sleep 20",
        maxOutputBytes: 1000,
      });
      expect(r).toMatchObject({ exitCode: null, outputLimitExceeded: true });
      expect(Buffer.byteLength(r.stdout) + Buffer.byteLength(r.stderr)).toBe(1000);
    });

    it('kills a command that loops forever at the timeout and says so', async () => {
      const r = await run({ command: 'while :; do :; done', timeoutMs: 1_500 });
      expect(r).toMatchObject({ exitCode: null, timedOut: true, outputLimitExceeded: false });
      expect(r.durationMs).toBeGreaterThanOrEqual(1_400);
      expect(r.durationMs).toBeLessThan(15_000);
    });

    it('keeps the output printed before the timeout', async () => {
      const r = await run({ command: 'echo before; sleep 30', timeoutMs: 1_500 });
      expect(r).toMatchObject({ timedOut: true, stdout: 'before\n' });
    });

    it('does not wait for background processes the command leaves behind', async () => {
      const r = await run({ command: 'sleep 60 & echo started', timeoutMs: 30_000 });
      expect(r).toMatchObject({ exitCode: 0, stdout: 'started\n', timedOut: false });
      expect(r.durationMs).toBeLessThan(10_000);
    });

    it('kills the command and rejects with cancelled when the signal aborts', async () => {
      const ac = new AbortController();
      const started = Date.now();
      setTimeout(() => ac.abort(), 1_000);
      await expect(run({ command: 'sleep 30' }, ac.signal)).rejects.toMatchObject({ code: 'cancelled' });
      expect(Date.now() - started).toBeLessThan(15_000);
      const aborted = new AbortController();
      aborted.abort();
      await expect(run({}, aborted.signal)).rejects.toMatchObject({ code: 'cancelled' });
    });
    if (mode === 'session') {
      it('runs commands of a session one after another, each seeing what the previous one wrote', async () => {
        const s = await sandbox.session({ image: init.image, workspace: ws });
        try {
          const [a, b] = await Promise.all([
            s.run({ command: 'sleep 1; echo first > order.txt' }),
            s.run({ command: 'cat order.txt; echo second >> order.txt' }),
          ]);
          expect(a.exitCode).toBe(0);
          expect(b).toMatchObject({ exitCode: 0, stdout: 'first\n' });
          expect(readFileSync(join(ws, 'order.txt'), 'utf8')).toBe('first\nsecond\n');
        } finally {
          await s.close();
        }
        await expect(s.run({ command: 'true' })).rejects.toMatchObject({ code: 'sandbox_failed' });
        await s.close();
      });

      it("kills what a command leaves running, and a timed-out command's children, before the next command", async () => {
        const tag = `ns${process.pid}x${Date.now()}`;
        // The title is assembled at run time, so only the daemon's own command line holds the tag.
        const daemon = (suffix: string) =>
          `node -e "process.title=['${tag.slice(0, 4)}', '${tag.slice(4)}-${suffix}'].join('');setInterval(() => {}, 1000)" >/dev/null 2>&1 &`;
        // The pattern [n]s… matches the daemons' titles but not the grep that looks for them.
        const count = `for p in /proc/[0-9]*; do tr '\\000' ' ' < "$p/cmdline" 2>/dev/null; echo; done | grep -c '[${tag[0]}]${tag.slice(1)}' || true`;
        // The command waits until it sees its daemon, so the count below is known to find one.
        const left = await run({ command: `${daemon('left')} for i in $(seq 200); do n=$(${count}); [ "$n" = 1 ] && break; sleep 0.05; done; echo "$n"` });
        expect(left).toMatchObject({ exitCode: 0, stdout: '1\n' });
        expect((await run({ command: count })).stdout.trim()).toBe('0');
        const timedOut = await run({ command: `${daemon('timeout')} while :; do :; done`, timeoutMs: 1_500 });
        expect(timedOut).toMatchObject({ timedOut: true, exitCode: null });
        expect((await run({ command: count })).stdout.trim()).toBe('0');
        expect((await run({ command: 'echo still usable' })).stdout).toBe('still usable\n');
      });
    }
  });
}
