import { readFileSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import { OutputCapture } from './internal.ts';
import {
  argvOf,
  DEFAULT_NODE_IMAGE,
  GO_IMAGE,
  GO_IMAGE_TAG,
  GO_IMAGE_VERSION,
  IMAGE_RECIPES,
  imageMissingMessage,
  parseRunSpec,
  PYTHON_IMAGE,
  PYTHON_IMAGE_TAG,
  PYTHON_IMAGE_VERSION,
  runFailure,
  SANDBOX_UID,
  SandboxError,
  type RunResult,
} from './index.ts';

const base = { image: DEFAULT_NODE_IMAGE, workspace: '/tmp/ws', command: 'npm test' };

describe('parseRunSpec', () => {
  it('applies safe defaults: no network, bounded time, output and resources', () => {
    expect(parseRunSpec(base)).toEqual({
      ...base,
      cwd: '.',
      env: {},
      network: 'none',
      timeoutMs: 600_000,
      maxOutputBytes: 1024 * 1024,
      limits: { cpus: 1, memoryBytes: 2 * 1024 ** 3, pids: 512, tmpBytes: 512 * 1024 ** 2 },
    });
  });

  it('normalises the cwd and refuses one that leaves the workspace', () => {
    expect(parseRunSpec({ ...base, cwd: 'a/./b/../c/' }).cwd).toBe('a/c');
    expect(parseRunSpec({ ...base, cwd: './' }).cwd).toBe('.');
    for (const cwd of ['..', '../x', 'a/../../x', '/workspace', 'a\\..\\..']) {
      expect(() => parseRunSpec({ ...base, cwd })).toThrow(SandboxError);
    }
  });

  it('refuses a relative workspace, bad env names, unknown fields and silly limits, naming each field', () => {
    try {
      parseRunSpec({
        ...base,
        workspace: 'ws',
        env: { 'BAD-NAME': 'x' },
        network: 'host' as 'none',
        limits: { pids: 1 },
        privileged: true,
      } as never);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(SandboxError);
      expect((err as SandboxError).code).toBe('invalid_spec');
      for (const field of ['workspace', 'env.BAD-NAME', 'network', 'limits.pids', '(root)']) {
        expect((err as Error).message).toContain(field);
      }
    }
  });

  it('runs a string with sh -c and an array as is', () => {
    expect(argvOf({ command: 'npm test' })).toEqual(['sh', '-c', 'npm test']);
    expect(argvOf({ command: ['npm', 'test'] })).toEqual(['npm', 'test']);
  });
});

describe('runFailure', () => {
  const spec = parseRunSpec({ ...base, timeoutMs: 30_000, maxOutputBytes: 1000, limits: { memoryBytes: 256 * 1024 * 1024 } });
  const ok: RunResult = { exitCode: 0, timedOut: false, oomKilled: false, outputLimitExceeded: false, durationMs: 5, stdout: '', stderr: '' };

  it('gives a clear reason for each way a run fails, and null for success', () => {
    expect(runFailure(ok, spec)).toBeNull();
    expect(runFailure({ ...ok, exitCode: 1 }, spec)).toBe('exit code 1');
    expect(runFailure({ ...ok, exitCode: null, timedOut: true }, spec)).toBe('killed: no exit within the 30s timeout');
    expect(runFailure({ ...ok, exitCode: null, outputLimitExceeded: true }, spec)).toBe(
      'killed: wrote more than 1000 bytes of output (runaway output)',
    );
    expect(runFailure({ ...ok, exitCode: 137, oomKilled: true }, spec)).toBe('killed: out of memory (limit 256 MiB), exit code 137');
  });

  it('takes the defaults for what the spec leaves out', () => {
    expect(runFailure({ ...ok, exitCode: null, timedOut: true })).toBe('killed: no exit within the 10m 0s timeout');
    expect(runFailure({ ...ok, exitCode: null, outputLimitExceeded: true }, { timeoutMs: 5 })).toBe(
      'killed: wrote more than 1048576 bytes of output (runaway output)',
    );
    expect(runFailure({ ...ok, exitCode: 137, oomKilled: true }, {})).toBe('killed: out of memory (limit 2048 MiB), exit code 137');
  });
});

describe('OutputCapture', () => {
  it('keeps everything under the budget', () => {
    const onExceeded = vi.fn();
    const c = new OutputCapture(10, onExceeded);
    c.push('stdout', Buffer.from('abc'));
    c.push('stderr', Buffer.from('defghij'));
    expect([c.text('stdout'), c.text('stderr'), c.exceeded]).toEqual(['abc', 'defghij', false]);
    expect(onExceeded).not.toHaveBeenCalled();
  });

  it('cuts the chunk that crosses the shared budget, reports once and drops the rest', () => {
    const onExceeded = vi.fn();
    const c = new OutputCapture(10, onExceeded);
    c.push('stdout', Buffer.from('abcdef'));
    c.push('stderr', Buffer.from('ghijkl'));
    c.push('stdout', Buffer.from('more'));
    expect([c.text('stdout'), c.text('stderr'), c.exceeded]).toEqual(['abcdef', 'ghij', true]);
    expect(onExceeded).toHaveBeenCalledTimes(1);
  });
});

describe('images', () => {
  it('names the recipe in the missing-image message of the images it builds', () => {
    expect(imageMissingMessage(DEFAULT_NODE_IMAGE)).toMatch(/build it with `sandbox\/image\/build.sh`/);
    expect(imageMissingMessage(PYTHON_IMAGE)).toMatch(/build it with `sandbox\/image\/build-python.sh`/);
    expect(imageMissingMessage(GO_IMAGE)).toMatch(/build it with `sandbox\/image\/build-go.sh`/);
    expect(imageMissingMessage('other:1')).toMatch(/ships no recipe .* images are never pulled/);
  });

  it.each([DEFAULT_NODE_IMAGE])('agrees with the recipe of %s on the image name and the sandbox uid', (image) => {
    const script = readFileSync(new URL(`../${IMAGE_RECIPES[image]}`, import.meta.url), 'utf8');
    expect(script).toContain(`\nIMAGE=${image}\n`);
    expect(script).toContain(`\nSANDBOX_UID=${SANDBOX_UID}\n`);
  });

  it('agrees with the Python recipe on the image name, the Python it installs and the sandbox uid', () => {
    const script = readFileSync(new URL(`../${IMAGE_RECIPES[PYTHON_IMAGE]}`, import.meta.url), 'utf8');
    const series = /\nDEBIAN_PYTHON_SERIES=(\S+)\n/.exec(script)?.[1];
    expect(PYTHON_IMAGE).toBe(`nightshift-sandbox-python:${series}`);
    expect(PYTHON_IMAGE_VERSION).toBe(series);
    expect(script).toContain('\n  IMAGE=nightshift-sandbox-python:$DEBIAN_PYTHON_SERIES\n');
    expect(script).toContain('\n  IMAGE=nightshift-sandbox-python:$series\n');
    expect(PYTHON_IMAGE_TAG.exec('nightshift-sandbox-python:3.12')?.[1]).toBe('3.12');
    expect(PYTHON_IMAGE_TAG.exec('nightshift-sandbox-python:3.12.8')).toBeNull();
    expect(script).toContain(`\nSANDBOX_UID=${SANDBOX_UID}\n`);
  });

  it('agrees with the Go recipe on the image name, the Go it installs and the sandbox uid', () => {
    const script = readFileSync(new URL(`../${IMAGE_RECIPES[GO_IMAGE]}`, import.meta.url), 'utf8');
    const series = /\nDEBIAN_GO_SERIES=(\S+)\n/.exec(script)?.[1];
    expect(GO_IMAGE).toBe(`nightshift-sandbox-go:${series}`);
    expect(script).toContain('\n  IMAGE=nightshift-sandbox-go:$DEBIAN_GO_SERIES\n');
    expect(GO_IMAGE_VERSION.startsWith(`${series}.`)).toBe(true);
    expect(GO_IMAGE_TAG.exec('nightshift-sandbox-go:1.23.4')?.[1]).toBe('1.23.4');
    expect(script).toContain('\n  IMAGE=nightshift-sandbox-go:$go_version\n');
    expect(script).toContain(`\nSANDBOX_UID=${SANDBOX_UID}\n`);
  });
});
