import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadCases } from './cases.ts';

const EXAMPLES = join(import.meta.dirname, '../../examples/eval');
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'nightshift-cases-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const base = { version: 1, name: 'x', repo: { files: 'repo' }, ticket: { title: 't', body: 'b' }, heldOut: { files: 'held-out' } };
function write(name: string, value: unknown): string {
  mkdirSync(join(dir, name), { recursive: true });
  writeFileSync(join(dir, name, 'case.json'), JSON.stringify(value));
  return join(dir, name);
}

describe('evaluation cases', () => {
  it("loads the project's cases from their directory, in name order, with defaults", async () => {
    const cases = await loadCases([EXAMPLES]);
    expect(cases.map((c) => c.spec.name)).toEqual(['go-semver-prerelease', 'go-wordfreq-normalize', 'js-duration-compound', 'py-roman-parse', 'py-stats-mode', 'ts-bytes-decimals']);
    for (const c of cases) expect(Object.keys(c.spec.scripts).sort()).toEqual(['cheating', 'honest']);
    expect(cases[0]!.spec).toMatchObject({ timeout: '10m', ticket: { type: 'feature' } });
  });

  it('loads a case by its file or its directory, once', async () => {
    const d = write('one', base);
    expect((await loadCases([d, join(d, 'case.json')])).map((c) => c.dir)).toEqual([d]);
  });

  it('refuses an invalid case, listing the problems', async () => {
    const d = write('bad', { ...base, name: 'Bad Name', repo: { files: '../outside' }, heldOut: {}, extra: 1 });
    const err = await loadCases([d]).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'invalid_case' });
    const paths = (err as { issues: { path: string }[] }).issues.map((i) => i.path);
    expect(paths[0]).toBe('name');
    expect(paths.some((p) => p.startsWith('repo'))).toBe(true);
    expect(paths.some((p) => p.startsWith('heldOut'))).toBe(true);
    expect(paths).toContain('(root)');
  });

  it('refuses two cases with one name, a directory without cases, and a path that does not exist', async () => {
    write('a', base);
    write('b', base);
    await expect(loadCases([dir])).rejects.toMatchObject({ code: 'invalid_case', message: expect.stringContaining('unique: x') });
    mkdirSync(join(dir, 'empty'));
    await expect(loadCases([join(dir, 'empty')])).rejects.toMatchObject({ code: 'no_cases' });
    await expect(loadCases([join(dir, 'nope')])).rejects.toMatchObject({ code: 'no_cases' });
  });

  it('refuses a case file that is not JSON', async () => {
    cpSync(join(EXAMPLES, 'js-duration-compound'), join(dir, 'c'), { recursive: true });
    writeFileSync(join(dir, 'c', 'case.json'), '{ nope');
    await expect(loadCases([join(dir, 'c')])).rejects.toMatchObject({ code: 'invalid_case', message: expect.stringContaining('is not JSON') });
  });
});
