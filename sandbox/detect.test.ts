import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  DEFAULT_NODE_IMAGE,
  detectProfile,
  GO_IMAGE,
  isTestFile,
  NODE_TEST_FILES,
  ProfileError,
  PYTHON_IMAGE,
  PYTHON_MANIFESTS,
  PYTHON_TEST_FILES,
} from './index.ts';

/*
 * How the sandbox sees a repository (detect.ts and detect/): the profile detectProfile gives Node,
 * Python and Go repositories, what .nightshift.yml overrides, and the test files it takes from the
 * runner's configuration. One file because it is one unit, detectProfile: its tests write repositories
 * into the one temporary directory each test gets and read them back through it. The YAML reader is
 * tested in yaml.test.ts, the test file patterns alone in test-files.test.ts.
 */

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'nightshift-detect-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function write(files: Record<string, string | object>): void {
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), typeof content === 'string' ? content : JSON.stringify(content));
  }
}

async function rejection(): Promise<ProfileError> {
  const err = await detectProfile(dir).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ProfileError);
  return err as ProfileError;
}

describe('detectProfile from package.json', () => {
  it('uses the default Node image, npm ci with a lock file, npm test', async () => {
    write({ 'package.json': { scripts: { test: 'vitest run' }, devDependencies: { vitest: '5.0.0' } }, 'package-lock.json': '{}' });
    expect(await detectProfile(dir)).toEqual({
      detectedFrom: 'package.json',
      configFile: null,
      image: DEFAULT_NODE_IMAGE,
      imageShipped: true,
      setup: ['npm ci'],
      setupNetwork: 'bridge',
      test: 'npm test',
      env: {},
      testFilePatterns: NODE_TEST_FILES,
      timeouts: { setupMs: 900_000, testMs: 600_000 },
      notes: [],
    });
  });

  it('uses npm install without a lock file, and no setup without dependencies', async () => {
    write({ 'package.json': { scripts: { test: 'node --test' }, dependencies: { zod: '4' } } });
    expect((await detectProfile(dir)).setup).toEqual(['npm install --no-package-lock']);
    write({ 'package.json': { scripts: { test: 'node --test' } } });
    expect((await detectProfile(dir)).setup).toBeNull();
    write({ 'npm-shrinkwrap.json': '{}' });
    expect((await detectProfile(dir)).setup).toEqual(['npm ci']);
  });

  it('notes a yarn or pnpm lock file it does not use', async () => {
    write({ 'package.json': { scripts: { test: 'jest' }, devDependencies: { jest: '30' } }, 'pnpm-lock.yaml': '' });
    const profile = await detectProfile(dir);
    expect(profile.setup).toEqual(['npm install --no-package-lock']);
    expect(profile.notes.join('\n')).toMatch(/pnpm-lock.yaml ignored/);
  });

  it('refuses a package.json without a usable test script, saying what to add', async () => {
    write({ 'package.json': { scripts: { test: 'echo "Error: no test specified" && exit 1' } } });
    const err = await rejection();
    expect(err.code).toBe('invalid_repo_config');
    expect(err.issues).toEqual([{ path: 'test', message: expect.stringMatching(/no usable "scripts.test"/) }]);
    write({ 'package.json': {} });
    expect((await rejection()).message).toMatch(/scripts.test/);
  });

  it('refuses a package.json that is not JSON or has the wrong shape', async () => {
    write({ 'package.json': '{ "scripts": ' });
    expect((await rejection()).message).toMatch(/package.json is not valid JSON/);
    write({ 'package.json': { scripts: { test: 42 } } });
    const err = await rejection();
    expect(err.issues).toEqual([{ path: 'scripts.test', message: expect.any(String) }]);
  });
});

const VENV = 'python3 -m venv --system-site-packages .nightshift/venv';
const PIP = '.nightshift/venv/bin/python -m pip install --no-input';
const editable = (target: string) =>
  `${PIP} --no-build-isolation --check-build-dependencies -e ${target} || ` +
  `{ echo 'nightshift: the image cannot build this project offline; retrying with an isolated build (needs PyPI)' >&2; ${PIP} -e ${target}; }`;
