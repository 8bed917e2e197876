import { describe, expect, it } from 'vitest';
import { isTestPackage, lockfileReasons, packageJsonReasons, scriptsRunBy } from './test-config-package.ts';
import { configFileReason, filesNamedBy, gateFileReason, goModReasons, namedFileReason, sectionReasons } from './test-config.ts';

const pkg = (o: Record<string, unknown>) => JSON.stringify(o, null, 2);
const BASE = { name: 'x', version: '1.0.0', scripts: { test: 'ava' }, devDependencies: { ava: '6.0.0' }, dependencies: { lodash: '4.17.21' } };
/** The reasons for changing BASE (plus `extra`) into `change`d BASE. */
const reasons = (change: (p: Record<string, any>) => void, extra: Record<string, unknown> = {}, test = 'npm test') => {
  const before = structuredClone({ ...BASE, ...extra }) as Record<string, any>;
  const after = structuredClone(before);
  change(after);
  return packageJsonReasons(pkg(before), pkg(after), test);
};

describe('package.json test configuration', () => {
  it('allows changes that are not test configuration: version, non-test dependencies, other scripts, other keys', () => {
    expect(
      reasons((p) => {
        p.version = '1.1.0';
        p.dependencies.lodash = '4.17.22';
        p.dependencies.zod = '4.0.0';
        p.scripts.build = 'tsc';
        p.files = ['index.js'];
        p.xo = { rules: {} }; // xo is not run by the test command here
      }),
    ).toEqual([]);
    // Key order alone is no change.
    expect(packageJsonReasons('{"ava":{"a":1,"b":2}}', '{"ava":{"b":2,"a":1}}', 'npm test')).toEqual([]);
  });

  it.each([
    ['ts-scripts', { test: [] }],
    ['ava', { files: [] }],
    ['jest', { testMatch: [] }],
    ['mocha', { spec: 'nothing' }],
    ['c8', { 'check-coverage': false }],
    ['nyc', { exclude: ['src/**'] }],
    ['tap', { 'test-ignore': '.*' }],
    ['tsd', { directory: 'nowhere' }],
    ['vitest', { include: [] }],
    ['babel', { presets: [] }],
  ])('refuses "%s" added: it configures a test tool', (key, value) => {
    expect(reasons((p) => (p[key] = value))).toEqual([expect.stringMatching(new RegExp(`^"${key}" configures .*; the coder may not change test configuration$`))]);
  });

  it('refuses a test tool key changed or removed', () => {
    expect(reasons((p) => (p.ava.files = []), { ava: { files: ['test/**'] } })).toEqual([expect.stringContaining('"ava" configures the test runner ava')]);
    expect(reasons((p) => delete p.ava, { ava: { files: ['test/**'] } })).toHaveLength(1);
  });

  it('refuses every script named like a test, and every script the test command reaches, transitively', () => {
    const scripts = { test: 'npm run lint && npm run unit', lint: 'run-s lint:*', 'lint:js': 'xo', unit: 'yarn spec', spec: 'ava', pretest: 'npm run build', build: 'tsc', 'test:e2e': 'x', start: 'node .' };
    for (const [name, why] of [
      ['test', 'is a test script'],
      ['test:e2e', 'is a test script'],
      ['pretest', 'is a test script'],
      ['lint', 'is run by the test command'],
      ['lint:js', 'is run by the test command'],
      ['unit', 'is run by the test command'],
      ['spec', 'is run by the test command'],
      ['build', 'is run by the test command'],
    ]) {
      expect(reasons((p) => (p.scripts[name!] = 'true'), { scripts })).toEqual([`scripts "${name}" ${why}; the coder may not change test configuration`]);
    }
    expect(reasons((p) => (p.scripts.start = 'node server.js'), { scripts })).toEqual([]);
    // A reached script removed is a change too.
    expect(reasons((p) => delete p.scripts.spec, { scripts })).toEqual(['scripts "spec" is run by the test command; the coder may not change test configuration']);
  });

  it('follows the repository test command, not only scripts.test', () => {
    const scripts = { test: 'ava', check: 'pnpm run types', types: 'tsc' };
    expect(reasons((p) => (p.scripts.types = 'true'), { scripts }, 'npm run check && npm test')).toEqual([expect.stringContaining('scripts "types" is run by')]);
    expect(reasons((p) => (p.scripts.types = 'true'), { scripts })).toEqual([]);
  });

  it('lists the scripts reached through npm, pnpm, yarn, bun, npm-run-all and concurrently', () => {
    const scripts = Object.fromEntries(['a', 'b', 'c', 'd', 'e', 'f:1', 'f:2', 'g', 'h', 'i', 'j', 'prea', 'posta', 'z'].map((n) => [n, 'true']));
    const commands = ['npm run a', 'pnpm b', 'yarn run c', 'bun run d', 'FOO=1 npm -s run-script e', 'run-p f:*', 'concurrently "npm:g" \'npm:h\'', 'node --run i', 'node --run=j'];
    expect(scriptsRunBy(commands, scripts)).toEqual(['a', 'b', 'c', 'd', 'e', 'f:1', 'f:2', 'g', 'h', 'i', 'j', 'posta', 'prea']);
    expect(scriptsRunBy(['npm t'], { test: 'npm run test', pretest: 'true' })).toEqual(['pretest', 'test']);
  });

  it('refuses the configuration of a lint gate only when the test command runs it', () => {
    const gated = { scripts: { test: 'xo && ava' } };
    expect(reasons((p) => (p.xo = { rules: { 'no-unused-vars': 'off' } }), gated)).toEqual([
      '"xo" configures xo, which the test command runs; the coder may not change test configuration',
    ]);
    expect(reasons((p) => (p.prettier = { semi: false }), { scripts: { test: 'npm run fmt && ava', fmt: 'prettier --check .' } })).toHaveLength(1);
    expect(reasons((p) => (p.prettier = { semi: false }))).toEqual([]);
  });

  it('refuses a field the test command reads through $npm_package_…', () => {
    const reading = { scripts: { test: 'mocha $npm_package_config_spec' }, config: { spec: 'test/**' } };
    expect(reasons((p) => (p.config.spec = 'none'), reading)).toEqual([expect.stringContaining('"config" is read by the test command')]);
  });

  it('refuses test tools in dependencies (removed, changed, added) and in overrides', () => {
    expect(reasons((p) => delete p.devDependencies.ava)).toEqual(['devDependencies "ava" is a test tool; the coder may not change test configuration']);
    expect(reasons((p) => (p.devDependencies.ava = '5.0.0'))).toHaveLength(1);
    expect(reasons((p) => (p.devDependencies['@vitest/coverage-v8'] = '3.0.0'))).toHaveLength(1);
    expect(reasons((p) => (p.overrides = { vitest: 'npm:nothing@1.0.0' }))).toEqual(['overrides "vitest" replaces a test tool; the coder may not change test configuration']);
    expect(reasons((p) => (p.resolutions = { '**/@jest/core': 'file:./fake' }))).toHaveLength(1);
    expect(reasons((p) => (p.pnpm = { overrides: { 'foo>mocha@10': '1.0.0' } }))).toHaveLength(1);
    expect(reasons((p) => (p.overrides = { lodash: '4.17.20' }))).toEqual([]);
    expect(['jest', 'jest-environment-jsdom', '@playwright/test', 'c8'].every(isTestPackage)).toBe(true);
    expect(['lodash', 'jestful', 'zod'].some(isTestPackage)).toBe(false);
  });

  it('refuses a package.json that does not parse, after or before the change; an added or deleted one is compared with nothing', () => {
    expect(packageJsonReasons(pkg(BASE), '{"scripts": {', 'npm test')).toEqual([expect.stringMatching(/^does not parse after the change \(.+\): /)]);
    expect(packageJsonReasons(pkg(BASE), '[]', 'npm test')).toEqual([expect.stringContaining('it is not a JSON object')]);
    expect(packageJsonReasons('{', pkg(BASE), 'npm test')).toEqual([expect.stringMatching(/^did not parse before the change/)]);
    expect(packageJsonReasons(null, pkg({ name: 'sub', mocha: { spec: 'x' } }), 'npm test')).toEqual([expect.stringContaining('"mocha" configures')]);
    expect(packageJsonReasons(null, pkg({ name: 'sub', dependencies: { lodash: '1' } }), 'npm test')).toEqual([]);
    expect(packageJsonReasons(pkg(BASE), null, 'npm test')).toEqual(
      expect.arrayContaining(['scripts "test" is a test script; the coder may not change test configuration']),
    );
  });
});

