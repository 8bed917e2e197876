import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRepoTools, type RepoTools } from './tools.ts';

let root: string;
let tools: RepoTools;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ns-tools-'));
  await mkdir(join(root, 'src/nested'), { recursive: true });
  await mkdir(join(root, '.git'));
  await mkdir(join(root, 'node_modules/dep'), { recursive: true });
  await writeFile(join(root, 'README.md'), '# demo\n\nA small repository.\n');
  await writeFile(join(root, 'src/a.ts'), 'export const a = 1; // TODO: rename\n');
  await writeFile(join(root, 'src/nested/b.py'), 'def b():\n    return 2  # TODO later\n');
  await writeFile(join(root, 'src/long.txt'), Array.from({ length: 100 }, (_, i) => `line ${i + 1} ${'x'.repeat(40)}`).join('\n'));
  await writeFile(join(root, 'src/empty.txt'), '');
  await writeFile(join(root, 'blob.bin'), Buffer.from([1, 2, 0, 3]));
  await writeFile(join(root, '.git/config'), '[remote] url = secret TODO\n');
  await writeFile(join(root, 'node_modules/dep/index.js'), '// TODO in a dependency\n');
  await symlink('/etc', join(root, 'etc-link'));
  await symlink('/etc/passwd', join(root, 'passwd-link'));
  await symlink('/nonexistent/place', join(root, 'dangling'));
  await symlink('src/a.ts', join(root, 'a-link.ts'));
  tools = await createRepoTools({ root, maxOutputChars: 1_000 });
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('list_files', () => {
  it('lists a directory, sorted, with .git hidden', async () => {
    expect(await tools.run('list_files', {})).toEqual({
      status: 'ok',
      content: ['README.md', 'a-link.ts@', 'blob.bin', 'dangling@', 'etc-link@', 'node_modules/', 'passwd-link@', 'src/'].join('\n'),
    });
  });

  it('lists below a directory, skipping dependencies', async () => {
    expect((await tools.run('list_files', { dir: 'src', recursive: true })).content).toBe(
      ['src/a.ts', 'src/empty.txt', 'src/long.txt', 'src/nested/', 'src/nested/b.py'].join('\n'),
    );
    expect((await tools.run('list_files', { dir: '.', recursive: true })).content).not.toContain('node_modules/dep');
  });
});

describe('read_file', () => {
  it('reads a whole file, or a range of lines', async () => {
    expect(await tools.run('read_file', { path: 'README.md' })).toEqual({ status: 'ok', content: '# demo\n\nA small repository.' });
    expect((await tools.run('read_file', { path: 'src/long.txt', startLine: 3, endLine: 4 })).content).toBe(
      `line 3 ${'x'.repeat(40)}\nline 4 ${'x'.repeat(40)}\n[lines 3-4 of 100; read on with startLine 5]`,
    );
    expect((await tools.run('read_file', { path: 'a-link.ts' })).content).toBe('export const a = 1; // TODO: rename');
    expect((await tools.run('read_file', { path: 'src/empty.txt' })).content).toBe('"src/empty.txt" is empty');
  });

  it('caps what it returns and says where to read on', async () => {
    const out = await tools.run('read_file', { path: 'src/long.txt' });
    expect(out.content.length).toBeLessThan(1_100);
    expect(out.content).toMatch(/\n\[lines 1-\d+ of 100; read on with startLine \d+\]$/);
  });

  it('explains what it cannot read', async () => {
    expect(await tools.run('read_file', { path: 'src' })).toEqual({ status: 'error', content: 'error: "src" is a directory; use list_files' });
    expect(await tools.run('read_file', { path: 'blob.bin' })).toEqual({ status: 'error', content: 'error: "blob.bin" is a binary file (4 bytes)' });
    expect(await tools.run('read_file', { path: 'nope.ts' })).toEqual({ status: 'error', content: 'error: "nope.ts" does not exist' });
    expect((await tools.run('read_file', { path: 'README.md', startLine: 9 })).content).toBe('error: "README.md" has 3 lines; startLine 9 is past the end');
  });
});