const PYTEST_IF_MISSING = `.nightshift/venv/bin/python -c 'import pytest' 2>/dev/null || ${PIP} pytest`;
const SETUPTOOLS_PROJECT = '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n[project]\nname = "x"\nversion = "0.1.0"\n';

describe('detectProfile for Python', () => {
  it('uses the shipped Python image, a venv that sees its packages, the project installed editable, pytest from the venv', async () => {
    write({ 'pyproject.toml': SETUPTOOLS_PROJECT });
    expect(await detectProfile(dir)).toEqual({
      detectedFrom: 'pyproject.toml',
      configFile: null,
      image: PYTHON_IMAGE,
      imageShipped: true,
      setup: [VENV, editable('.'), PYTEST_IF_MISSING],
      setupNetwork: 'bridge',
      test: '.nightshift/venv/bin/python -m pytest',
      env: { PIP_DISABLE_PIP_VERSION_CHECK: '1', PYTHONDONTWRITEBYTECODE: '1' },
      testFilePatterns: PYTHON_TEST_FILES,
      timeouts: { setupMs: 900_000, testMs: 600_000 },
      notes: [],
    });
    expect(PYTHON_IMAGE).toBe('nightshift-sandbox-python:3.11');
    const profile = await detectProfile(dir);
    expect(isTestFile('pkg/tests/test_api.py', profile.testFilePatterns)).toBe(true);
    expect(isTestFile('pkg/api.py', profile.testFilePatterns)).toBe(false);
  });

  it('never installs pytest from PyPI unless the venv cannot import it', async () => {
    write({ 'pyproject.toml': SETUPTOOLS_PROJECT, 'requirements.txt': 'attrs\n' });
    const setup = (await detectProfile(dir)).setup!;
    const installsPytest = setup.filter((c) => /\bpytest\b/.test(c));
    expect(installsPytest).toEqual([PYTEST_IF_MISSING]);
    expect(setup.at(-1)).toBe(PYTEST_IF_MISSING);
  });

  it('installs the project with its test extra only when pyproject.toml declares one', async () => {
    write({ 'pyproject.toml': `${SETUPTOOLS_PROJECT}\n[project.optional-dependencies]\ndocs = ["sphinx"]\ntest = [\n  "pytest",\n]\n` });
    expect((await detectProfile(dir)).setup).toEqual([VENV, editable("'.[test]'"), PYTEST_IF_MISSING]);
    write({ 'pyproject.toml': `${SETUPTOOLS_PROJECT}\n[ project.optional-dependencies ]  # extras\n"test" = ["pytest"]\n` });
    expect((await detectProfile(dir)).setup![1]).toBe(editable("'.[test]'"));
    write({ 'pyproject.toml': `${SETUPTOOLS_PROJECT}\n[project.optional-dependencies]\ndocs = ["sphinx"]\ntesting = ["pytest"]\n\n[tool.x]\ntest = 1\n` });
    expect((await detectProfile(dir)).setup![1]).toBe(editable('.'));
  });

  it('installs the project when pyproject.toml has only [project] or only [build-system], and not when it has neither', async () => {
    write({ 'pyproject.toml': '[project]\nname = "x"\nversion = "1"\n' });
    expect((await detectProfile(dir)).setup).toEqual([VENV, editable('.'), PYTEST_IF_MISSING]);
    write({ 'pyproject.toml': '[build-system] # setuptools\nrequires = ["setuptools"]\n' });
    expect((await detectProfile(dir)).setup).toEqual([VENV, editable('.'), PYTEST_IF_MISSING]);
    write({ 'pyproject.toml': '[tool.pytest.ini_options]\naddopts = "-q"\n# [project]\nx = "[build-system]"\n' });
    const profile = await detectProfile(dir);
    expect(profile).toMatchObject({ detectedFrom: 'pyproject.toml', setup: [VENV, PYTEST_IF_MISSING] });
    expect(profile.notes).toEqual(['pyproject.toml declares no [project] or [build-system]: the project itself is not installed']);
  });

  it('installs requirements files with pip install -r, before the project, and notes the ones it leaves out', async () => {
    write({
      'pyproject.toml': SETUPTOOLS_PROJECT,
      'requirements.txt': 'attrs\n',
      'requirements-test.txt': '-r requirements.txt\npytest\n',
      'requirements-docs.txt': 'sphinx\n',
    });
    const profile = await detectProfile(dir);
    expect(profile.detectedFrom).toBe('pyproject.toml');
    expect(profile.setup).toEqual([VENV, `${PIP} -r requirements.txt -r requirements-test.txt`, editable('.'), PYTEST_IF_MISSING]);
    expect(profile.notes).toEqual([expect.stringMatching(/^requirements-docs.txt not installed: the setup step installs requirements.txt, /)]);
  });

  it('detects a project from setup.py, setup.cfg, a requirements file or tox.ini alone', async () => {
    write({ 'setup.py': 'from setuptools import setup\nsetup()\n', 'setup.cfg': '[metadata]\nname = x\n\n[options.extras_require]\ntest =\n    pytest\n' });
    expect(await detectProfile(dir)).toMatchObject({ detectedFrom: 'setup.py', image: PYTHON_IMAGE, setup: [VENV, editable("'.[test]'"), PYTEST_IF_MISSING] });
    rmSync(join(dir, 'setup.py'));
    // setup.cfg alone is no installable project: pip needs setup.py or pyproject.toml.
    expect(await detectProfile(dir)).toMatchObject({ detectedFrom: 'setup.cfg', setup: [VENV, PYTEST_IF_MISSING] });
    rmSync(join(dir, 'setup.cfg'));
    write({ 'requirements_dev.txt': 'attrs\n' });
    expect(await detectProfile(dir)).toMatchObject({ detectedFrom: 'requirements_dev.txt', setup: [VENV, `${PIP} -r requirements_dev.txt`, PYTEST_IF_MISSING] });
    rmSync(join(dir, 'requirements_dev.txt'));
    write({ 'tox.ini': '[tox]\nenvlist = py311\n' });
    expect(await detectProfile(dir)).toMatchObject({
      detectedFrom: 'tox.ini',
      setup: [VENV, PYTEST_IF_MISSING],
      test: '.nightshift/venv/bin/python -m pytest',
    });
  });

  it('prefers pyproject.toml over the other Python manifests, which all stay in use', async () => {
    write({ 'tox.ini': '', 'requirements.txt': '', 'setup.cfg': '', 'setup.py': '', 'pyproject.toml': '[tool.black]\n' });
    const profile = await detectProfile(dir);
    expect(profile.detectedFrom).toBe('pyproject.toml');
    expect(profile.setup).toEqual([VENV, `${PIP} -r requirements.txt`, editable('.'), PYTEST_IF_MISSING]);
    expect(PYTHON_MANIFESTS[0]).toBe('pyproject.toml');
  });

  it('follows no symlinked Python manifest', async () => {
    write({ 'elsewhere/pyproject.toml': SETUPTOOLS_PROJECT, 'requirements.txt': 'attrs\n' });
    symlinkSync(join(dir, 'elsewhere/pyproject.toml'), join(dir, 'pyproject.toml'));
    symlinkSync('/etc/hostname', join(dir, 'requirements-dev.txt'));
    expect(await detectProfile(dir)).toMatchObject({ detectedFrom: 'requirements.txt', setup: [VENV, `${PIP} -r requirements.txt`, PYTEST_IF_MISSING] });
  });

  const requiring = (spec: string, quote = '"') => `${SETUPTOOLS_PROJECT}requires-python = ${quote}${spec}${quote}  # supported\n`;

  it('accepts a requires-python the image\'s Python 3.11 satisfies', async () => {
    for (const spec of ['>=3.8', '>=3.10,<3.13', '~=3.11', '~=3.10', '==3.11.*', '== 3.11.*', '>=3.11.4', '!=3.10.*, >3.9', '<4', '==3.*']) {
      write({ 'pyproject.toml': requiring(spec) });
      expect(await detectProfile(dir), spec).toMatchObject({ image: PYTHON_IMAGE, notes: [] });
    }
    write({ 'pyproject.toml': requiring('>=3.9', "'") });
    expect((await detectProfile(dir)).image).toBe(PYTHON_IMAGE);
  });

  it('refuses, before anything runs, a requires-python the image\'s Python does not satisfy, saying how to provide one', async () => {
    write({ 'pyproject.toml': requiring('>=3.12') });
    const err = await rejection();
    expect(err.code).toBe('toolchain_missing');
    expect(err.message).toContain(
      'pyproject.toml\'s requires-python ">=3.12" is not satisfied by the Python of the sandbox image nightshift-sandbox-python:3.11 (Python 3.11); Python 3.12 satisfies it.',
    );
    expect(err.message).toContain('NIGHTSHIFT_PYTHON_TARBALL=/path/to/cpython-3.12.x+…-x86_64-unknown-linux-gnu-install_only.tar.gz sandbox/image/build-python.sh');
    expect(err.message).toContain('nightshift-sandbox-python:3.12) and name it with image: in .nightshift.yml');
    for (const [spec, want] of [
      ['<3.11', '3.10'],
      ['==3.10.*', '3.10'],
      ['~=3.12', '3.12'],
      ['>=3.10,<3.11', '3.10'],
      ['!=3.11.*,>=3.11', '3.12'],
      ['==3.11.2, !=3.11.*', null],
    ] as const) {
      write({ 'pyproject.toml': requiring(spec) });
      const e = await rejection();
      expect(e.code, spec).toBe('toolchain_missing');
      expect(e.message, spec).toContain(want === null ? 'cpython-3.x.x+' : `; Python ${want} satisfies it. `);
    }
  });

  it('does not refuse a requires-python it cannot read, and says it was not checked', async () => {
    for (const spec of ['^3.12', '>=3.12a1', '===3.13', '>=3.12.*', '~=3', '>=3.12 || <3', '']) {
      write({ 'pyproject.toml': requiring(spec) });
      const profile = await detectProfile(dir);
      expect(profile.image, spec).toBe(PYTHON_IMAGE);
      expect(profile.notes, spec).toEqual([`pyproject.toml's requires-python "${spec}" is not a specifier nightshift reads: not checked against the image's Python`]);
    }
    // Only [project]'s requires-python counts; a multi-line string is not read.
    write({ 'pyproject.toml': `${SETUPTOOLS_PROJECT}\n[tool.x]\nrequires-python = ">=3.13"\n` });
    expect(await detectProfile(dir)).toMatchObject({ image: PYTHON_IMAGE, notes: [] });
    write({ 'pyproject.toml': `${SETUPTOOLS_PROJECT}requires-python = \"\"\"\n>=3.13\"\"\"\n` });
    expect(await detectProfile(dir)).toMatchObject({ image: PYTHON_IMAGE, notes: [] });
  });

  it('checks a nightshift Python image named in .nightshift.yml by its tag, and leaves any other image to the user', async () => {
    write({ 'pyproject.toml': requiring('>=3.12'), '.nightshift.yml': 'image: nightshift-sandbox-python:3.12\n' });
    expect(await detectProfile(dir)).toMatchObject({ image: 'nightshift-sandbox-python:3.12', imageShipped: false });
    write({ 'pyproject.toml': requiring('>=3.12,<3.13'), '.nightshift.yml': 'image: nightshift-sandbox-python:3.13\n' });
    const err = await rejection();
    expect(err.code).toBe('toolchain_missing');
    expect(err.message).toContain('the sandbox image nightshift-sandbox-python:3.13 (Python 3.13); Python 3.12 satisfies it.');
    write({ '.nightshift.yml': 'image: registry.local/team/python:3.13\n' });
    expect((await detectProfile(dir)).image).toBe('registry.local/team/python:3.13');
    write({ '.nightshift.yml': 'image: nightshift-sandbox-python:3.13.1\n' });
    expect((await detectProfile(dir)).image).toBe('nightshift-sandbox-python:3.13.1');
  });

  it('says which Python manifest it also found when package.json wins', async () => {
    write({ 'package.json': { scripts: { test: 'node --test' } }, 'requirements.txt': 'attrs\n' });
    expect((await detectProfile(dir)).notes).toEqual([expect.stringMatching(/also found requirements.txt; used package.json/)]);
  });
});

