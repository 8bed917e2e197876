import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { logSink } from '../../test/helpers/env.ts';
import { SetupCache } from './setup-cache.ts';

const dirs: string[] = [];
const fresh = () => {
  const d = mkdtempSync(join(tmpdir(), 'ns-setup-cache-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

it('keeps what a setup left and copies it back as it was, symbolic links as links', async () => {
  const cache = new SetupCache(join(fresh(), 'cache'), logSink().log);
  const ws = fresh();
  mkdirSync(join(ws, 'node_modules', 'left-pad'), { recursive: true });
  writeFileSync(join(ws, 'node_modules', 'left-pad', 'index.js'), 'module.exports = 1;\n');
  symlinkSync('/etc/passwd', join(ws, 'node_modules', 'outside'));
  writeFileSync(join(ws, '.lock'), 'x');
  await cache.save('k1', ws, ['node_modules/', '.lock']);
  const again = fresh();
  expect(await cache.restore('k1', again)).toBe(true);
  expect(readFileSync(join(again, 'node_modules', 'left-pad', 'index.js'), 'utf8')).toBe('module.exports = 1;\n');
  expect(readlinkSync(join(again, 'node_modules', 'outside'))).toBe('/etc/passwd');
  expect(readFileSync(join(again, '.lock'), 'utf8')).toBe('x');
  expect(await cache.restore('unknown', fresh())).toBe(false);
});

it('refuses a path that leaves the workspace, keeping nothing of it', async () => {
  const root = fresh();
  const cache = new SetupCache(join(root, 'cache'), logSink().log);
  const ws = fresh();
  await expect(cache.save('k', ws, ['../escape'])).rejects.toThrow(/refused setup output path/);
  await expect(cache.save('k', ws, ['/etc'])).rejects.toThrow(/refused setup output path/);
  expect(await cache.restore('k', fresh())).toBe(false);
});

it('keeps at most eight setups, dropping the oldest', async () => {
  const root = fresh();
  const cache = new SetupCache(join(root, 'cache'), logSink().log);
  const ws = fresh();
  writeFileSync(join(ws, 'dep'), 'd');
  for (let i = 0; i < 10; i++) {
    // One after another: each manifest is written later than the one before, and orders the entries.
    await cache.save(`k${i}`, ws, ['dep']);
  }
  const kept = Array.from({ length: 10 }, (_, i) => existsSync(join(root, 'cache', `k${i}`)));
  expect(kept).toEqual([false, false, true, true, true, true, true, true, true, true]);
});
