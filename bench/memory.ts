/**
 * Each process's memory once the demo has run: `nightshift up --demo` (embedded nats-server, the
 * coordinator and one process per role, the scripted model, the Docker sandbox) takes the demo ticket
 * to its pull request; the moment the ticket reaches `pr_open` every child's resident set (VmRSS in
 * /proc/<pid>/status) is read, and printed against a bare Node process that connects to the same
 * server and idles (bench/idle-client.ts), measured at the same moment. Agents are held to an
 * absolute limit of 150 MB (`limit`); the ratio says how far above a bare process each one is. Each
 * line also gives the process's peak RSS (VmHWM), the CPU it used (cpuMs) and how long after launch it was ready (its
 * `agent started` / `coordinator started` log line). Linux only (/proc); needs nats-server and Docker.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { DockerSandbox } from '../sandbox/index.ts';
import { freePort, ROLES } from '../shared/index.ts';
import { print, skipped, type BenchModule, type BenchOptions } from './lib.ts';

const CLI = fileURLToPath(new URL('../bin/nightshift.ts', import.meta.url));
const IDLE = fileURLToPath(new URL('./idle-client.ts', import.meta.url));
const AGENT_LIMIT_MB = 150;
const DEMO_DEADLINE_MS = 10 * 60_000;

interface Proc {
  name: string;
  pid: number;
}

const TICKS_PER_S = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** VmRSS and VmHWM of a process, in MB, and the CPU it used so far (user + system), or null once it is gone. */
function rssOf(pid: number): { rss: number; peak: number; cpuMs: number } | null {
  let status: string;
  let stat: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024, cpuMs: Math.round((ticks * 1000) / TICKS_PER_S) };
}

/** Calls `onLine` with each line `proc` writes to `stream`. */
function lines(proc: ChildProcess, stream: 'stdout' | 'stderr', onLine: (line: string) => void): void {
  createInterface({ input: proc[stream]! }).on('line', onLine);
}

function stopped(proc: ChildProcess): Promise<void> {
  return proc.exitCode !== null || proc.signalCode !== null ? Promise.resolve() : new Promise((resolve) => proc.once('exit', () => resolve()));
}