describe('npm lockfiles', () => {
  const LOCK = {
    lockfileVersion: 3,
    packages: {
      '': { devDependencies: { vitest: '3.0.0' } },
      'node_modules/vitest': { version: '3.0.0', resolved: 'https://registry.npmjs.org/vitest/-/vitest-3.0.0.tgz' },
      'node_modules/a/node_modules/@vitest/runner': { version: '3.0.0' },
      'node_modules/lodash': { version: '4.17.21' },
    },
  };
  const change = (edit: (l: any) => void, lock: object = LOCK) => {
    const after = structuredClone(lock) as any;
    edit(after);
    return lockfileReasons(JSON.stringify(lock), JSON.stringify(after));
  };

  it('refuses a test tool entry changed, added or removed, at any depth, in lockfile v3 and v1', () => {
    expect(change((l) => (l.packages['node_modules/vitest'].resolved = 'file:../fake-vitest'))).toEqual([
      '"node_modules/vitest" is a test tool\'s entry; the coder may not change test configuration',
    ]);
    expect(change((l) => delete l.packages['node_modules/a/node_modules/@vitest/runner'])).toHaveLength(1);
    expect(change((l) => (l.packages['node_modules/jest'] = { version: '1.0.0' }))).toHaveLength(1);
    const v1 = { lockfileVersion: 1, dependencies: { a: { version: '1.0.0', dependencies: { mocha: { version: '10.0.0' } } } } };
    expect(change((l) => (l.dependencies.a.dependencies.mocha.version = '1.0.0'), v1)).toEqual([expect.stringContaining('"dependencies/a/dependencies/mocha"')]);
  });

  it('allows other entries to change, and refuses a lockfile that does not parse', () => {
    expect(change((l) => (l.packages['node_modules/lodash'].version = '4.17.22'))).toEqual([]);
    expect(change((l) => (l.packages['node_modules/zod'] = { version: '4.0.0' }))).toEqual([]);
    expect(lockfileReasons(JSON.stringify(LOCK), '{')).toEqual([expect.stringMatching(/^does not parse after the change/)]);
  });
});

