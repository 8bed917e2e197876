import { describe, expect, it } from 'vitest';
import { GO_TEST_FILES, isTestFile, NODE_TEST_FILES, notATestFile, PYTHON_TEST_FILES, runnerTestFiles } from './index.ts';

describe('the Node.js default test file patterns', () => {
  it.each([
    // the file names of the runners
    ['src/a.test.ts', true],
    ['src/a.spec.mjs', true],
    ['lib/__tests__/a.js', true],
    // a root test file, as single-file packages keep it…
    ['test.js', true],
    ['test.ts', true],
    ['test.mjs', true],
    ['test.cjs', true],
    // …but only at the root: elsewhere a module may be called test
    ['src/test.js', false],
    // tsd's type tests, by name and in its default directory
    ['index.test-d.ts', true],
    ['source/types.test-d.tsx', true],
    ['test-d/index.ts', true],
    // test directories, at the root and in the packages of a monorepo; jasmine's spec/
    ['test/helpers/x.js', true],
    ['tests/x.ts', true],
    ['packages/core/test/api.js', true],
    ['packages/core/tests/fixtures/input.json', true],
    ['spec/x.js', true],
    ['spec/support/jasmine.json', true],
    ['packages/cli/spec/x.js', true],
    // Cypress's own directory
    ['cypress/e2e/login.cy.ts', true],
    ['locales/messages.cy.json', false],
    // what jest keeps next to the tests: snapshots, manual mocks, fixtures
    ['src/__snapshots__/a.test.ts.snap', true],
    ['__mocks__/fs.js', true],
    ['src/__fixtures__/big.json', true],
    // production code whose name only mentions tests
    ['src/test-utils.js', false],
    ['src/testing.ts', false],
    ['src/tests.ts', false],
    ['lib/spec-parser.js', false],
    ['src/index.ts', false],
    ['index.d.ts', false],
    ['package.json', false],
    // outside the repository
    ['../outside/a.test.ts', false],
    ['/etc/test.js', false],
  ])('%s → %s', (path, expected) => {
    expect(isTestFile(path, NODE_TEST_FILES)).toBe(expected);
  });
});

describe('the Python and Go defaults', () => {
  it.each([
    ['pkg/tests/test_api.py', PYTHON_TEST_FILES, true],
    ['test/test_api.py', PYTHON_TEST_FILES, true],
    ['src/pkg/test/helpers.py', PYTHON_TEST_FILES, true],
    ['conftest.py', PYTHON_TEST_FILES, true],
    ['pkg/testing.py', PYTHON_TEST_FILES, false],
    ['internal/x/x_test.go', GO_TEST_FILES, true],
    ['internal/x/testdata/in.txt', GO_TEST_FILES, true],
    ['internal/x/x.go', GO_TEST_FILES, false],
  ])('%s → %s', (path, patterns, expected) => {
    expect(isTestFile(path, patterns)).toBe(expected);
  });
});

describe('notATestFile', () => {
  it('names the patterns in force and the .nightshift.yml key that replaces them', () => {
    expect(notATestFile({ testFilePatterns: ['**/*.test.*', 'test/**'], configFile: null })).toBe(
      'not a test file under the patterns in force (**/*.test.*, test/**); if this repository keeps its tests elsewhere, set test_files in .nightshift.yml',
    );
  });

  it('names the configuration file the repository has, when it is .nightshift.yaml', () => {
    expect(notATestFile({ testFilePatterns: ['qa/**'], configFile: '.nightshift.yaml' })).toMatch(/set test_files in \.nightshift\.yaml$/);
  });
});

