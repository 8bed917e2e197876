import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeRepo } from '../../test/helpers/git.ts';
import { git } from './git.ts';
import { repositoryProblem } from './repo.ts';
import { scaled } from '../../test/helpers/wait.ts';

const made: string[] = [];
afterEach(() => {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'ns-repo-'));
  made.push(d);
  return d;
};

describe('repositoryProblem on a local path, by its layout alone', { timeout: scaled(60_000) }, () => {
  it('accepts a work tree, a bare repository and a linked worktree (made by real git)', async () => {
    const origin = makeRepo();
    made.push(origin);
    expect(await repositoryProblem({ path: origin })).toBeNull();
    const bare = join(tmp(), 'bare.git');
    await git('/', ['clone', '--bare', '--quiet', origin, bare]);
    expect(await repositoryProblem({ path: bare })).toBeNull();
    const linked = join(tmp(), 'linked');
    await git(origin, ['worktree', 'add', '--quiet', '-b', 'side', linked]);
    expect(await repositoryProblem({ path: linked })).toBeNull();
  });

  it('refuses a relative path, a missing path, a file, a plain directory and a half bare repository', async () => {
    expect(await repositoryProblem({ path: 'some/repo' })).toBe('repo.path must be an absolute path, got "some/repo"');
    const d = tmp();
    const notGit = (p: string) => `repo.path "${p}" is not a git repository`;
    expect(await repositoryProblem({ path: join(d, 'missing') })).toBe(notGit(join(d, 'missing')));
    writeFileSync(join(d, 'file'), 'x');
    expect(await repositoryProblem({ path: join(d, 'file') })).toBe(notGit(join(d, 'file')));
    mkdirSync(join(d, 'plain'));
    expect(await repositoryProblem({ path: join(d, 'plain') })).toBe(notGit(join(d, 'plain')));
    // HEAD and refs/ but objects/ is a file: not a bare repository.
    const half = join(d, 'half');
    mkdirSync(join(half, 'refs'), { recursive: true });
    writeFileSync(join(half, 'HEAD'), 'ref: refs/heads/main\n');
    writeFileSync(join(half, 'objects'), '');
    expect(await repositoryProblem({ path: half })).toBe(notGit(half));
    // A dangling .git symbolic link is nothing.
    const dangling = join(d, 'dangling');
    mkdirSync(dangling);
    symlinkSync(join(d, 'nowhere'), join(dangling, '.git'));
    expect(await repositoryProblem({ path: dangling })).toBe(notGit(dangling));
  });

  it('still judges URLs by their scheme', async () => {
    expect(await repositoryProblem({ url: 'https://example.com/a/b.git' })).toBeNull();
    expect(await repositoryProblem({ url: 'git@example.com:a/b.git' })).toBeNull();
    expect(await repositoryProblem({ url: 'ftp://example.com/a' })).toBe('repo.url scheme "ftp" is not supported (use https, ssh or git)');
  });
});
