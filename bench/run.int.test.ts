import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { probeDocker } from '../test/helpers/docker.ts';

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

it('the sandbox benchmarks print the cold and warm commands against docker run and docker exec, with numeric fields', async () => {
  const lines = await bench('--only', 'sandbox');
  expect(lines.map((l) => l.bench)).toEqual([
    'sandbox: cold command, DockerSandbox.run vs docker run',
    'sandbox: warm command, session().run vs docker exec',
    'sandbox: warm command vs cold command',
  ]);
  const docker = await probeDocker();
  if (!docker.ok) {
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