describe('runnerTestFiles', () => {
  it('reads ava, jest, mocha and tsd from package.json, dropping negations and prefixes', () => {
    const found = runnerTestFiles(
      {
        ava: { files: ['./src/**/*.check.js', '!src/helpers/**'] },
        jest: { testMatch: ['<rootDir>/qa/**/?(*.)+(spec|test).[jt]s?(x)'] },
        mocha: { spec: 'integration-tests' },
        tsd: { directory: 'types/' },
      },
      {},
    );
    expect(found.patterns).toEqual([
      'src/**/*.check.js',
      'qa/**/?(*.)+(spec|test).[jt]s?(x)',
      'integration-tests',
      'integration-tests/**',
      'types',
      'types/**',
    ]);
    expect(isTestFile('qa/unit/math.test.tsx', found.patterns)).toBe(true);
    expect(found.notes).toHaveLength(4);
  });

  it('ignores, with a note naming test_files, patterns that would make production code test files', () => {
    const found = runnerTestFiles({ ava: { files: ['src/**/*.js', '**/*', '*.{js,ts}', 'lib', 'test/**/*.js', 'src/only.js', 'qa/**/*.js'] } }, {});
    expect(found.patterns).toEqual(['test/**/*.js', 'src/only.js', 'qa/**/*.js']);
    expect(found.notes.filter((n) => n.includes('ignored'))).toEqual([
      'package.json "ava.files": ignored "src/**/*.js": it names no test file or test directory, and the coder could change no file it matches; set test_files in .nightshift.yml to choose the test files',
      'package.json "ava.files": ignored "**/*": it names no test file or test directory, and the coder could change no file it matches; set test_files in .nightshift.yml to choose the test files',
      'package.json "ava.files": ignored "*.{js,ts}": it names no test file or test directory, and the coder could change no file it matches; set test_files in .nightshift.yml to choose the test files',
      'package.json "ava.files": ignored "lib": it names no test file or test directory, and the coder could change no file it matches; set test_files in .nightshift.yml to choose the test files',
    ]);
  });

  it('ignores patterns that leave the repository and values of the wrong type', () => {
    const found = runnerTestFiles({ ava: { files: ['../other/test/**', '/abs/test/**'] }, jest: { testMatch: 12 }, mocha: 'not an object' }, {});
    expect(found.patterns).toEqual([]);
    expect(found.notes).toEqual([
      'package.json "ava.files": ignored "../other/test/**": not a path inside the repository; set test_files in .nightshift.yml to choose the test files',
      'package.json "ava.files": ignored "/abs/test/**": not a path inside the repository; set test_files in .nightshift.yml to choose the test files',
      'package.json "jest.testMatch" is not a string or a list of strings: not read',
    ]);
  });

  it('reads the spec of a mocha YAML configuration, flow lists included, and notes one that is not YAML', () => {
    expect(runnerTestFiles({}, { '.mocharc.yaml': 'spec: qa/*.spec.js # the specs\nreporter: dot\n' }).patterns).toEqual(['qa/*.spec.js']);
    // A flow list is YAML like any other: its patterns count (a spec the coder could edit if missed).
    expect(runnerTestFiles({}, { '.mocharc.yml': "spec: ['qa/*.js', qa/smoke.js]\n" }).patterns).toEqual(['qa/*.js', 'qa/smoke.js']);
    const broken = runnerTestFiles({}, { '.mocharc.yml': "spec: ['qa/*.js'\n" });
    expect(broken.patterns).toEqual([]);
    expect(broken.notes).toEqual([expect.stringMatching(/^\.mocharc\.yml: not valid YAML \(line \d+: .+\): not read$/)]);
    expect(runnerTestFiles({}, { '.mocharc.yml': 'require: x\n' })).toEqual({ patterns: [], notes: [] });
  });

  it('keeps each pattern once and at most 50', () => {
    const many = Array.from({ length: 60 }, (_, i) => `test/${i}/**`);
    const found = runnerTestFiles({ ava: { files: [...many, 'test/0/**'] } }, {});
    expect(found.patterns).toHaveLength(50);
    expect(found.notes[0]).toBe('package.json "ava.files": more than 50 test file patterns; the rest were not read');
  });
});

describe('isTestFile', () => {
  const node = ['**/*.test.*', '**/*.spec.*', '**/__tests__/**', 'test/**', 'tests/**'];
  it.each([
    ['src/a.test.ts', true],
    ['a.spec.js', true],
    ['src/__tests__/x.ts', true],
    ['test/helpers/x.ts', true],
    ['./tests/x.ts', true],
    ['src/a.ts', false],
    ['src/testing.ts', false],
    ['../outside/a.test.ts', false],
    ['/etc/a.test.ts', false],
  ])('%s → %s', (path, expected) => {
    expect(isTestFile(path, node)).toBe(expected);
  });
});
