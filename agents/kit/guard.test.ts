import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { git, openWorkspace, type Workspace } from '../../shared/index.ts';
import { makeRepo } from '../../test/helpers/git.ts';
import type { RepoProfile } from '../../sandbox/index.ts';
import { coderViolations } from './guard.ts';
import { scaled } from '../../test/helpers/wait.ts';

const profile = { test: 'npm test', testFilePatterns: ['tests/**', '**/test_*.py', '**/*.test.*', 'test/**'] } as RepoProfile;

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0)) await c();
});

/** A workspace of a repository whose last commit on main (`sha`) adds `files`. */
async function committed(files: Record<string, string>): Promise<{ dir: string; sha: string; ws: Workspace }> {
  const origin = makeRepo();
  const root = mkdtempSync(join(tmpdir(), 'ns-guard-'));
  cleanup.push(() => rmSync(origin, { recursive: true, force: true }), () => rmSync(root, { recursive: true, force: true }));
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(origin, path, '..'), { recursive: true });
    writeFileSync(join(origin, path), content);
  }
  await git(origin, ['add', '--all']);
  await git(origin, ['commit', '--quiet', '-m', 'tests'], { identity: { name: 't', email: 't@example.invalid' } });
  const ws = await openWorkspace({ repo: { path: origin }, ticketId: 'tk-0123456789', root });
  cleanup.push(() => ws.dispose());
  return { dir: ws.dir, sha: ws.baseSha, ws };
}

const PYPROJECT = '[project]\nname = "x"\ndependencies = []\n\n[tool.pytest.ini_options]\naddopts = "-q"\n';

