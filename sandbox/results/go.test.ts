import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { goModulePath, goTestOutput, parseGoTestJson } from './go.ts';

/*
 * test/fixtures/reports/go*.jsonl are the stdout of `go test -json ./...` in nightshift-sandbox-go:1.19
 * (Debian's Go 1.19.8), offline, on two small modules; go-stderr.txt is the first run's stderr:
 * - go.jsonl (module example.com/calc): add (one passing, one failing test), broken (does not
 *   compile), notests (no test files), skip (one skipped, one passing), sub (subtests, one failing,
 *   one nested);
 * - go-odd.jsonl (module example.com/odd): the root package, mainexit (TestMain exits 1 before any
 *   test), panics (a test panics: the tests after it never run), vanish (init calls os.Exit(0):
 *   the package "passes" with no tests).
 */
const fixture = (name: string) => readFileSync(join(import.meta.dirname, '../../test/fixtures/reports', name), 'utf8');
/** The tests as [file, name, status], grouped by package in name order (packages finish in any order), in run order within one. */
const brief = (p: { tests: { file: string | null; name: string; status: string }[] }) =>
  p.tests.map((t) => [t.file, t.name, t.status]).sort((a, b) => String(a[0]).localeCompare(String(b[0])));

describe('go test -json', () => {
  it('reads passing, failing, skipped and nested subtests, each named with its package directory', () => {
    const parsed = parseGoTestJson(fixture('go.jsonl'), fixture('go-stderr.txt'), 'example.com/calc');
    expect(parsed.found).toBe(true);
    expect(brief(parsed)).toEqual([
      ['add', 'TestAdd', 'passed'],
      ['add', 'TestAddWrong', 'failed'],
      ['skip', 'TestLater', 'skipped'],
      ['skip', 'TestNow', 'passed'],
      ['sub', 'TestSub', 'failed'],
      ['sub', 'TestSub › positive', 'passed'],
      ['sub', 'TestSub › negative_result', 'failed'],
      ['sub', 'TestSub › nested', 'passed'],
      ['sub', 'TestSub › nested › deeper', 'passed'],
    ]);
    const message = (name: string) => parsed.tests.find((t) => t.name === name)?.message;
    expect(message('TestAddWrong')).toBe('add_test.go:13: Add(2, 2) = 4, want 5');
    expect(message('TestSub › negative_result')).toBe('sub_test.go:13: Sub(2, 3) = -1, want 1');
    expect(message('TestAdd')).toBeUndefined();
  });

  it('reports a package that does not build as an error of that package, with the compiler messages, not as tests', () => {
    const parsed = parseGoTestJson(fixture('go.jsonl'), fixture('go-stderr.txt'), 'example.com/calc');
    expect(parsed.errors).toEqual([
      { file: 'broken', message: "the package's tests did not build (build failed)\nbroken/broken.go:3:28: undefined: undefinedThing" },
    ]);
    // Without go's stderr the package is still named.
    expect(parseGoTestJson(fixture('go.jsonl'), '', 'example.com/calc').errors).toEqual([{ file: 'broken', message: "the package's tests did not build (build failed)" }]);
  });

  it('reports a package that failed outside its tests, a panicking test, and a package whose tests vanished', () => {
    const parsed = parseGoTestJson(fixture('go-odd.jsonl'), '', 'example.com/odd');
    expect(brief(parsed)).toEqual([
      ['.', 'TestRoot', 'passed'],
      ['panics', 'TestFine', 'passed'],
      ['panics', 'TestPanics', 'failed'],
    ]);
    expect(parsed.tests.find((t) => t.name === 'TestPanics')!.message).toMatch(/^panic: assignment to entry in nil map/);
    expect(parsed.errors).toEqual([{ file: 'mainexit', message: 'the package failed outside its tests\ndatabase unreachable' }]);
  });

  it('names packages of other modules by import path, and without a module every package', () => {
    expect(parseGoTestJson(fixture('go-odd.jsonl'), '', 'example.com/other').tests.find((t) => t.name === 'TestRoot')!.file).toBe('example.com/odd');
    expect(parseGoTestJson(fixture('go.jsonl'), '', null).tests.find((t) => t.name === 'TestAdd')!.file).toBe('example.com/calc/add');
  });

  it('fails a test that started but never finished, and reads build events of newer Go', () => {
    const events = [
      { Action: 'run', Package: 'm/a', Test: 'TestHangs' },
      { Action: 'output', Package: 'm/a', Test: 'TestHangs', Output: '=== RUN   TestHangs\n' },
      { Action: 'output', Package: 'm/a', Output: 'panic: test timed out after 1s\n' },
      { Action: 'fail', Package: 'm/a' },
      { ImportPath: 'm/b.test', Action: 'build-output', Output: '# m/b\n' },
      { ImportPath: 'm/b [m/b.test]', Action: 'build-output', Output: 'b.go:1:1: expected package\n' },
      { Action: 'fail', Package: 'm/b', FailedBuild: 'm/b [m/b.test]' },
    ];
    const parsed = parseGoTestJson(events.map((e) => JSON.stringify(e)).join('\n'), '', 'm');
    expect(parsed.tests).toEqual([{ file: 'a', name: 'TestHangs', status: 'failed', message: 'the test never finished (its test binary stopped)' }]);
    expect(parsed.errors).toEqual([{ file: 'b', message: "the package's tests did not build (build failed)" }]);
  });

  it('finds nothing in output without events (a lint step that stopped the run, another runner)', () => {
    expect(parseGoTestJson('lint: slug/slug.go is not gofmt-formatted\n{"not":"an event"}\n', 'exit 1', 'm')).toEqual({ found: false, tests: [], errors: [] });
  });

  it("gives back go's human output: the events' output, without the === RUN lines, other lines as they were", () => {
    const text = goTestOutput(`lint ok\n${fixture('go.jsonl')}`);
    expect(text).not.toContain('"Action"');
    expect(text).not.toContain('=== RUN');
    expect(text).toContain('lint ok\n');
    expect(text).toContain('    add_test.go:13: Add(2, 2) = 4, want 5\n--- FAIL: TestAddWrong (0.00s)\n');
    expect(text).toContain('FAIL\texample.com/calc/broken [build failed]\n');
    expect(text).toContain('    sub_test.go:13: Sub(2, 3) = -1, want 1\n');
    expect(text).toContain('    --- FAIL: TestSub/negative_result (0.00s)\n');
    expect(text).toMatch(/ok  \texample\.com\/calc\/skip\t[\d.]+s\n/);
    expect(goTestOutput('no events\nat all')).toBe('no events\nat all');
  });

  it("reads the module path from go.mod, never through a link", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nightshift-gomod-'));
    try {
      expect(await goModulePath(dir)).toBeNull();
      writeFileSync(join(dir, 'go.mod'), '// a comment\nmodule "example.com/x" // the module\n\ngo 1.19\n');
      expect(await goModulePath(dir)).toBe('example.com/x');
      writeFileSync(join(dir, 'real.mod'), 'module example.com/y\n');
      rmSync(join(dir, 'go.mod'));
      symlinkSync(join(dir, 'real.mod'), join(dir, 'go.mod'));
      expect(await goModulePath(dir)).toBeNull();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
