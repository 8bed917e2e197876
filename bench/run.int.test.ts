import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { IN_CI, itIfDocker, probeDocker } from '../test/helpers/docker.ts';

const run = promisify(execFile);
const script = fileURLToPath(new URL('./run.ts', import.meta.url));

interface Line {
  bench: string;
  value?: number;
  baseline?: number;
  ratio?: number;
  skipped?: string;
}

async function bench(...args: string[]): Promise<Line[]> {
  const { stdout } = await run(process.execPath, ['--expose-gc', script, '--quick', '--json', ...args], { timeout: 600_000 });
  return stdout.trim().split('\n').map((l) => JSON.parse(l) as Line);
}

function expectRatios(lines: Line[]): void {
  for (const l of lines) {
    expect(l.skipped, l.bench).toBeUndefined();
    expect(l.value, l.bench).toBeGreaterThan(0);
    expect(l.baseline, l.bench).toBeGreaterThan(0);
    expect(l.ratio, l.bench).toBeGreaterThan(0);
  }
}

it('the pure benchmarks run and print a ratio against their baseline for every case', async () => {
  const lines = await bench('--only', 'pure');
  expect(lines.map((l) => l.bench)).toEqual(['triage rank, 100 open tickets', 'triage rank, 1000 open tickets', 'reducer: apply a stage result']);
  expectRatios(lines);
  for (const l of lines) expect(l.ratio).toBeCloseTo(l.value! / l.baseline!, 6);
});

it('the orchestration benchmarks run on a real nats-server and print a ratio against their baseline for every case', { timeout: 600_000 }, async () => {
  const lines = await bench('--only', 'orchestration');
  expect(lines.map((l) => l.bench)).toEqual([
    'hand-off through the coordinator (median)',
    'hand-off through the coordinator (p95)',
    'no-op throughput, 1 replica per role',
    'no-op throughput, 2 replicas per role',
    'no-op throughput, 4 replicas per role',
    'no-op throughput, 8 replicas per role',
    'no-op throughput speed-up, 1 -> 2 replicas',
    'scaling with a simulated stage, 8 replicas',
  ]);
  expectRatios(lines);
  for (const l of lines) expect(l.ratio).toBeCloseTo(l.value! / l.baseline!, 6);
});

it('the web benchmark renders the board against reading its tickets from KV, on a real nats-server', async () => {
  const lines = await bench('--only', 'web');
  expect(lines.map((l) => l.bench)).toEqual(['web board render, 1000 tickets', 'web board render with a text filter, 1000 tickets']);
  expectRatios(lines);
  for (const l of lines) expect(l.ratio).toBeCloseTo(l.value! / l.baseline!, 6);
});

it('the tokens benchmarks run and print a ratio against their baseline for every case', { timeout: 900_000 }, async () => {
  const lines = await bench('--only', 'tokens');
  expect(lines.map((l) => l.bench)).toEqual([
    'prompt tokens, refiner listing+searching, +1000 files',
    'prompt tokens, demo ticket whole chain, +1000 files',
    'workspace open, warm mirror vs git clone, +1000',
    'workspace open, warm mirror vs full clone, +1000',
    'workspace open, cold mirror vs git clone, +1000',
    'workspace open, warm mirror, +1000 vs demo repo',
  ]);
  // Only the whole chain needs Docker (its roles run code); without it, that line says why.
  const [chain] = lines.splice(1, 1);
  if (chain!.skipped === undefined) lines.push(chain!);
  else {
    expect(IN_CI, 'under CI the whole chain runs: Docker is there').toBe(false);
    expect(chain!.skipped).toMatch(/Docker|image/);
  }
  expectRatios(lines);
  for (const l of lines) expect(l.ratio).toBeCloseTo(l.value! / l.baseline!, 6);
});

it('the sandbox benchmarks print the cold and warm commands against docker run and docker exec, with numeric fields', async () => {
  const lines = await bench('--only', 'sandbox');
  expect(lines.map((l) => l.bench)).toEqual([
    'sandbox: cold command, DockerSandbox.run vs docker run',
    'sandbox: warm command, session().run vs docker exec',
    'sandbox: warm command vs cold command',
  ]);
  const docker = await probeDocker();
  if (!docker.ok) {
    expect(IN_CI, 'under CI the sandbox benchmarks run: Docker is there').toBe(false);
    // Without an engine each line says why, and nothing else.
    for (const l of lines) expect(l.skipped, l.bench).toEqual(expect.any(String));
    return;
  }
  expectRatios(lines);
  for (const l of lines) {
    expect(l.ratio).toBeCloseTo(l.value! / l.baseline!, 6);
    expect((l as unknown as { p95: unknown }).p95, l.bench).toEqual(expect.any(Number));
  }
  expect(lines.slice(0, 2).map((l) => (l as unknown as { goal: unknown }).goal)).toEqual(['<= 1.1', '<= 1.3']);
});

it('an unknown group is refused with the list of groups', async () => {
  await expect(run(process.execPath, [script, '--only', 'nope'])).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('groups: pure') });
});

itIfDocker('the memory benchmark prints one line per process of the demo stack, each with numeric figures', async () => {
  const lines = (await bench('--only', 'memory')) as (Line & { unit?: string; peakMB?: number; limit?: string })[];
  const names = lines.map((l) => l.bench.replace('RSS after the demo: ', ''));
  // The stack of `up --demo`: a coordinator, one process per role, and the web console.
  expect(names.sort()).toEqual(['coder-1', 'coordinator-1', 'refiner-1', 'reviewer-1', 'test-author-1', 'triager-1', 'web-1']);
  expectRatios(lines);
  for (const l of lines) {
    expect(l.unit).toBe('MB');
    expect(l.peakMB, l.bench).toBeGreaterThanOrEqual(l.value!);
    expect(l.ratio).toBeCloseTo(l.value! / l.baseline!, 6);
    // Agents carry the absolute limit; the coordinator and the web console none.
    expect(l.limit, l.bench).toBe(/coordinator|web/.test(l.bench) ? undefined : '<= 150');
  }
}, 600_000);