describe('search', () => {
  it('finds lines in the repository, not in .git or dependencies', async () => {
    expect(await tools.run('search', { pattern: 'TODO' })).toEqual({
      status: 'ok',
      content: 'src/a.ts:1: export const a = 1; // TODO: rename\nsrc/nested/b.py:2:     return 2  # TODO later',
    });
  });

  it('narrows by glob, on names or on paths', async () => {
    expect((await tools.run('search', { pattern: 'TODO', glob: '*.py' })).content).toBe('src/nested/b.py:2:     return 2  # TODO later');
    expect((await tools.run('search', { pattern: 'TODO', glob: 'src/*.ts' })).content).toBe('src/a.ts:1: export const a = 1; // TODO: rename');
    expect((await tools.run('search', { pattern: 'nothing here' })).content).toBe('no matches for /nothing here/');
  });

  it('past the match limit, shows the directories that fit and says how much is left out', async () => {
    const few = await createRepoTools({ root, maxMatches: 1 });
    expect((await few.run('search', { pattern: 'TODO' })).content).toBe(
      [
        'src/a.ts:1: export const a = 1; // TODO: rename',
        '[matches in 1 more directories not shown]',
        '[1 of 2 matches not shown; narrow the pattern or the glob]',
      ].join('\n'),
    );
  });

  it('reports a bad pattern', async () => {
    expect((await tools.run('search', { pattern: '(' })).content).toMatch(/^error: invalid regular expression/);
  });
});

describe('bounds: what a tool answers does not grow with the repository', () => {
  let big: string;
  beforeAll(async () => {
    big = await mkdtemp(join(tmpdir(), 'ns-tools-big-'));
    await mkdir(join(big, 'src/gen'), { recursive: true });
    await mkdir(join(big, 'test'), { recursive: true });
    await writeFile(join(big, 'README.md'), '# big\n');
    await writeFile(join(big, 'src/slugify.js'), 'export function slugify() {}\n');
    await writeFile(join(big, 'test/slugify.test.js'), 'test\n');
    await Promise.all(Array.from({ length: 1_000 }, (_, i) => writeFile(join(big, 'src/gen', `file-${String(i).padStart(4, '0')}.js`), `export const v${i} = ${i}; // generated\n`)));
    await writeFile(join(big, 'one-line.txt'), 'y'.repeat(50_000));
  });
  afterAll(async () => {
    await rm(big, { recursive: true, force: true });
  });

  it('a recursive listing opens what fits and shows a large directory closed, with its size', async () => {
    const t = await createRepoTools({ root: big });
    const out = (await t.run('list_files', { recursive: true })).content;
    expect(out).toBe(
      [
        'README.md',
        'one-line.txt',
        'src/',
        'src/gen/ [1000 entries below, not listed]',
        'src/slugify.js',
        'test/',
        'test/slugify.test.js',
        '[listing kept to 200 entries; list a directory to see inside it]',
      ].join('\n'),
    );
  });

  it('a directory with more entries than the bound lists the first ones and says how many more', async () => {
    const t = await createRepoTools({ root: big, maxEntries: 20 });
    const lines = (await t.run('list_files', { dir: 'src/gen' })).content.split('\n');
    expect(lines).toHaveLength(21);
    expect(lines[0]).toBe('src/gen/file-0000.js');
    expect(lines[20]).toBe('[… 980 more entries in "src/gen"; narrow the path, or search with a glob]');
    // Recursive from the top, even the first level does not fit: it is cut the same way.
    const top = (await t.run('list_files', { dir: 'src', recursive: true })).content.split('\n');
    expect(top).toEqual(['src/gen/ [1000 entries below, not listed]', 'src/slugify.js', '[listing kept to 20 entries; list a directory to see inside it]']);
  });

  it('a search matching every file of a large directory answers it as a count, and the few other matches whole', async () => {
    const t = await createRepoTools({ root: big, maxMatches: 10 });
    expect((await t.run('search', { pattern: 'export' })).content).toBe(
      [
        'src/gen/: 1000 matches in 1000 files, not shown; search there (glob "src/gen/*") to see them',
        'src/slugify.js:1: export function slugify() {}',
        '[1000 of 1001 matches not shown; narrow the pattern or the glob]',
      ].join('\n'),
    );
    // Narrowed to that directory, its first matches are shown: still within the bound.
    const lines = (await t.run('search', { pattern: 'export', glob: 'src/gen/*' })).content.split('\n');
    expect(lines).toHaveLength(11);
    expect(lines[0]).toBe('src/gen/file-0000.js:1: export const v0 = 0; // generated');
    expect(lines[10]).toBe('[990 of 1000 matches not shown; narrow the pattern or the glob]');
  });

  it('no answer is longer than the character bound and its note, even on one long line', async () => {
    const t = await createRepoTools({ root: big, maxOutputChars: 2_000 });
    const answers = await Promise.all([
      t.run('read_file', { path: 'one-line.txt' }),
      t.run('list_files', { dir: 'src/gen' }),
      t.run('list_files', { dir: '.', recursive: true }),
      t.run('search', { pattern: 'export' }),
    ]);
    for (const a of answers) {
      expect(a.status).toBe('ok');
      expect(a.content.length).toBeLessThan(2_000 + 200);
    }
    expect(answers[0]!.content).toMatch(/\n\[… 48000 more characters; narrow the path or the pattern\]$/);
  });
});