describe('test configuration files', () => {
  it.each(['.mocharc.json', 'packages/a/.mocharc.yml', 'jest.config.ts', 'ava.config.mjs', '.c8rc.json', '.nycrc', '.taprc', 'karma.conf.js', 'cypress.config.ts', 'babel.config.cjs', '.babelrc', 'vitest.workspace.ts', 'pytest.ini', 'pytest.toml', 'sub/conftest.py', 'node.config.json', '.coveragerc', '.nightshift.yml', '.npmrc', 'spec/support/jasmine.json', 'go.work', 'go.work.sum', 'vendor/github.com/stretchr/testify/assert/assertions.go', 'sub/vendor/github.com/onsi/gomega/v2/x.go'])(
    '%s is test configuration',
    (path) => {
      expect(configFileReason(path, 'added')).toMatch(/^test configuration added: it configures .+; the coder may not change test configuration$/);
    },
  );

  it.each(['src/config.js', 'README.md', 'tsconfig.json', '.eslintrc.json', 'mocharc.md', 'go.mod', 'vendor/github.com/google/uuid/uuid.go', 'vendor/modules.txt'])('%s is not, by its name alone', (path) => {
    expect(configFileReason(path, 'changed')).toBeNull();
  });

  it('a lint or type-check configuration is test configuration when the test command runs the tool', () => {
    expect(gateFileReason('.eslintrc.json', 'changed', ['npm test', 'eslint . && mocha'])).toContain('it configures eslint, which the test command runs');
    expect(gateFileReason('tsconfig.json', 'changed', ['tsc --noEmit && vitest run'])).toContain('tsc');
    expect(gateFileReason('.prettierrc', 'added', ['node_modules/.bin/prettier --check .'])).toContain('prettier');
    expect(gateFileReason('.eslintrc.json', 'changed', ['mocha'])).toBeNull();
    expect(gateFileReason('tsconfig.json', 'changed', ['vitest run', 'tsc-alias'])).toBeNull();
    expect(gateFileReason('Makefile', 'changed', ['make test'])).toContain('it configures make, which the test command runs');
    expect(gateFileReason('Makefile', 'changed', ['go test ./...'])).toBeNull();
    expect(gateFileReason('.golangci.yml', 'changed', ['golangci-lint run && go test ./...'])).toContain('golangci-lint');
    expect(gateFileReason('staticcheck.conf', 'added', ['staticcheck ./... && go test ./...'])).toContain('staticcheck');
    expect(gateFileReason('.golangci.yml', 'changed', ['go test ./...'])).toBeNull();
  });

  it('a file the test command names is test configuration: a runner script, a --config, a -p, a --require=', () => {
    const commands = ['npm test', 'node scripts/run-tests.js && mocha --config .mocharc.ci.yml', "tsc -p tsconfig.test.json --require=./test-setup/env.js 'lib/x.mjs'"];
    expect([...filesNamedBy(commands)].sort()).toEqual(['.mocharc.ci.yml', 'lib/x.mjs', 'scripts/run-tests.js', 'test-setup/env.js', 'tsconfig.test.json']);
    expect(namedFileReason('scripts/run-tests.js', 'changed', commands)).toBe('test configuration changed: the test command runs or reads it; the coder may not change test configuration');
    expect(namedFileReason('scripts/build.js', 'changed', commands)).toBeNull();
    // Globs, variables, URLs, options and paths outside the repository name no file.
    expect([...filesNamedBy(['mocha "test/**/*.js" $FILE http://x.invalid/a.js --bail ../up.js /etc/passwd node'])]).toEqual([]);
  });
});

