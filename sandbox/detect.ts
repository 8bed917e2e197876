/**
 * A repository's sandbox profile (`detectProfile`): `.nightshift.yml` where it says so, and otherwise
 * what its manifest implies. This file holds the configuration file and the dispatch over the
 * ecosystems; each ecosystem's detection is in detect/ (node.ts, python.ts, go.ts), what they share in
 * detect/shared.ts.
 */
import { z } from 'zod';
import { fieldIssues, parseDuration } from '../shared/index.ts';
import { checkGoToolchain, detectGo } from './detect/go.ts';
import { detectNode } from './detect/node.ts';
import { checkPythonVersion, detectPython } from './detect/python.ts';
import { CONFIG_FILE, exists, PYTHON_MANIFESTS, readSmall, RepoProfile, type Detected } from './detect/shared.ts';
import { ProfileError } from './errors.ts';
import { hasRecipe } from './images.ts';
import { NODE_TEST_FILES } from './test-files.ts';
import { parseYamlMapping } from './yaml.ts';

export { CONFIG_FILE, PYTHON_MANIFESTS, RepoProfile, SCRATCH_DIR } from './detect/shared.ts';

const MINUTE = 60_000;

const duration = z.string().transform((text, ctx) => {
  const ms = parseDuration(text);
  if (ms === undefined || ms <= 0) {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not a duration (e.g. 90s, 10m)` });
    return z.NEVER;
  }
  return ms;
});

const stringOrList = z.union([z.string().min(1), z.array(z.string().min(1))]);

/**
 * `.nightshift.yml` (YAML 1.2, read by `parseYamlMapping`: no aliases, unique keys). Every key is optional; what is
 * missing is detected from the manifests. Example:
 *
 * ```yaml
 * image: nightshift-sandbox-node:24
 * setup:
 *   - npm ci
 *   - npm run build
 * setup_network: bridge          # or none, when dependencies are vendored
 * test: npm test
 * test_files:
 *   - "src/**\/*.test.ts"
 * env:
 *   - TZ=UTC
 * setup_timeout: 15m
 * test_timeout: 10m
 * ```
 *
 * `setup: []` (or an empty `setup:`) means no setup step.
 */
export const NightshiftYml = z
  .object({
    image: z
      .string()
      .regex(/^[a-z0-9][a-z0-9._/:@-]*$/, 'not an image reference (e.g. nightshift-sandbox-node:24)')
      .optional(),
    setup: stringOrList.nullable().optional(),
    setup_network: z.enum(['none', 'bridge']).optional(),
    test: z.string().min(1).optional(),
    test_files: z.union([z.string().min(1), z.array(z.string().min(1)).min(1, 'list at least one pattern')]).optional(),
    env: z.array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*=/, 'must be KEY=value')).optional(),
    setup_timeout: duration.optional(),
    test_timeout: duration.optional(),
  })
  .strict();

/** `.nightshift.yml` after parsing. */
export type NightshiftYml = z.infer<typeof NightshiftYml>;

/**
 * Chooses the image and commands for the repository checked out at `dir`: `.nightshift.yml` where it
 * says so, and otherwise what its manifest implies, looked for in this order:
 *
 * - `package.json`: the default Node image; setup `npm ci` with a package-lock.json or
 *   npm-shrinkwrap.json, `npm install --no-package-lock` with none (so that setup writes no lock file
 *   the coder would then commit), nothing without dependencies; test `npm test`
 *   (a `scripts.test` is required).
 * - a Python manifest (`PYTHON_MANIFESTS`: pyproject.toml, setup.py, setup.cfg, requirements files,
 *   tox.ini): `PYTHON_IMAGE`; a venv in `.nightshift/venv` that sees the image's packages (its pytest
 *   and build tools: PyPI may be out of reach), the requirements files installed into it, then the
 *   project itself, editable, with its `test` extra when it declares one; pytest from PyPI only when
 *   neither the image nor the project brought it; test `python -m pytest` from the venv. A
 *   pyproject.toml whose `requires-python` the image's Python does not satisfy is refused with
 *   `toolchain_missing`, saying how to provide one.
 * - `go.mod`: `GO_IMAGE` (Debian's Go 1.19); setup `go mod download` into `.nightshift/go/mod` when
 *   go.mod has requirements (none without: the module sets up offline); test `go test ./...`; the
 *   module cache in the workspace, the build cache in /tmp, GOTOOLCHAIN=local. A go.mod that needs a
 *   newer Go than the image has is refused with `toolchain_missing`, saying how to provide one.
 *
 * Rejects with ProfileError `invalid_repo_config` (a configuration or manifest that does not parse or
 * validate, listing every problem), `unknown_repo_type` (nothing to go by) or `toolchain_missing`
 * (a go.mod that needs a newer Go than the image has, a `requires-python` its Python does not satisfy).
 */
export async function detectProfile(dir: string): Promise<RepoProfile> {
  const config = await readConfig(dir);
  const detected = await detectManifest(dir);
  const yml = config?.value;
  if (!detected && !yml) {
    throw new ProfileError(
      'unknown_repo_type',
      `cannot tell how to test the repository at ${dir}: it has no ${CONFIG_FILE}, package.json, Python manifest ` +
        `(${PYTHON_MANIFESTS.join(', ')}) or go.mod; ` +
        `add a ${CONFIG_FILE} with at least "image:" and "test:"`,
    );
  }
  const image = yml?.image ?? detected?.image;
  const test = yml?.test ?? detected?.test ?? null;
  const missing: { path: string; message: string }[] = [];
  if (image === undefined) missing.push({ path: 'image', message: `required in ${config!.file} (no manifest to detect it from)` });
  if (test === null) {
    missing.push({ path: 'test', message: detected?.testProblem ?? `required in ${config!.file} (no manifest to detect it from)` });
  }
  if (missing.length > 0) {
    throw new ProfileError('invalid_repo_config', `cannot tell how to test the repository at ${dir}`, missing);
  }
  if (detected?.goMod) checkGoToolchain(detected.goMod, image!, config?.file ?? CONFIG_FILE);
  if (detected?.requiresPython !== undefined) checkPythonVersion(detected.requiresPython, image!, config?.file ?? CONFIG_FILE);
  const setup = yml?.setup !== undefined ? listOrNull(yml.setup) : (detected?.setup ?? null);
  const env = { ...detected?.env, ...Object.fromEntries((yml?.env ?? []).map((kv) => splitOnce(kv, '='))) };
  return RepoProfile.parse({
    detectedFrom: detected?.detectedFrom ?? null,
    configFile: config?.file ?? null,
    image: image!,
    imageShipped: hasRecipe(image!),
    setup,
    setupNetwork: yml?.setup_network ?? 'bridge',
    test: test!,
    env,
    testFilePatterns: yml?.test_files !== undefined ? [yml.test_files].flat() : (detected?.testFilePatterns ?? [...NODE_TEST_FILES]),
    timeouts: { setupMs: yml?.setup_timeout ?? 15 * MINUTE, testMs: yml?.test_timeout ?? 10 * MINUTE },
    notes: [...(detected?.notes ?? []), ...(yml?.test_files === undefined ? (detected?.testFileNotes ?? []) : [])],
  });
}

async function readConfig(dir: string): Promise<{ file: '.nightshift.yml' | '.nightshift.yaml'; value: NightshiftYml } | null> {
  const yml = await readSmall(dir, '.nightshift.yml');
  const yaml = await readSmall(dir, '.nightshift.yaml');
  if (yml !== null && yaml !== null) {
    throw new ProfileError('invalid_repo_config', 'both .nightshift.yml and .nightshift.yaml exist; keep one');
  }
  const file = yml !== null ? '.nightshift.yml' : '.nightshift.yaml';
  const text = yml ?? yaml;
  if (text === null) return null;
  const parsed = parseYamlMapping(text);
  if (!parsed.ok) {
    throw new ProfileError(
      'invalid_repo_config',
      `${file} is not valid YAML here (a mapping of "key: value", no aliases, no duplicate keys)`,
      parsed.issues.map((i) => ({ path: `line ${i.line}`, message: i.message })),
    );
  }
  const checked = NightshiftYml.safeParse(parsed.value);
  if (!checked.success) {
    // Each issue says where in the file, when the file has a value there.
    const issues = fieldIssues(checked.error.issues).map((i, n) => {
      const line = parsed.lineOf(checked.error.issues[n]!.path as (string | number)[]);
      return line === undefined ? i : { ...i, message: `${i.message} (line ${line})` };
    });
    throw new ProfileError('invalid_repo_config', `${file} is invalid`, issues);
  }
  return { file, value: checked.data };
}

async function detectManifest(dir: string): Promise<Detected | null> {
  const found: Detected[] = [];
  const pkg = await readSmall(dir, 'package.json');
  if (pkg !== null) found.push(await detectNode(dir, pkg));
  const python = await detectPython(dir);
  if (python) found.push(python);
  if (await exists(dir, 'go.mod')) found.push(await detectGo(dir));
  const [first, ...others] = found;
  if (!first) return null;
  if (others.length > 0) {
    first.notes.push(`also found ${others.map((d) => d.detectedFrom).join(', ')}; used ${first.detectedFrom} (set ${CONFIG_FILE} to choose)`);
  }
  return first;
}

function listOrNull(value: string | string[] | null): string[] | null {
  if (value === null) return null;
  const list = [value].flat();
  return list.length === 0 ? null : list;
}

function splitOnce(text: string, sep: string): [string, string] {
  const i = text.indexOf(sep);
  return [text.slice(0, i), text.slice(i + sep.length)];
}
