import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { describeDocker, IN_CI } from '../test/helpers/docker.ts';
import { detectProfile, DockerSandbox, GO_IMAGE, goModulePath, goTestOutput, parseGoTestJson, prepareResults } from './index.ts';
import { testLabels } from '../test/helpers/leftovers.ts';

// describeDocker needs the engine and the Node and gate images; this file needs the Go image too
// (sandbox/image/build-go.sh, run by scripts/install). Same rule: under CI a missing image fails.
const missing = await new DockerSandbox({ labels: testLabels() }).ensureImage(GO_IMAGE).then(
  () => undefined,
  (err: unknown) => (err as Error).message,
);
const itGo = missing === undefined || IN_CI ? it : it.skip;
const suffix = missing === undefined || IN_CI ? '' : ` [skipped: ${missing}]`;

/** A module without requirements: a package with a passing, a failing and a skipped test, subtests, a package that does not build, and a go vet gate. */
const MODULE: Record<string, string> = {
  'go.mod': 'module example.com/calc\n\ngo 1.19\n',
  'add/add.go': 'package add\n\n// Add adds.\nfunc Add(a, b int) int { return a + b }\n',
  'add/add_test.go': [
    'package add',
    '',
    'import "testing"',
    '',
    'func TestAdd(t *testing.T) {',
    '\tif Add(2, 3) != 5 {',
    '\t\tt.Fatal("2+3")',
    '\t}',
    '}',
    '',
    'func TestAddWrong(t *testing.T) {',
    '\tif got := Add(2, 2); got != 5 {',
    '\t\tt.Errorf("Add(2, 2) = %d, want 5", got)',
    '\t}',
    '}',
    '',
    'func TestLater(t *testing.T) { t.Skip("not yet") }',
    '',
    'func TestCases(t *testing.T) {',
    '\tt.Run("two and two", func(t *testing.T) {})',
    '}',
    '',
  ].join('\n'),
  'broken/broken.go': 'package broken\n\nfunc Broken() int { return undefinedThing }\n',
  'broken/broken_test.go': 'package broken\n\nimport "testing"\n\nfunc TestBroken(t *testing.T) { Broken() }\n',
};

describeDocker('the Go sandbox image', () => {
  const sandbox = new DockerSandbox({ labels: testLabels() });
  let ws: string;
  beforeEach(() => {
    ws = mkdtempSync(join(tmpdir(), 'nightshift-go-'));
    for (const [name, text] of Object.entries(MODULE)) {
      mkdirSync(dirname(join(ws, name)), { recursive: true });
      writeFileSync(join(ws, name), text);
    }
  });
  afterEach(() => {
    rmSync(ws, { recursive: true, force: true });
  });

  itGo(
    `runs go test offline with per-test results through the go shim, and a failing go vet gate still fails${suffix}`,
    async () => {
      const profile = await detectProfile(ws);
      expect(profile).toMatchObject({ detectedFrom: 'go.mod', image: GO_IMAGE, imageShipped: true, setup: null, test: 'go test ./...' });

      const run = async (test: string) => {
        await using results = await prepareResults(ws, sandbox.mountPoint(ws), profile.env, test);
        const r = await sandbox.run({ image: profile.image, workspace: ws, command: results.command(test), env: { ...profile.env, ...results.env }, network: 'none', timeoutMs: 180_000 });
        return { r, go: parseGoTestJson(r.stdout, r.stderr, await goModulePath(ws)) };
      };

      const { r, go } = await run(profile.test);
      expect(r, `${r.stdout}\n${r.stderr}`).toMatchObject({ exitCode: 2, timedOut: false }); // 2: a package did not build
      expect(go.tests.map((t) => [t.file, t.name, t.status])).toEqual([
        ['add', 'TestAdd', 'passed'],
        ['add', 'TestAddWrong', 'failed'],
        ['add', 'TestLater', 'skipped'],
        ['add', 'TestCases', 'passed'],
        ['add', 'TestCases › two_and_two', 'passed'],
      ]);
      expect(go.tests[1]!.message).toBe('add_test.go:13: Add(2, 2) = 4, want 5');
      expect(go.errors).toEqual([{ file: 'broken', message: "the package's tests did not build (build failed)\nbroken/broken.go:3:28: undefined: undefinedThing" }]);
      const text = goTestOutput(r.stdout);
      expect(text).toContain('--- FAIL: TestAddWrong');
      expect(text).toContain('FAIL\texample.com/calc/broken [build failed]');
      expect(text).not.toContain('"Action"');

      // go vet as a gate before the tests: the shim leaves it alone, so its findings still fail the run.
      writeFileSync(join(ws, 'add/vet.go'), 'package add\n\nimport "fmt"\n\n// Show prints.\nfunc Show() { fmt.Printf("%d\\n", "x") }\n');
      const vet = await run('go vet ./add && go test ./add');
      expect(vet.r.exitCode, `${vet.r.stdout}\n${vet.r.stderr}`).not.toBe(0);
      expect(vet.r.stderr).toContain('fmt.Printf format %d has arg "x" of wrong type string');
      expect(vet.go.found).toBe(false);
    },
    300_000,
  );
});