describe('go.mod and go.sum', () => {
  const MOD = 'module example.com/x\n\ngo 1.19\n\nrequire (\n\tgithub.com/google/uuid v1.6.0\n\tgithub.com/stretchr/testify v1.9.0\n)\n';

  it('refuses a Go test tool module required, replaced, excluded or removed; allows the code\'s own dependencies', () => {
    const why = ['"github.com/stretchr/testify" is a Go test tool; the coder may not change test configuration'];
    expect(goModReasons(MOD, MOD.replace('v1.9.0', 'v1.8.0'))).toEqual(why);
    expect(goModReasons(MOD, `${MOD}\nreplace github.com/stretchr/testify => ./fake\n`)).toEqual(why);
    expect(goModReasons(MOD, `${MOD}replace (\n\tgithub.com/stretchr/testify v1.9.0 => ../always-passes\n)\n`)).toEqual(why);
    expect(goModReasons(MOD, MOD.replace('\tgithub.com/stretchr/testify v1.9.0\n', ''))).toEqual(why);
    expect(goModReasons(MOD, `${MOD}require github.com/onsi/ginkgo/v2 v2.17.0\n`)).toEqual(['"github.com/onsi/ginkgo" is a Go test tool; the coder may not change test configuration']);
    expect(goModReasons(null, 'github.com/stretchr/testify v1.9.0 h1:abc=\n')).toEqual(why);
    expect(goModReasons(MOD, MOD.replace('v1.6.0', 'v1.6.1').replace('go 1.19', 'go 1.19 // comment'))).toEqual([]);
    expect(goModReasons(MOD, `${MOD}require github.com/stretchr/testifyx v1.0.0\n`)).toEqual([]);
  });
});

