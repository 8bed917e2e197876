import { copyFileSync, mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RepoProfile } from '../../sandbox/index.ts';
import { ProcessSandbox } from '../../test/fakes/sandbox.ts';
import { runSuite } from './suite.ts';

let ws: string;
beforeEach(() => {
  ws = mkdtempSync(join(realpathSync(tmpdir()), 'nightshift-suite-'));
});
afterEach(() => {
  rmSync(ws, { recursive: true, force: true });
});

describe('runSuite in a Go repository', () => {
  it("reads go test's events from stdout and keeps go's human output as evidence", async () => {
    // A stand-in for go, later on PATH than the shim: `go test -json` prints the captured events and fails as go did.
    const bin = join(ws, 'fakebin');
    mkdirSync(bin);
    copyFileSync(join(import.meta.dirname, '../../test/fixtures/reports/go.jsonl'), join(bin, 'events.jsonl'));
    writeFileSync(join(bin, 'go'), `#!/bin/sh\n[ "$1 $2" = "test -json" ] || { echo "not -json: $*" >&2; exit 99; }\ncat '${bin}/events.jsonl'\necho 'broken/broken.go:3:28: undefined: undefinedThing' >&2\nexit 1\n`, { mode: 0o755 });
    writeFileSync(join(ws, 'go.mod'), 'module example.com/calc\n\ngo 1.19\n');
    const profile = {
      image: 'any',
      test: 'echo lint ok && go test ./...',
      env: { PATH: `${bin}:/usr/bin:/bin` },
      timeouts: { setupMs: 60_000, testMs: 60_000 },
    } as unknown as RepoProfile;
    const { run, report } = await runSuite(new ProcessSandbox(), ws, profile, () => new Date('2026-01-01T00:00:00Z'));
    expect(run).toMatchObject({ passed: false, exitCode: 1, command: 'echo lint ok && go test ./...' });
    expect(report?.runners).toEqual(['go']);
    expect(run.tests).toMatchObject({ runners: ['go'], totals: { total: 9, passed: 5, failed: 3, skipped: 1 } });
    expect(report?.errors).toEqual([{ file: 'broken', message: expect.stringContaining('did not build') }]);
    expect(run.output).toContain('lint ok\n');
    expect(run.output).toContain('--- FAIL: TestAddWrong (0.00s)');
    expect(run.output).not.toContain('"Action"');
  });
});
