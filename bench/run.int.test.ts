import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const run = promisify(execFile);

it('the benchmarks run and print a ratio against their baseline for every case', async () => {
  const script = fileURLToPath(new URL('./run.ts', import.meta.url));
  const { stdout } = await run(process.execPath, ['--expose-gc', script, '--quick', '--json'], { timeout: 120_000 });
  const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as { bench: string; ms: number; baselineMs: number; ratio: number });
  expect(lines.map((l) => l.bench)).toEqual(['triage rank, 100 open tickets', 'triage rank, 1000 open tickets', 'reducer: apply a stage result']);
  for (const l of lines) {
    expect(l.ms).toBeGreaterThan(0);
    expect(l.baselineMs).toBeGreaterThan(0);
    expect(l.ratio).toBeCloseTo(l.ms / l.baselineMs, 6);
  }
});
