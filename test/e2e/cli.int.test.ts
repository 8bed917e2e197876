import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { PROCESS_KINDS } from '../../bus/index.ts';
import { Ticket } from '../../shared/index.ts';
import { runCli, spawnCli } from '../helpers/cli.ts';
import { setup } from '../helpers/env.ts';
import { makeRepo } from '../helpers/git.ts';

const ROOT = resolve(import.meta.dirname, '../..');

describe('the CLI', () => {
  it('prints nothing of npm before its own output through `npx nightshift`, whatever node is on PATH', async () => {
    // The machine's own node first, as a user's shell has it (here Node 20): the launcher hands over to Node 24.
    // None of the npm_* settings an `npm test` run passes down, and an npm cache of its own: a first
    // `npx nightshift` links the project into the cache, checking its engines (npm warned EBADENGINE).
    const PATH = (process.env.PATH ?? '').split(delimiter).filter((d) => !d.startsWith(join(ROOT, '.toolchain'))).join(delimiter);
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
    const cache = mkdtempSync(join(tmpdir(), 'ns-npm-cache-'));
    try {
      const r = await promisify(execFile)('npx', ['nightshift', '--help'], { cwd: ROOT, env: { ...env, PATH, npm_config_cache: cache }, timeout: 120_000 });
      expect(r.stderr).toBe('');
      expect(r.stdout.startsWith('nightshift — background agents')).toBe(true);
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
    // Every dependency's install script is reviewed in package.json (allowScripts), so `npm ci` warns of none.
    const scripts = await promisify(execFile)('npm', ['install-scripts', 'ls'], { cwd: ROOT, timeout: 120_000 });
    expect(scripts.stdout.trim()).toBe('No packages with unreviewed install scripts.');
  });

  it('stops start-up on bad configuration, naming every bad variable, with exit code 2', async () => {
    const r = await runCli(['coordinator'], { NIGHTSHIFT_ACK_WAIT: 'soon', NIGHTSHIFT_MAX_DELIVER: '0', NIGHTSHIFT_PREFIX: 'a.b' });
    expect(r.code).toBe(2);
    for (const name of ['NIGHTSHIFT_ACK_WAIT', 'NIGHTSHIFT_MAX_DELIVER', 'NIGHTSHIFT_PREFIX']) expect(r.stderr).toContain(name);
    const json = await runCli(['coordinator', '--json'], { NIGHTSHIFT_MAX_DELIVER: '0' });
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, error: { code: 'invalid_config', issues: [{ path: 'NIGHTSHIFT_MAX_DELIVER' }] } });
  });

  it('refuses bad usage with exit code 2 and says why', async () => {
    const unknown = await runCli(['frobnicate'], {});
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command "frobnicate"');
    const flag = await runCli(['ticket', 'show', 'tk-0123456789', '--colour'], {});
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain('--colour');
    // Checked before anything is reached: no NATS runs at this address.
    const malformed = await runCli(['ticket', 'cancel', 'T-1', '--nats', 'nats://127.0.0.1:1'], {});
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toContain('"T-1" is not a ticket id');
    const replicas = await runCli(['up', '--cluster', '3', '--nats', 'nats://127.0.0.1:1'], {});
    expect(replicas.code).toBe(2);
    expect(replicas.stderr).toContain('--cluster starts an embedded cluster');
  });

  it('writes a nats-server configuration and a private seed per process kind, keeping the seeds on a second run', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'ns-natsconf-')), 'auth');
    try {
      const first = await runCli(['nats', 'config', '--dir', dir, '--prefix', 'acme', '--json'], {});
      expect(first.code).toBe(0);
      const written = JSON.parse(first.stdout) as { config: string; seeds: Record<string, string> };
      expect(Object.keys(written.seeds).sort()).toEqual([...PROCESS_KINDS].sort());
      for (const file of [written.config, ...Object.values(written.seeds)]) expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(statSync(dir).mode & 0o777).toBe(0o700);
      const conf = readFileSync(written.config, 'utf8');
      expect(conf).toContain('"acme.tickets.intake"');
      expect(conf).not.toMatch(/SU[A-Z2-7]{56}/);
      const seeds = Object.fromEntries(Object.values(written.seeds).map((f) => [f, readFileSync(f, 'utf8')]));
      expect((await runCli(['nats', 'config', '--dir', dir, '--prefix', 'acme', '--json'], {})).code).toBe(0);
      for (const [f, seed] of Object.entries(seeds)) expect(readFileSync(f, 'utf8')).toBe(seed);
    } finally {
      rmSync(join(dir, '..'), { recursive: true, force: true });
    }
  });

  it('cancels, refuses answers to tickets that ask nothing, and reports unknown ids, through the commands', async () => {
    await using env = await setup();
    await using coordinator = spawnCli(['coordinator'], env.childEnv);
    await coordinator.waitForLog('coordinator started', (l) => l.msg === 'coordinator started');
    const created = await runCli(['ticket', 'create', '--title', 'CLI', '--body', 'b', '--repo', makeRepo(), '--label', 'cli', '--json'], env.childEnv);
    expect(created.code).toBe(0);
    const { id } = JSON.parse(created.stdout) as { id: string };

    const answer = await runCli(['answer', id, 'use -v', '--json'], env.childEnv);
    expect(answer.code).toBe(1);
    expect(JSON.parse(answer.stdout)).toMatchObject({ ok: false, error: { code: 'not_awaiting_human' } });

    const cancel = await runCli(['ticket', 'cancel', id, '--reason', 'not needed', '--by', 'ana'], env.childEnv);
    expect(cancel.code).toBe(0);
    expect(cancel.stdout.trim()).toBe(`${id} is cancelled`);
    const shown = Ticket.parse(JSON.parse((await runCli(['ticket', 'show', id, '--json'], env.childEnv)).stdout));
    expect(shown.timeline.at(-1)).toMatchObject({ event: 'transition', to: 'cancelled', by: 'ana', reason: 'not needed' });

    const again = await runCli(['ticket', 'cancel', id, '--json'], env.childEnv);
    expect(again.code).toBe(1);
    expect(JSON.parse(again.stdout)).toMatchObject({ ok: false, error: { code: 'ticket_finished' } });

    const wait = await runCli(['ticket', 'wait', id, '--state', 'done', '--timeout', '2s'], env.childEnv);
    expect(wait.code).toBe(3);
    expect(wait.stderr).toContain('gave up waiting for done');

    const list = await runCli(['ticket', 'list', '--state', 'cancelled', '--json'], env.childEnv);
    expect(JSON.parse(list.stdout)).toMatchObject({ tickets: [{ id, state: 'cancelled' }], counts: { cancelled: 1 } });

    const missing = await runCli(['ticket', 'show', 'tk-zzzzzzzzzz', '--json'], env.childEnv);
    expect(missing.code).toBe(1);
    expect(JSON.parse(missing.stdout)).toMatchObject({ ok: false, error: { code: 'ticket_not_found' } });
    const malformed = await runCli(['ticket', 'show', 'T-1', '--json'], env.childEnv);
    expect(malformed.code).toBe(2);
    expect(JSON.parse(malformed.stdout)).toMatchObject({ ok: false, error: { code: 'invalid_ticket_id' } });
  });
});
