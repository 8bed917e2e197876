import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { describeDocker, IN_CI } from '../test/helpers/docker.ts';
import { detectProfile, DockerSandbox, PYTHON_IMAGE } from './index.ts';
import { testLabels } from '../test/helpers/leftovers.ts';

// describeDocker needs the engine and the Node and gate images; this file needs the Python image too
// (sandbox/image/build-python.sh, run by scripts/install). Same rule: under CI a missing image fails.
const missing = await new DockerSandbox({ labels: testLabels() }).ensureImage(PYTHON_IMAGE).then(
  () => undefined,
  (err: unknown) => (err as Error).message,
);
const itPython = missing === undefined || IN_CI ? it : it.skip;
const suffix = missing === undefined || IN_CI ? '' : ` [skipped: ${missing}]`;

/** A pure-Python project: setuptools build, a src/ package, one passing and one failing test. */
const PROJECT: Record<string, string> = {
  'pyproject.toml': [
    '[build-system]',
    'requires = ["setuptools>=61"]',
    'build-backend = "setuptools.build_meta"',
    '',
    '[project]',
    'name = "calc"',
    'version = "0.1.0"',
    '',
  ].join('\n'),
  'src/calc/__init__.py': 'def add(a, b):\n    return a + b\n',
  'tests/test_x.py': [
    'from calc import add',
    '',
    '',
    'def test_adds():',
    '    assert add(2, 3) == 5',
    '',
    '',
    'def test_adds_wrong():',
    '    assert add(2, 2) == 5',
    '',
  ].join('\n'),
};

describeDocker('the Python sandbox image', () => {
  const sandbox = new DockerSandbox({ labels: testLabels() });
  let ws: string;
  beforeEach(() => {
    ws = mkdtempSync(join(tmpdir(), 'nightshift-python-'));
  });
  afterEach(() => {
    rmSync(ws, { recursive: true, force: true });
  });

  itPython(
    `sets up a pure-Python project through the egress gate without PyPI, then runs pytest offline with JUnit XML${suffix}`,
    async () => {
      await sandbox.ensureImage(PYTHON_IMAGE);
      for (const [name, text] of Object.entries(PROJECT)) {
        mkdirSync(dirname(join(ws, name)), { recursive: true });
        writeFileSync(join(ws, name), text);
      }
      const profile = await detectProfile(ws);
      expect(profile).toMatchObject({ detectedFrom: 'pyproject.toml', image: PYTHON_IMAGE, imageShipped: true, setupNetwork: 'bridge' });

      for (const command of profile.setup!) {
        const r = await sandbox.run({
          image: profile.image,
          workspace: ws,
          command,
          env: profile.env,
          network: profile.setupNetwork,
          timeoutMs: 120_000,
        });
        expect(r, `setup command failed: ${command}\n${r.stdout}\n${r.stderr}`).toMatchObject({ exitCode: 0, timedOut: false });
        // Built with the image's setuptools and wheel, not by the isolated-build fallback that needs PyPI.
        expect(r.stderr).not.toMatch(/retrying with an isolated build/);
      }

      const test = await sandbox.run({
        image: profile.image,
        workspace: ws,
        command: profile.test,
        env: { ...profile.env, PYTEST_ADDOPTS: '--junitxml=/workspace/.nightshift/r.xml -o junit_family=xunit1' },
        network: 'none',
        timeoutMs: 60_000,
      });
      expect(test, `${test.stdout}\n${test.stderr}`).toMatchObject({ exitCode: 1, timedOut: false });
      expect(test.stdout).toMatch(/platform linux -- Python 3\.11\./);
      expect(test.stdout).toMatch(/FAILED tests\/test_x\.py::test_adds_wrong/);
      expect(test.stdout).toMatch(/1 failed, 1 passed/);

      const xml = readFileSync(join(ws, '.nightshift/r.xml'), 'utf8');
      const cases = [...xml.matchAll(/<testcase\b[^>]*>/g)].map((m) => m[0]);
      expect(cases).toHaveLength(2);
      for (const name of ['test_adds', 'test_adds_wrong']) {
        const tag = cases.find((c) => c.includes(`name="${name}"`));
        expect(tag, `no testcase named ${name} in\n${xml}`).toBeDefined();
        expect(tag).toContain('file="tests/test_x.py"');
      }
    },
    300_000,
  );
});