describe('detectProfile from go.mod and several manifests', () => {
  it('names the Go image (shipped), a module cache in the workspace and go test, with no setup for a module without requirements', async () => {
    write({ 'go.mod': 'module example.com/x\n\ngo 1.19\n' });
    const profile = await detectProfile(dir);
    expect(profile).toMatchObject({ detectedFrom: 'go.mod', image: GO_IMAGE, imageShipped: true, setup: null, test: 'go test ./...' });
    expect(GO_IMAGE).toBe('nightshift-sandbox-go:1.19');
    expect(profile.env).toEqual({ GOMODCACHE: '/workspace/.nightshift/go/mod', GOCACHE: '/tmp/go-build', GOFLAGS: '-modcacherw', GOTOOLCHAIN: 'local' });
    expect(isTestFile('internal/x/x_test.go', profile.testFilePatterns)).toBe(true);
    expect(isTestFile('x_test.go', profile.testFilePatterns)).toBe(true);
    expect(isTestFile('internal/x/testdata/golden.txt', profile.testFilePatterns)).toBe(true);
    expect(isTestFile('testdata/in.json', profile.testFilePatterns)).toBe(true);
    expect(isTestFile('internal/x/x.go', profile.testFilePatterns)).toBe(false);
  });

  it('downloads modules in the setup step only when go.mod requires some', async () => {
    write({ 'go.mod': 'module example.com/x\n\ngo 1.19\n\nrequire github.com/google/go-cmp v0.6.0\n' });
    expect((await detectProfile(dir)).setup).toEqual(['go mod download']);
    write({ 'go.mod': 'module example.com/x\n\ngo 1.19\n\nrequire (\n\tgolang.org/x/text v0.14.0 // indirect\n)\n' });
    expect((await detectProfile(dir)).setup).toEqual(['go mod download']);
    write({ 'go.mod': 'module example.com/x\n\ngo 1.19\n\nrequire (\n)\n// require example.com/y v1.0.0\n' });
    expect((await detectProfile(dir)).setup).toBeNull();
  });

  it('refuses, before anything runs, a go.mod that needs a newer Go than the image has, saying how to provide one', async () => {
    write({ 'go.mod': 'module example.com/x\n\ngo 1.22.3\n' });
    let err = await rejection();
    expect(err.code).toBe('toolchain_missing');
    expect(err.message).toContain('go.mod needs a newer Go than the sandbox image nightshift-sandbox-go:1.19 has (Go 1.19.8): its go directive asks for Go 1.22.3');
    expect(err.message).toContain('NIGHTSHIFT_GO_TARBALL=/path/to/go1.22.x.linux-amd64.tar.gz sandbox/image/build-go.sh');
    expect(err.message).toContain('image: in .nightshift.yml');
    // A toolchain line: Go 1.19 cannot even read the go.mod.
    write({ 'go.mod': 'module example.com/x\n\ngo 1.19\n\ntoolchain go1.22.1\n' });
    err = await rejection();
    expect(err.message).toContain('its toolchain line (go1.22.1) needs Go 1.21 or later to be read at all');
    expect(err.message).toContain('/path/to/go1.21.x.linux-amd64.tar.gz');
    // An image built from a Go release is tagged with its version; another image is the user's to match.
    write({ 'go.mod': 'module example.com/x\n\ngo 1.22.3\n\ntoolchain go1.23.0\n', '.nightshift.yml': 'image: nightshift-sandbox-go:1.23.4\n' });
    expect(await detectProfile(dir)).toMatchObject({ image: 'nightshift-sandbox-go:1.23.4', imageShipped: false });
    write({ '.nightshift.yml': 'image: nightshift-sandbox-go:1.22\n' });
    expect((await rejection()).message).toContain('(Go 1.22): its go directive asks for Go 1.22.3');
    write({ '.nightshift.yml': 'image: registry.local/golang:1.23\n' });
    expect((await detectProfile(dir)).image).toBe('registry.local/golang:1.23');
    // Older and equal directives are fine.
    write({ 'go.mod': 'module example.com/x\n\ngo 1.18\n', '.nightshift.yml': 'test: go test ./...\n' });
    expect((await detectProfile(dir)).image).toBe(GO_IMAGE);
  });

  it('prefers package.json when several manifests exist, and says so', async () => {
    write({ 'package.json': { scripts: { test: 'node --test' } }, 'go.mod': 'module x\n' });
    const profile = await detectProfile(dir);
    expect(profile.detectedFrom).toBe('package.json');
    expect(profile.notes).toEqual([expect.stringMatching(/also found go.mod/)]);
  });

  it('refuses a repository with nothing to go by, naming the file to add', async () => {
    write({ 'README.md': '# hi\n' });
    const err = await rejection();
    expect(err.code).toBe('unknown_repo_type');
    expect(err.message).toMatch(/add a .nightshift.yml/);
  });
});