describe('the coder guard', { timeout: scaled(60_000) }, () => {
  it('accepts production changes, including unrelated manifest changes', async () => {
    const { dir, sha, ws } = await committed({ 'pyproject.toml': PYPROJECT, 'src/x.py': 'x = 1\n', 'tests/test_x.py': 'def test_x(): pass\n' });
    writeFileSync(join(dir, 'src/x.py'), 'x = 2\n');
    writeFileSync(join(dir, 'pyproject.toml'), PYPROJECT.replace('dependencies = []', 'dependencies = ["attrs"]'));
    expect(await coderViolations(ws, sha, profile)).toEqual([]);
  });

  it('refuses test files, runner configuration, pytest options and test scripts', async () => {
    const { dir, sha, ws } = await committed({
      'pyproject.toml': PYPROJECT,
      'package.json': '{"scripts":{"test":"node --test"}}',
      'tests/test_x.py': 'def test_x(): pass\n',
    });
    writeFileSync(join(dir, 'pyproject.toml'), PYPROJECT.replace('-q', "-q -k 'not x'"));
    writeFileSync(join(dir, 'package.json'), '{"scripts":{"test":"node --test src"}}');
    writeFileSync(join(dir, 'tests/test_x.py'), 'def test_x(): assert True\n');
    writeFileSync(join(dir, '.npmrc'), 'node-options=--test-skip-pattern=x\n');
    writeFileSync(join(dir, 'vitest.config.js'), 'export default {}\n');
    const found = await coderViolations(ws, sha, profile);
    expect(found.map((v) => v.path).sort()).toEqual(['.npmrc', 'package.json', 'pyproject.toml', 'tests/test_x.py', 'vitest.config.js']);
    expect(found.find((v) => v.path === 'pyproject.toml')!.reason).toBe(
      '[tool.pytest.ini_options] changed: it configures pytest; the coder may not change test configuration',
    );
  });

  // Issue 11: the guard compared only scripts.*test*, and `"ts-scripts": { "test": [] }` ran no test at all.
  it('refuses test tool keys in package.json, a runner configuration file added, and a lint gate the test script runs', async () => {
    const pkg = { name: 'x', version: '1.0.0', scripts: { test: 'xo && ts-scripts test' }, 'ts-scripts': { test: ['test/**'] }, devDependencies: { ava: '6.0.0' } };
    const { dir, sha, ws } = await committed({ 'package.json': JSON.stringify(pkg, null, 2), 'src/x.js': 'x\n', 'tox.ini': '[pytest]\ntestpaths = tests\n' });
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ ...pkg, version: '1.0.1', 'ts-scripts': { test: [] }, ava: { files: [] } }, null, 2));
    writeFileSync(join(dir, '.mocharc.json'), '{"spec": "nothing"}\n');
    writeFileSync(join(dir, '.xo-config.json'), '{"rules": {}}\n');
    writeFileSync(join(dir, 'tox.ini'), '[pytest]\ntestpaths = nothing\n');
    writeFileSync(join(dir, 'src/x.js'), 'y\n');
    const found = await coderViolations(ws, sha, profile);
    expect(found.map((v) => `${v.path}: ${v.reason}`).sort()).toEqual([
      '.mocharc.json: test configuration added: it configures mocha; the coder may not change test configuration',
      '.xo-config.json: test configuration added: it configures xo, which the test command runs; the coder may not change test configuration',
      'package.json: "ava" configures the test runner ava; the coder may not change test configuration',
      'package.json: "ts-scripts" configures the test runner wrapper ts-scripts; the coder may not change test configuration',
      'tox.ini: [pytest] changed: it configures pytest; the coder may not change test configuration',
    ]);
  });

  it('refuses a change to a file the test script runs', async () => {
    const pkg = '{"name":"x","scripts":{"test":"npm run unit","unit":"node scripts/run-tests.js"}}';
    const { dir, sha, ws } = await committed({ 'package.json': pkg, 'scripts/run-tests.js': 'run()\n', 'scripts/build.js': 'build()\n' });
    writeFileSync(join(dir, 'scripts/build.js'), 'build(1)\n');
    expect(await coderViolations(ws, sha, profile)).toEqual([]);
    writeFileSync(join(dir, 'scripts/run-tests.js'), 'process.exit(0)\n');
    expect(await coderViolations(ws, sha, profile)).toEqual([
      { path: 'scripts/run-tests.js', reason: 'test configuration changed: the test command runs or reads it; the coder may not change test configuration' },
    ]);
  });

  it('refuses Go test files, a Go test tool replaced in go.mod and go.work added; allows production Go code and other requirements', async () => {
    const go = { test: 'sh lint.sh && go test ./...', testFilePatterns: ['**/*_test.go', '**/testdata/**'] } as RepoProfile;
    const mod = 'module example.com/x\n\ngo 1.19\n\nrequire github.com/stretchr/testify v1.9.0\n';
    const { dir, sha, ws } = await committed({ 'go.mod': mod, 'slug/slug.go': 'package slug\n', 'slug/slug_test.go': 'package slug\n', 'lint.sh': 'gofmt -l .\n' });
    writeFileSync(join(dir, 'slug/slug.go'), 'package slug\n\nfunc init() {}\n');
    writeFileSync(join(dir, 'go.mod'), `${mod}require github.com/google/uuid v1.6.0\n`);
    expect(await coderViolations(ws, sha, go)).toEqual([]);
    writeFileSync(join(dir, 'go.mod'), `${mod}replace github.com/stretchr/testify => ./fake\n`);
    writeFileSync(join(dir, 'go.work'), 'go 1.19\n\nuse ./other\n');
    writeFileSync(join(dir, 'slug/slug_test.go'), 'package slug\n\n// nothing\n');
    writeFileSync(join(dir, 'lint.sh'), 'true\n');
    mkdirSync(join(dir, 'slug/testdata'));
    writeFileSync(join(dir, 'slug/testdata/golden.txt'), 'x\n');
    const found = await coderViolations(ws, sha, go);
    expect(found.map((v) => v.path).sort()).toEqual(['go.mod', 'go.work', 'lint.sh', 'slug/slug_test.go', 'slug/testdata/golden.txt']);
    expect(found.find((v) => v.path === 'go.mod')!.reason).toBe('"github.com/stretchr/testify" is a Go test tool; the coder may not change test configuration');
  });

  it("refuses a test tool's lockfile entry changed, and allows other lockfile entries to change", async () => {
    const lock = (vitest: string, lodash: string) =>
      JSON.stringify({ lockfileVersion: 3, packages: { 'node_modules/vitest': { version: vitest }, 'node_modules/lodash': { version: lodash } } });
    const { dir, sha, ws } = await committed({ 'package.json': '{"scripts":{"test":"vitest run"}}', 'package-lock.json': lock('3.0.0', '4.17.21') });
    writeFileSync(join(dir, 'package-lock.json'), lock('3.0.0', '4.17.22'));
    expect(await coderViolations(ws, sha, profile)).toEqual([]);
    writeFileSync(join(dir, 'package-lock.json'), lock('0.0.1', '4.17.22'));
    expect(await coderViolations(ws, sha, profile)).toEqual([
      { path: 'package-lock.json', reason: '"node_modules/vitest" is a test tool\'s entry; the coder may not change test configuration' },
    ]);
  });

  it('refuses a package.json that no longer parses, and allows a change outside test configuration', async () => {
    const pkg = '{"name":"x","version":"1.0.0","scripts":{"test":"ava"},"dependencies":{"lodash":"4.17.21"}}';
    const { dir, sha, ws } = await committed({ 'package.json': pkg, '.eslintrc.json': '{}' });
    writeFileSync(join(dir, 'package.json'), pkg.replace('4.17.21', '4.17.22').replace('1.0.0', '1.1.0'));
    writeFileSync(join(dir, '.eslintrc.json'), '{"root": true}');
    expect(await coderViolations(ws, sha, profile)).toEqual([]);
    writeFileSync(join(dir, 'package.json'), pkg.slice(0, -1));
    const found = await coderViolations(ws, sha, profile);
    expect(found).toEqual([{ path: 'package.json', reason: expect.stringMatching(/^does not parse after the change/) }]);
  });

  it('reads manifests from what would be committed, never through a symlink in the work tree', async () => {
    const { dir, sha, ws } = await committed({ 'package.json': '{"scripts":{"test":"node --test"}}' });
    const outside = mkdtempSync(join(tmpdir(), 'ns-guard-outside-'));
    cleanup.push(() => rmSync(outside, { recursive: true, force: true }));
    // Outside the workspace, the same test script: read through the link, nothing would seem to change.
    writeFileSync(join(outside, 'package.json'), '{"scripts":{"test":"node --test"}}');
    unlinkSync(join(dir, 'package.json'));
    symlinkSync(join(outside, 'package.json'), join(dir, 'package.json'));
    const found = await coderViolations(ws, sha, profile);
    expect(found.map((v) => v.path)).toEqual(['package.json']);
  });

  it('refuses a nested repository, and leaves the index as it was', async () => {
    const { dir, sha, ws } = await committed({ 'src/x.js': 'x\n' });
    mkdirSync(join(dir, 'vendor/lib'), { recursive: true });
    const nested = (...args: string[]) =>
      execFileSync('git', ['-C', join(dir, 'vendor/lib'), '-c', 'user.name=t', '-c', 'user.email=t@x.invalid', ...args], {
        env: { PATH: process.env.PATH!, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', HOME: dir },
      });
    nested('init', '-q');
    nested('commit', '-q', '--allow-empty', '-m', 'x');
    const found = await coderViolations(ws, sha, profile);
    expect(found).toHaveLength(1);
    expect(found[0]!.reason).toContain('vendor/lib');
    expect(await git(ws.dir, ['diff-index', '--cached', '--name-only', 'HEAD'], { gitDir: ws.gitDir, workTree: ws.dir })).toBe('');
  });
});