describe('paths outside the workspace', () => {
  it.each([
    ['read_file', { path: '../../etc/passwd' }, 'refused: "../../etc/passwd" is outside the workspace'],
    ['read_file', { path: 'src/../../x' }, 'refused: "src/../../x" is outside the workspace'],
    ['read_file', { path: '/etc/passwd' }, 'refused: "/etc/passwd" is an absolute path; give a path relative to the repository root'],
    ['read_file', { path: 'passwd-link' }, 'refused: "passwd-link" is a symbolic link to a place outside the workspace'],
    ['read_file', { path: 'etc-link/passwd' }, 'refused: "etc-link/passwd" is a symbolic link to a place outside the workspace'],
    ['read_file', { path: 'etc-link/no-such-file' }, 'refused: "etc-link/no-such-file" is a symbolic link to a place outside the workspace'],
    ['read_file', { path: 'dangling' }, 'refused: "dangling" is a symbolic link to a place outside the workspace'],
    ['list_files', { dir: 'etc-link' }, 'refused: "etc-link" is a symbolic link to a place outside the workspace'],
    ['list_files', { dir: '..' }, 'refused: ".." is outside the workspace'],
    ['read_file', { path: '.git/config' }, 'refused: ".git/config" is hidden (.git is not readable)'],
    ['list_files', { dir: 'src/../.git' }, 'refused: "src/../.git" is hidden (.git is not readable)'],
  ])('%s %j is refused', async (tool, args, message) => {
    const before = tools.stats().refusals;
    expect(await tools.run(tool, args)).toEqual({ status: 'refused', content: message });
    expect(tools.stats().refusals).toBe(before + 1);
  });
});

describe('tool calls themselves', () => {
  it('answers an unknown tool or bad arguments with an error', async () => {
    expect((await tools.run('write_file', { path: 'x' })).content).toBe('error: there is no tool "write_file"; the tools are list_files, read_file, search');
    expect((await tools.run('read_file', { file: 'x' })).content).toMatch(/^error: invalid arguments for read_file: /);
  });

  it('describe their arguments as JSON Schema', () => {
    expect(tools.definitions.map((d) => d.function.name)).toEqual(['list_files', 'read_file', 'search']);
    expect(tools.definitions[1]!.function.parameters).toMatchObject({
      type: 'object',
      properties: { path: { type: 'string' }, startLine: { type: 'integer' }, endLine: { type: 'integer' } },
      required: ['path'],
    });
  });
});