describe('test sections of pyproject.toml, setup.cfg and tox.ini', () => {
  const PYPROJECT = '[project]\nname = "x"\ndependencies = []\n\n[tool.pytest.ini_options]\naddopts = "-q"\ntestpaths = [\n  "tests",\n]\n\n[tool.ruff]\nline-length = 100\n';

  it('refuses a pytest, coverage or tox table changed, added or removed; allows other tables', () => {
    expect(sectionReasons('pyproject.toml', PYPROJECT, PYPROJECT.replace('"tests",', '"nothing",'))).toEqual([
      '[tool.pytest.ini_options] changed: it configures pytest; the coder may not change test configuration',
    ]);
    expect(sectionReasons('pyproject.toml', PYPROJECT, `${PYPROJECT}\n[tool.coverage.report]\nfail_under = 0\n`)).toEqual([expect.stringMatching(/^\[tool\.coverage\.report\] added: it configures coverage\.py/)]);
    expect(sectionReasons('pyproject.toml', PYPROJECT, PYPROJECT.replace(/\[tool\.pytest[^]*?\n\n/, ''))).toEqual([expect.stringMatching(/^\[tool\.pytest\.ini_options\] removed/)]);
    expect(sectionReasons('pyproject.toml', PYPROJECT, PYPROJECT.replace('line-length = 100', 'line-length = 120').replace('dependencies = []', 'dependencies = ["attrs"]'))).toEqual([]);
    // Comments and blank lines are no change.
    expect(sectionReasons('pyproject.toml', PYPROJECT, PYPROJECT.replace('addopts', '# a comment\n\naddopts'))).toEqual([]);
  });

  it('sees dotted keys that reach into a test table from a parent table, multi-line values included', () => {
    const viaTool = '[tool]\nruff.line-length = 100\n';
    expect(sectionReasons('pyproject.toml', viaTool, `${viaTool}pytest.ini_options.addopts = [\n  "--deselect=tests/test_x.py",\n]\n`)).toEqual([expect.stringContaining('[tool.pytest] added')]);
    // Only a continuation line of the multi-line value changes: still the pytest table.
    const multi = `${viaTool}pytest.ini_options.addopts = [\n  "--maxfail=1",\n]\n`;
    expect(sectionReasons('pyproject.toml', multi, multi.replace('"--maxfail=1"', '"--deselect=tests/test_x.py"'))).toEqual([expect.stringContaining('[tool.pytest] changed')]);
    // A bracket inside a string does not end the value early.
    const tricky = `${viaTool}pytest.ini_options.addopts = [\n  "-k", "not x]", # ]\n  "--maxfail=1",\n]\n`;
    expect(sectionReasons('pyproject.toml', tricky, tricky.replace('"--maxfail=1"', '"--deselect=tests/test_x.py"'))).toEqual([expect.stringContaining('[tool.pytest] changed')]);
    expect(sectionReasons('pyproject.toml', '[project]\nname = "x"\n', '[project]\nname = "x"\n')).toEqual([]);
    expect(sectionReasons('pyproject.toml', 'name = 1\n', 'name = 1\ntool.pytest.ini_options.addopts = "-k none"\n')).toEqual([expect.stringContaining('[tool.pytest] added')]);
    expect(sectionReasons('pyproject.toml', viaTool, viaTool.replace('100', '120'))).toEqual([]);
  });

  it('setup.cfg: [tool:pytest] and [coverage:*]; not [metadata]', () => {
    const cfg = '[metadata]\nname = x\n\n[tool:pytest]\naddopts = -q\n\n[coverage:report]\nfail_under = 90\n';
    expect(sectionReasons('setup.cfg', cfg, cfg.replace('-q', '-q -k "not slow"'))).toEqual([expect.stringMatching(/^\[tool:pytest\] changed: it configures pytest/)]);
    expect(sectionReasons('setup.cfg', cfg, cfg.replace('90', '0'))).toEqual([expect.stringMatching(/^\[coverage:report\] changed/)]);
    expect(sectionReasons('setup.cfg', cfg, cfg.replace('name = x', 'name = y'))).toEqual([]);
  });

  it('tox.ini: [tox], [testenv…], [pytest] and [coverage:*]; not [flake8]', () => {
    const tox = '[tox]\nenvlist = py311\n\n[testenv]\ncommands = pytest {posargs}\n\n[pytest]\ntestpaths = tests\n\n[flake8]\nmax-line-length = 100\n';
    expect(sectionReasons('tox.ini', tox, tox.replace('testpaths = tests', 'testpaths = none'))).toEqual([expect.stringMatching(/^\[pytest\] changed/)]);
    expect(sectionReasons('tox.ini', tox, tox.replace('pytest {posargs}', 'true'))).toEqual([expect.stringMatching(/^\[testenv\] changed: it configures tox/)]);
    expect(sectionReasons('tox.ini', tox, `${tox}\n[testenv:lint]\ncommands = true\n`)).toEqual([expect.stringMatching(/^\[testenv:lint\] added/)]);
    expect(sectionReasons('tox.ini', tox, tox.replace('100', '120'))).toEqual([]);
    expect(sectionReasons('tox.ini', null, tox)).toHaveLength(3);
  });
});