describe('detectProfile with .nightshift.yml', () => {
  it('overrides what was detected, key by key', async () => {
    write({
      'package.json': { scripts: { test: 'vitest run' } },
      '.nightshift.yml': [
        '# sandbox settings',
        'test: npm run test:unit -- --reporter=dot   # faster',
        'setup:',
        '  - npm ci',
        "  - 'npm run build'",
        'setup_network: none',
        'test_files:',
        '- "src/**/*.test.ts"',
        'env:',
        '  - TZ=UTC',
        '  - NODE_OPTIONS=--max-old-space-size=512',
        'test_timeout: 90s',
        '',
      ].join('\n'),
    });
    expect(await detectProfile(dir)).toMatchObject({
      detectedFrom: 'package.json',
      configFile: '.nightshift.yml',
      image: DEFAULT_NODE_IMAGE,
      setup: ['npm ci', 'npm run build'],
      setupNetwork: 'none',
      test: 'npm run test:unit -- --reporter=dot',
      testFilePatterns: ['src/**/*.test.ts'],
      env: { TZ: 'UTC', NODE_OPTIONS: '--max-old-space-size=512' },
      timeouts: { setupMs: 900_000, testMs: 90_000 },
    });
  });

  it('is enough on its own with image and test; empty setup means none', async () => {
    write({ '.nightshift.yml': 'image: "registry.local/team/rust-sandbox:1.80"\ntest: cargo test\nsetup: []\n' });
    expect(await detectProfile(dir)).toMatchObject({
      detectedFrom: null,
      image: 'registry.local/team/rust-sandbox:1.80',
      imageShipped: false,
      setup: null,
      test: 'cargo test',
    });
  });

  it('lets a .nightshift.yml supply the test command a package.json lacks', async () => {
    write({ 'package.json': {}, '.nightshift.yml': 'test: node --test\n' });
    expect((await detectProfile(dir)).test).toBe('node --test');
  });

  it('lists every missing required key when nothing can be detected', async () => {
    write({ '.nightshift.yml': 'setup: make deps\n' });
    const err = await rejection();
    expect(err.issues.map((i) => i.path)).toEqual(['image', 'test']);
  });

  it('refuses unknown keys and bad values with their field names', async () => {
    write({ '.nightshift.yml': 'image: Not An Image\nsetup_network: host\ntests: npm test\ntest_timeout: soon\ntest_files: []\n' });
    const err = await rejection();
    expect(err.code).toBe('invalid_repo_config');
    expect(err.issues.map((i) => i.path).sort()).toEqual(['(root)', 'image', 'setup_network', 'test_files', 'test_timeout']);
    expect(err.message).toMatch(/tests/);
  });

  it('refuses YAML that does not parse, with line numbers, and values of the wrong shape with their field and line', async () => {
    write({ '.nightshift.yml': 'image: x\nsetup: [npm ci\ntest: npm test\n' });
    const bad = await rejection();
    expect(bad.message).toMatch(/not valid YAML/);
    expect(bad.issues[0]!.path).toMatch(/^line [23]$/);
    write({ '.nightshift.yml': 'image: nightshift-sandbox-node:24\nsetup:\n  nested: map\ntest: |\n  npm test\n' });
    const shape = await rejection();
    expect(shape.message).toMatch(/is invalid/);
    expect(shape.issues).toEqual([{ path: 'setup', message: expect.stringMatching(/\(line 3\)$/) }]);
  });

  it('refuses both .nightshift.yml and .nightshift.yaml, and a symlinked config', async () => {
    write({ '.nightshift.yml': 'test: a\n', '.nightshift.yaml': 'test: b\n' });
    expect((await rejection()).message).toMatch(/keep one/);
    rmSync(join(dir, '.nightshift.yml'));
    rmSync(join(dir, '.nightshift.yaml'));
    symlinkSync('/etc/hostname', join(dir, '.nightshift.yml'));
    expect((await rejection()).message).toMatch(/symbolic link/);
  });
});

