import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A fresh git repository with one commit on `main`, in a temporary directory. */
export function makeRepo(): string {
  const dir = mkdtempSync(join(tmpdir(), 'nightshift-repo-'));
  const git = (...args: string[]) =>
    execFileSync('git', ['-C', dir, '-c', 'user.name=test', '-c', 'user.email=test@example.invalid', ...args]);
  git('init', '-q', '-b', 'main');
  writeFileSync(join(dir, 'README.md'), '# fixture\n');
  git('add', '.');
  git('commit', '-q', '-m', 'initial');
  return dir;
}
