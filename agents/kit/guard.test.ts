import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { git } from '../../shared/index.ts';
import { makeRepo } from '../../test/helpers/git.ts';
import type { RepoProfile } from '../../sandbox/index.ts';
import { coderViolations } from './guard.ts';

const profile = { testFilePatterns: ['tests/**', '**/test_*.py', '**/*.test.*', 'test/**'] } as RepoProfile;

async function committed(files: Record<string, string>): Promise<{ dir: string; sha: string }> {
  const dir = makeRepo();
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  await git(dir, ['add', '--all']);
  await git(dir, ['commit', '--quiet', '-m', 'tests'], { identity: { name: 't', email: 't@example.invalid' } });
  return { dir, sha: (await git(dir, ['rev-parse', 'HEAD'])).trim() };
}

const PYPROJECT = '[project]\nname = "x"\ndependencies = []\n\n[tool.pytest.ini_options]\naddopts = "-q"\n';

describe('the coder guard', () => {
  it('accepts production changes, including unrelated manifest changes', async () => {
    const { dir, sha } = await committed({ 'pyproject.toml': PYPROJECT, 'src/x.py': 'x = 1\n', 'tests/test_x.py': 'def test_x(): pass\n' });
    writeFileSync(join(dir, 'src/x.py'), 'x = 2\n');
    writeFileSync(join(dir, 'pyproject.toml'), PYPROJECT.replace('dependencies = []', 'dependencies = ["attrs"]'));
    expect(await coderViolations(dir, sha, profile)).toEqual([]);
  });

  it('refuses test files, runner configuration, pytest options and test scripts', async () => {
    const { dir, sha } = await committed({
      'pyproject.toml': PYPROJECT,
      'package.json': '{"scripts":{"test":"node --test"}}',
      'tests/test_x.py': 'def test_x(): pass\n',
    });
    writeFileSync(join(dir, 'pyproject.toml'), PYPROJECT.replace('-q', "-q -k 'not x'"));
    writeFileSync(join(dir, 'package.json'), '{"scripts":{"test":"node --test src"}}');
    writeFileSync(join(dir, 'tests/test_x.py'), 'def test_x(): assert True\n');
    writeFileSync(join(dir, '.npmrc'), 'node-options=--test-skip-pattern=x\n');
    writeFileSync(join(dir, 'vitest.config.js'), 'export default {}\n');
    const found = await coderViolations(dir, sha, profile);
    expect(found.map((v) => v.path).sort()).toEqual(['.npmrc', 'package.json', 'pyproject.toml', 'tests/test_x.py', 'vitest.config.js']);
    expect(found.find((v) => v.path === 'pyproject.toml')!.reason).toContain('pytest configuration');
  });
});