describe('test file patterns from the runner configuration', () => {
  it('adds what package.json and .mocharc.json name to the defaults, and notes where they came from', async () => {
    write({
      'package.json': { scripts: { test: 'ava && mocha' }, ava: { files: ['src/**/*.check.js', '!src/fixtures/**'] }, tsd: { directory: 'types/' } },
      '.mocharc.json': { spec: 'checks/unit', require: 'ts-node/register' },
    });
    const profile = await detectProfile(dir);
    expect(profile.testFilePatterns).toEqual([...NODE_TEST_FILES, 'src/**/*.check.js', 'types', 'types/**', 'checks/unit', 'checks/unit/**']);
    expect(isTestFile('src/math.check.js', profile.testFilePatterns)).toBe(true);
    expect(isTestFile('checks/unit/math.js', profile.testFilePatterns)).toBe(true);
    expect(isTestFile('src/math.js', profile.testFilePatterns)).toBe(false);
    expect(profile.notes).toEqual([
      'test files also from package.json "ava.files": src/**/*.check.js',
      'test files also from package.json "tsd.directory": types, types/**',
      'test files also from .mocharc.json "spec": checks/unit, checks/unit/**',
    ]);
  });

  it('reads only the spec of a .mocharc.yml, and testMatch of jest.config.json', async () => {
    write({
      'package.json': { scripts: { test: 'mocha' } },
      '.mocharc.yml': 'require: ts-node/register\nrecursive: true\nspec:\n  - "qa/**/*.ts"\n  - qa/smoke.js\ntimeout: 5000\n',
      'jest.config.json': { testMatch: ['<rootDir>/qa/**/*.jest.[jt]s'], testRegex: 'x' },
    });
    const profile = await detectProfile(dir);
    expect(profile.testFilePatterns.slice(NODE_TEST_FILES.length)).toEqual(['qa/**/*.ts', 'qa/smoke.js', 'qa/**/*.jest.[jt]s']);
    expect(profile.notes.some((n) => n.includes('jest.config.json "testRegex" is a regular expression, not read'))).toBe(true);
  });

  it('uses test_files alone when .nightshift.yml sets it, without the runner notes', async () => {
    write({ 'package.json': { scripts: { test: 'ava' }, ava: { files: ['src/**/*.check.js'] } }, '.nightshift.yml': 'test_files: "qa/**"\n' });
    const profile = await detectProfile(dir);
    expect(profile.testFilePatterns).toEqual(['qa/**']);
    expect(profile.notes).toEqual([]);
  });

  it('notes a runner configuration it does not read instead of refusing the repository', async () => {
    write({ 'package.json': { scripts: { test: 'mocha' } }, 'elsewhere.json': { spec: 'src' } });
    symlinkSync(join(dir, 'elsewhere.json'), join(dir, '.mocharc.json'));
    write({ 'jest.config.json': 'module.exports = {}' });
    const profile = await detectProfile(dir);
    expect(profile.testFilePatterns).toEqual(NODE_TEST_FILES);
    expect(profile.notes).toEqual([
      'test file patterns not read from .mocharc.json: .mocharc.json is a symbolic link; refusing to follow it',
      'jest.config.json is not JSON: its "testMatch" was not read',
    ]);
  });
});
