import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ProcessSandbox } from '../../test/fakes/sandbox.ts';
import { prepareResults } from './collect.ts';

let ws: string;
beforeEach(() => {
  ws = mkdtempSync(join(realpathSync(tmpdir()), 'nightshift-results-'));
});
afterEach(() => {
  rmSync(ws, { recursive: true, force: true });
});

const resultsDir = () => join(ws, '.nightshift', readdirSync(join(ws, '.nightshift')).find((d) => d.startsWith('results-'))!);

describe('per-test results of a run', () => {
  it('adds the preload and the reporters through the environment, keeping what the profile set', async () => {
    await using results = await prepareResults(ws, '/workspace', { NODE_OPTIONS: '--max-old-space-size=512', PYTEST_ADDOPTS: '-q' }, 'npm test');
    const inside = `/workspace/.nightshift/${readdirSync(join(ws, '.nightshift'))[0]}`;
    expect(results.env.NIGHTSHIFT_RESULTS_DIR).toBe(inside);
    expect(results.env.NODE_OPTIONS).toBe(
      `--max-old-space-size=512 --require=${inside}/preload.cjs --test-reporter=spec --test-reporter-destination=stdout --test-reporter=junit --test-reporter-destination=${inside}/node-test.xml`,
    );
    expect(results.env.PYTEST_ADDOPTS).toBe(`-q --junitxml=${inside}/pytest.xml -o junit_family=xunit1`);
    expect(readFileSync(join(ws, inside.slice('/workspace/'.length), 'preload.cjs'), 'utf8')).toContain('NIGHTSHIFT_RESULTS_DIR');
  });

  it("leaves node's test reporters to a repository that picks its own", async () => {
    await using results = await prepareResults(ws, '/workspace', {}, 'node --test --test-reporter=tap');
    expect(results.env.NODE_OPTIONS).not.toContain('--test-reporter');
    expect(results.env.NODE_OPTIONS).toContain('--require=');
  });

  it("reads a real node:test run's junit report, and reports nothing when no runner wrote one", async () => {
    mkdirSync(join(ws, 'test'));
    writeFileSync(join(ws, 'test', 'a.test.mjs'), "import { test } from 'node:test';\ntest('works', () => {});\ntest('breaks', () => { throw new Error('no'); });\n");
    const sandbox = new ProcessSandbox();
    {
      await using results = await prepareResults(ws, sandbox.mountPoint(ws), {}, 'node --test');
      const run = await sandbox.run({ image: 'any', workspace: ws, command: 'node --test', env: results.env, timeoutMs: 60_000 });
      expect(run.exitCode).toBe(1);
      expect(run.stdout).toContain('✖ breaks');
      expect(await results.read()).toEqual({
        runners: ['node:test'],
        tests: [
          { file: 'test/a.test.mjs', name: 'works', status: 'passed' },
          { file: 'test/a.test.mjs', name: 'breaks', status: 'failed', message: expect.stringContaining('no') },
        ],
        errors: [],
      });
    }
    {
      await using results = await prepareResults(ws, sandbox.mountPoint(ws), {}, 'node -e 1');
      await sandbox.run({ image: 'any', workspace: ws, command: 'node -e 1', env: results.env, timeoutMs: 60_000 });
      expect(await results.read()).toBeNull();
    }
    expect(readdirSync(join(ws, '.nightshift'))).toEqual([]);
  });

  it('puts a read-only go first on PATH that adds -json to `go test` only', async () => {
    // A stand-in for the real go, later on PATH: it prints the arguments it was given.
    const fake = join(ws, 'fakebin');
    mkdirSync(fake);
    writeFileSync(join(fake, 'go'), '#!/bin/sh\necho "go $*"\n', { mode: 0o755 });
    const sandbox = new ProcessSandbox();
    await using results = await prepareResults(ws, sandbox.mountPoint(ws), {}, 'go test ./...');
    const test = "go test ./... && go vet ./... && go list -m && sh -c 'go test -run X ./a' && go version";
    const command = results.command(test);
    expect(command.endsWith(`\n${test}`)).toBe(true);
    // Other repositories' test commands run as they are.
    await using other = await prepareResults(ws, sandbox.mountPoint(ws), {}, 'npm test\nvitest run --no-go');
    expect(other.command('npm test')).toBe('npm test');
    expect([results.maxOutputBytes, other.maxOutputBytes]).toEqual([16 * 1024 * 1024, undefined]);
    expect([results.go, other.go]).toEqual([true, false]);
    const run = await sandbox.run({ image: 'any', workspace: ws, command, env: { ...results.env, PATH: `${fake}:/usr/bin:/bin` }, timeoutMs: 60_000 });
    expect(run.stdout.split('\n')).toEqual(['go test -json ./...', 'go vet ./...', 'go list -m', 'go test -json -run X ./a', 'go version', '']);
    const bin = join(resultsDir(), 'bin');
    expect(lstatSync(bin).mode & 0o777).toBe(0o555);
    expect(lstatSync(join(bin, 'go')).mode & 0o777).toBe(0o555);
  });

  it('never reads a report through a link, nor one too large, and refuses a replaced results directory', async () => {
    const secret = join(ws, 'host-secret.xml');
    writeFileSync(secret, '<testsuites><testcase name="leaked" classname="x"/></testsuites>');
    {
      await using results = await prepareResults(ws, '/workspace', {}, 'npm test');
      symlinkSync(secret, join(resultsDir(), 'node-test.xml'));
      expect(await results.read()).toBeNull();
    }
    {
      await using results = await prepareResults(ws, '/workspace', {}, 'npm test');
      const dir = resultsDir();
      rmSync(dir, { recursive: true });
      mkdirSync(join(ws, 'elsewhere'));
      writeFileSync(join(ws, 'elsewhere', 'node-test.xml'), '<testsuites><testcase name="planted" classname="x"/></testsuites>');
      symlinkSync(join(ws, 'elsewhere'), dir);
      await expect(results.read()).rejects.toThrow('the results directory was replaced');
    }
    {
      await using results = await prepareResults(ws, '/workspace', {}, 'npm test');
      writeFileSync(join(resultsDir(), 'node-test.xml'), Buffer.alloc(33 * 1024 * 1024, 32));
      expect(await results.read()).toBeNull();
    }
  });

  it('reports a report it cannot parse as an error, not as tests', async () => {
    await using results = await prepareResults(ws, '/workspace', {}, 'npm test');
    writeFileSync(join(resultsDir(), 'jest-12.json'), '{ not json');
    expect(await results.read()).toEqual({ runners: [], tests: [], errors: [{ file: null, message: expect.stringMatching(/^the report jest-12\.json could not be read/) }] });
  });

  it('refuses a scratch directory the repository made a link', async () => {
    const elsewhere = mkdtempSync(join(tmpdir(), 'nightshift-elsewhere-'));
    try {
      symlinkSync(elsewhere, join(ws, '.nightshift'));
      await expect(prepareResults(ws, '/workspace', {}, 'npm test')).rejects.toThrow('not a directory');
      expect(readdirSync(elsewhere)).toEqual([]);
    } finally {
      rmSync(elsewhere, { recursive: true, force: true });
    }
    expect(lstatSync(join(ws, '.nightshift')).isSymbolicLink()).toBe(true);
  });
});
