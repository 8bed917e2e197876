import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it, onTestFinished } from 'vitest';
import { createDemoRepo, DEMO_SCRIPT, demoTicket } from '../../cli/demo.ts';
import { freePort } from '../../shared/index.ts';
import { loadMockScript, startMockLlm } from '../../shared/llm/index.ts';
import { runCli, spawnCli } from '../helpers/cli.ts';
import { describeDocker } from '../helpers/docker.ts';
import { logSink } from '../helpers/env.ts';
import { scaled, waitFor } from '../helpers/wait.ts';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text exposition. */
function parseExposition(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** The sum of the samples named `name` whose labels include `labels`. */
function total(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((n, s) => n + s.value, 0);
}

interface UpEvent {
  event: string;
  servers: { pid: number }[];
  processes: { name: string; pid: number; metrics?: string }[];
}

const STAGE_OF: Record<string, string> = { 'refiner-1': 'refining', 'test-author-1': 'writing_tests', 'coder-1': 'coding', 'reviewer-1': 'reviewing' };

describeDocker('metrics of every process under nightshift up', () => {
  it('scrapes /metrics of each process once the demo ticket has its pull request, and finds every figure with its labels', async () => {
    const port = await freePort();
    const dataDir = mkdtempSync(join(tmpdir(), 'nightshift-metrics-'));
    await using model = await startMockLlm({ script: await loadMockScript(DEMO_SCRIPT), log: logSink().log });
    const env = {
      NATS_URL: '',
      NIGHTSHIFT_DATA_DIR: dataDir,
      NIGHTSHIFT_WORKSPACES_DIR: join(dataDir, 'ws'),
      NIGHTSHIFT_LOG_LEVEL: 'info',
      OPENAI_BASE_URL: model.url,
      OPENAI_API_KEY: 'demo',
      NIGHTSHIFT_MODEL: 'nightshift-demo',
      NIGHTSHIFT_WEB_PORT: '0',
    };
    await using stack = spawnCli(['up', '--json', '--port', String(port)], env);
    let upEvent: UpEvent | undefined;
    onTestFinished(() => {
      // A failed test must not leave the stack's processes behind (only this stack's: they name its data dir).
      for (const pid of [...(upEvent?.servers ?? []), ...(upEvent?.processes ?? [])].map((p) => p.pid)) {
        try {
          const mine = readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dataDir) || readFileSync(`/proc/${pid}/environ`, 'utf8').includes(dataDir);
          if (mine) process.kill(pid, 'SIGKILL');
        } catch {
          // gone already
        }
      }
    });
    const line = await waitFor(
      'the up event',
      () => {
        if (stack.proc.exitCode !== null) throw new Error(`up exited ${stack.proc.exitCode}: ${stack.stderr().slice(-3000)}`);
        return stack.stdout().split('\n').find((l) => l.includes('"event":"up"'));
      },
      { timeoutMs: 180_000 },
    );
    upEvent = JSON.parse(line) as UpEvent;
    const names = upEvent.processes.map((p) => p.name).sort();
    expect(names).toEqual(['coder-1', 'coordinator-1', 'refiner-1', 'reviewer-1', 'test-author-1', 'triager-1', 'web-1']);
    // Each child's own health server, on an ephemeral loopback port, with its /metrics.
    for (const p of upEvent.processes) expect(p.metrics, p.name).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    expect(new Set(upEvent.processes.map((p) => p.metrics)).size).toBe(upEvent.processes.length);

    const repo = await createDemoRepo(join(dataDir, 'repo'));
    const ticketFile = join(dataDir, 'ticket.json');
    writeFileSync(ticketFile, JSON.stringify({ ...demoTicket(), externalId: 'DEMO-METRICS', repo: { path: repo } }));
    const nats = `nats://127.0.0.1:${port}`;
    const cli = { NIGHTSHIFT_DATA_DIR: dataDir };
    const created = await runCli(['ticket', 'create', '--nats', nats, '--file', ticketFile], cli);
    expect(created.code, created.stderr).toBe(0);
    const id = created.stdout.trim();

    // While it runs, the coordinator already counts it, and every figure is served.
    const scrape = async (name: string): Promise<Sample[]> => {
      const url = upEvent!.processes.find((p) => p.name === name)!.metrics!;
      const r = await fetch(url);
      expect(r.status, url).toBe(200);
      expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      return parseExposition(await r.text());
    };
    await waitFor('the coordinator to count the ticket', async () => total(await scrape('coordinator-1'), 'nightshift_tickets') === 1, { timeoutMs: 60_000 });

    const waited = await runCli(['ticket', 'wait', id, '--nats', nats, '--state', 'pr_open', '--timeout', '240s'], cli, { timeoutMs: 270_000 });
    expect(waited.code, `${waited.stdout}\n${waited.stderr}`).toBe(0);

    // The coordinator: tickets by state (every state shown), escalations, and pending work per role.
    const coordinator = await waitFor(
      'the coordinator to see the ticket at pr_open',
      async () => {
        const s = await scrape('coordinator-1');
        return total(s, 'nightshift_tickets', { state: 'pr_open' }) === 1 ? s : undefined;
      },
      { timeoutMs: 60_000 },
    );
    expect(total(coordinator, 'nightshift_tickets')).toBe(1);
    expect(coordinator.filter((s) => s.name === 'nightshift_tickets').map((s) => s.labels.state)).toContain('received');
    expect(total(coordinator, 'nightshift_escalations_waiting')).toBe(0);
    expect(total(coordinator, 'nightshift_escalation_oldest_age_seconds')).toBe(0);
    const pending = coordinator.filter((s) => s.name === 'nightshift_work_pending');
    expect(pending.map((s) => s.labels.role).sort()).toEqual(['coder', 'refiner', 'reviewer', 'test-author', 'triager']);
    for (const s of pending) expect(s.value).toBe(0);
    expect(coordinator.some((s) => s.name.startsWith('nightshift_stage_'))).toBe(false);

    for (const p of upEvent.processes) {
      const samples = await scrape(p.name);
      const kind = p.name.replace(/-\d+$/, '');
      // Every sample names its process; the standard process metrics are there.
      for (const s of samples) expect(s.labels.process_kind, `${p.name}: ${s.name}`).toBe(kind);
      expect(total(samples, 'process_cpu_seconds_total'), p.name).toBeGreaterThan(0);
      expect(samples.some((s) => s.name === 'nodejs_eventloop_lag_seconds'), p.name).toBe(true);
      const stage = STAGE_OF[p.name];
      if (!stage) continue;
      // Each agent of the chain: its stage started and completed once, and its model tokens per kind.
      const role = kind;
      expect(total(samples, 'nightshift_work_started_total', { stage }), p.name).toBeGreaterThanOrEqual(1);
      expect(total(samples, 'nightshift_stage_duration_seconds_count', { stage, outcome: 'completed' }), p.name).toBe(1);
      expect(total(samples, 'nightshift_stage_duration_seconds_sum', { stage, outcome: 'completed' }), p.name).toBeGreaterThan(0);
      expect(samples.some((s) => s.name === 'nightshift_work_redeliveries_total' && s.value > 0), p.name).toBe(false);
      expect(total(samples, 'nightshift_model_tokens_total', { role, kind: 'input' }), p.name).toBeGreaterThan(0);
      expect(total(samples, 'nightshift_model_tokens_total', { role, kind: 'output' }), p.name).toBeGreaterThan(0);
      expect(total(samples, 'nightshift_model_call_duration_seconds_count', { role, outcome: 'ok' }), p.name).toBeGreaterThan(0);
      // Who runs code in the sandbox: the test author (its red run), the coder (its green run), the reviewer.
      const runs = samples.filter((s) => s.name === 'nightshift_sandbox_run_duration_seconds_count' && s.value > 0);
      if (role === 'refiner') expect(runs, p.name).toEqual([]);
      else {
        expect(runs.length, p.name).toBeGreaterThan(0);
        for (const r of runs) {
          expect(['ok', 'nonzero', 'timeout', 'oom', 'output_limit', 'cancelled', 'error'], p.name).toContain(r.labels.outcome);
          expect(['none', 'bridge'], p.name).toContain(r.labels.network);
        }
      }
      if (role === 'test-author') expect(total(samples, 'nightshift_sandbox_run_duration_seconds_count', { outcome: 'nonzero', network: 'none' }), 'red run').toBeGreaterThan(0);
      if (role === 'coder') expect(total(samples, 'nightshift_sandbox_run_duration_seconds_count', { outcome: 'ok', network: 'none' }), 'green run').toBeGreaterThan(0);
    }

    stack.proc.kill('SIGINT');
    expect(await stack.exited).toBe(0);
    // The text output names each process's metrics too (checked on the JSON event above); up says stopped.
    expect(stack.stdout()).toContain('"event":"stopped"');
  }, scaled(420_000));
});
