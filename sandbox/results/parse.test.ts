import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseJestJson, parseJunit, parseMochaJson, parseTap } from './parse.ts';

/*
 * The reports in test/fixtures/reports were written by the real runners (vitest 3, jest 30, mocha 11,
 * ava 6, node 24's test runner, pytest 9) in the sandbox image, through nightshift's preload, on a
 * suite of one passing, one failing and one skipped test (`*-broken`: plus a test file that imports a
 * module that does not exist).
 */
const fixture = (name: string) => readFileSync(join(import.meta.dirname, '../../test/fixtures/reports', name), 'utf8');
const MOUNT = '/workspace';
const brief = (p: { tests: { file: string | null; name: string; status: string }[] }) => p.tests.map((t) => [t.file, t.name, t.status]);

describe('runner reports', () => {
  it('reads vitest and jest JSON per test, with files relative to the workspace', () => {
    for (const runner of ['vitest', 'jest']) {
      const parsed = parseJestJson(fixture(`${runner}.json`), MOUNT);
      expect(brief(parsed), runner).toEqual([
        ['test/a.test.js', 'math › adds', 'passed'],
        ['test/a.test.js', 'math › fails', 'failed'],
        ['test/a.test.js', 'math › skipped', 'skipped'],
      ]);
      expect(parsed.tests[1]!.message, runner).toMatch(/expected|Expected/);
      expect(parsed.errors, runner).toEqual([]);
    }
  });

  it('reports a vitest or jest file that did not load as an error, not as a test', () => {
    for (const runner of ['vitest', 'jest']) {
      const parsed = parseJestJson(fixture(`${runner}-broken.json`), MOUNT);
      expect(parsed.tests.map((t) => t.file), runner).not.toContain('test/broken.test.js');
      expect(parsed.errors, runner).toEqual([{ file: 'test/broken.test.js', message: expect.stringMatching(/Cannot find module/) }]);
    }
  });

  it("reads mocha's json reporter", () => {
    const parsed = parseMochaJson(fixture('mocha.json'), MOUNT);
    expect(brief(parsed)).toEqual([
      ['test/a.test.js', 'math adds', 'passed'],
      ['test/a.test.js', 'math fails', 'failed'],
      ['test/a.test.js', 'math skipped', 'skipped'],
    ]);
    expect(parsed.tests[1]!.message).toBe('1 == 2');
  });

  it('treats a failed mocha hook as an error outside the tests', () => {
    const report = {
      tests: [{ title: 'a', fullTitle: 's a', file: '/workspace/t.js' }],
      passes: [],
      failures: [{ title: '"before all" hook for "a"', fullTitle: 's "before all" hook for "a"', file: '/workspace/t.js', err: { message: 'boom' } }],
      pending: [],
    };
    const parsed = parseMochaJson(JSON.stringify(report), MOUNT);
    expect(parsed.errors).toEqual([{ file: 't.js', message: 's "before all" hook for "a": boom' }]);
  });

  it("reads ava's TAP, skips and files that broke outside their tests", () => {
    expect(brief(parseTap(fixture('ava.tap'))).sort()).toEqual([
      [null, 'test › adds', 'passed'],
      [null, 'test › b › b works', 'passed'],
      [null, 'test › b › b › nested title', 'failed'],
      [null, 'test › fails', 'failed'],
      [null, 'test › skipped', 'skipped'],
    ]);
    const broken = parseTap(fixture('ava-broken.tap'));
    expect(broken.tests).toHaveLength(5);
    expect(broken.errors.map((e) => e.message.split('\n')[0])).toEqual([
      "Error [ERR_MODULE_NOT_FOUND]: Cannot find module '/workspace/test/nope.js' imported from /workspace/test/broken.test.js",
      'test/broken.test.js exited with a non-zero exit code: 1',
    ]);
  });

  it('reads TAP todo directives and escaped hashes', () => {
    expect(brief(parseTap('TAP version 13\nnot ok 1 - later # TODO\nok 2 - uses \\# signs\n1..2\n'))).toEqual([
      [null, 'later', 'skipped'],
      [null, 'uses # signs', 'passed'],
    ]);
  });

  it("reads node:test's junit reporter, suites nested in the name", () => {
    const parsed = parseJunit(fixture('node-test.xml'), MOUNT, 'node:test');
    expect(brief(parsed)).toEqual([
      ['test/a.test.js', 'math › adds', 'passed'],
      ['test/a.test.js', 'math › fails', 'failed'],
      ['test/a.test.js', 'math › skipped', 'skipped'],
      ['test/a.test.js', 'math › later', 'skipped'],
      ['test.js', 'direct', 'passed'],
      ['test/a.test.js', 'top', 'passed'],
    ]);
    expect(parsed.errors).toEqual([]);
    const broken = parseJunit(fixture('node-test-broken.xml'), MOUNT, 'node:test');
    expect(broken.tests.map((t) => t.file)).not.toContain('test/broken.test.js');
    expect(broken.errors).toEqual([{ file: 'test/broken.test.js', message: expect.any(String) }]);
  });

  it("reads pytest's junit report, classes in the name and collection errors apart", () => {
    expect(brief(parseJunit(fixture('pytest.xml'), MOUNT, 'pytest'))).toEqual([
      ['tests/test_math.py', 'test_adds', 'passed'],
      ['tests/test_math.py', 'test_fails', 'failed'],
      ['tests/test_math.py', 'test_skipped', 'skipped'],
      ['tests/test_math.py', 'TestGroup › test_inner', 'passed'],
    ]);
    const broken = parseJunit(fixture('pytest-broken.xml'), MOUNT, 'pytest');
    expect(broken.tests).toEqual([]);
    expect(broken.errors).toEqual([{ file: 'tests/test_broken.py', message: expect.stringMatching(/ModuleNotFoundError|collection failure/) }]);
  });

  it('refuses a report that is not the format it claims', () => {
    expect(() => parseJestJson('{"testResults": 3}', MOUNT)).toThrow();
    expect(() => parseMochaJson('not json', MOUNT)).toThrow();
  });
});