async function run(opts: BenchOptions): Promise<void> {
  const bench = 'RSS after the demo';
  if (process.platform !== 'linux') return skipped(opts, bench, 'reads /proc: Linux only');
  if (spawnSync('nats-server', ['--version']).error) return skipped(opts, bench, 'nats-server not found on PATH');
  const engine = await new DockerSandbox().available();
  if (!engine.ok) return skipped(opts, bench, engine.reason);

  const dataDir = mkdtempSync(join(tmpdir(), 'nightshift-bench-memory-'));
  const port = await freePort();
  const up = spawn(process.execPath, [CLI, 'up', '--demo', '--json', '--port', String(port)], {
    // The web console (started by up) on an ephemeral port, so that a stack already running here does not keep it out.
    env: { ...process.env, NATS_URL: '', NIGHTSHIFT_DATA_DIR: dataDir, NIGHTSHIFT_WORKSPACES_DIR: join(dataDir, 'ws'), NIGHTSHIFT_LOG_LEVEL: 'info', NIGHTSHIFT_WEB_PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let idle: ChildProcess | undefined;
  const deadline = setTimeout(() => up.kill('SIGTERM'), DEMO_DEADLINE_MS);
  try {
    let launchedAt = 0;
    let procs: Proc[] = [];
    /** When each process (by pid) logged that it was ready, in ms since the epoch. */
    const readyAt = new Map<number, number>();
    let idleReadyMs: number | undefined;
    let sample: Map<string, ReturnType<typeof rssOf>> | undefined;
    const tail: string[] = [];
    const idleErr: string[] = [];
    lines(up, 'stderr', (line) => {
      tail.push(line);
      if (tail.length > 40) tail.shift();
      try {
        const rec = JSON.parse(line) as { pid?: number; msg?: string; time?: string };
        if (rec.pid && (rec.msg === 'agent started' || rec.msg === 'coordinator started') && !readyAt.has(rec.pid)) readyAt.set(rec.pid, Date.parse(rec.time ?? ''));
      } catch {
        // not a log line
      }
    });
    lines(up, 'stdout', (line) => {
      let ev: { event?: string; nats?: string; processes?: Proc[]; entry?: { to?: string } };
      try {
        ev = JSON.parse(line) as typeof ev;
      } catch {
        return;
      }
      // `starting` comes the moment the children are spawned (`up` once they all serve).
      if (ev.event === 'starting' && !idle) {
        launchedAt = Date.now();
        procs = ev.processes ?? [];
        // The embedded server's credentials, written before it started (cli/bus.ts credentialsDir).
        const seed = [join(dataDir, 'auth', 'viewer.nk')];
        idle = spawn(process.execPath, [IDLE, ev.nats ?? '', ...seed], { stdio: ['ignore', 'pipe', 'pipe'] });
        lines(idle, 'stdout', (l) => {
          if (l === 'ready' && idleReadyMs === undefined) idleReadyMs = Date.now() - launchedAt;
        });
        lines(idle, 'stderr', (l) => idleErr.push(l));
        idle.once('exit', (code, sig) => idleErr.push(`(the baseline process exited ${code ?? sig})`));
      }
      // Sampled the moment the ticket reaches its pull request: the stack stops right after.
      if (ev.event === 'timeline' && (ev.entry?.to === 'pr_open' || ev.entry?.to === 'done') && !sample) {
        sample = new Map([...procs.map((p) => [p.name, rssOf(p.pid)] as const), ['baseline', idle?.pid ? rssOf(idle.pid) : null]]);
      }
    });
    const code = await new Promise<number | null>((resolve) => up.once('exit', (c) => resolve(c)));
    if (code !== 0 || !sample) {
      throw new Error(`nightshift up --demo ended ${code}${sample ? '' : ' before the ticket reached its pull request'}:\n${tail.join('\n')}`);
    }
    const baseline = sample.get('baseline');
    if (!baseline || idleReadyMs === undefined) {
      throw new Error(`the baseline process was not up when the ticket reached its pull request:\n${idleErr.slice(-20).join('\n')}`);
    }
    for (const p of procs) {
      const m = sample.get(p.name);
      if (!m) throw new Error(`${p.name} (pid ${p.pid}) was gone when the demo finished: it crashed and was restarted`);
      const ready = readyAt.get(p.pid);
      const agent = ROLES.some((r) => p.name.startsWith(`${r}-`));
      print(opts, {
        bench: `${bench}: ${p.name}`,
        value: round(m.rss),
        baseline: round(baseline.rss),
        unit: 'MB',
        ratio: round(m.rss) / round(baseline.rss),
        ...(agent && { limit: `<= ${AGENT_LIMIT_MB}` }),
        peakMB: round(m.peak),
        cpuMs: m.cpuMs,
        ...(ready !== undefined && { readyMs: Math.max(0, ready - launchedAt) }),
        baselineReadyMs: idleReadyMs,
      });
    }
  } finally {
    clearTimeout(deadline);
    if (up.exitCode === null && up.signalCode === null) {
      up.kill('SIGTERM');
      await stopped(up);
    }
    if (idle) {
      idle.kill('SIGTERM');
      await stopped(idle);
    }
    try {
      rmSync(dataDir, { recursive: true, force: true });
    } catch {
      // a sandbox may leave files the host user cannot remove; the directory is under the temp dir
    }
  }
}

function round(mb: number): number {
  return Math.round(mb * 10) / 10;
}

/** The `memory` group of `npm run bench`. */
export const memory: BenchModule = {
  name: 'memory',
  what: 'RSS of the coordinator and each agent after the demo, against a bare Node process on the same NATS',
  run,
};
