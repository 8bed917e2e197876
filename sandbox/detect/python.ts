/**
 * Python detection: the manifests that make a repository a Python one, the venv setup that installs
 * them, and the check of pyproject.toml's `requires-python` (PEP 440 specifiers in their common forms)
 * against the image's Python. TOML and INI are read by simple line checks, no parser.
 */
import { ProfileError } from '../errors.ts';
import { PYTHON_IMAGE, PYTHON_IMAGE_TAG, PYTHON_IMAGE_VERSION } from '../images.ts';
import { PYTHON_TEST_FILES } from '../test-files.ts';
import { CONFIG_FILE, exists, PYTHON_MANIFESTS, readSmall, rootFiles, SCRATCH_DIR, type Detected } from './shared.ts';

/** The requirements files installed by the setup step, in this order, when present at the root. */
const REQUIREMENTS_FILES: readonly string[] = PYTHON_MANIFESTS.filter((name) => name.startsWith('requirements'));

export async function detectPython(dir: string): Promise<Detected | null> {
  let detectedFrom: (typeof PYTHON_MANIFESTS)[number] | undefined;
  const present = new Set<string>();
  for (const name of PYTHON_MANIFESTS) {
    if (!(await exists(dir, name))) continue;
    detectedFrom ??= name;
    present.add(name);
  }
  if (detectedFrom === undefined) return null;
  const pyproject = present.has('pyproject.toml') ? await readSmall(dir, 'pyproject.toml') : null;
  const setupCfg = present.has('setup.cfg') ? await readSmall(dir, 'setup.cfg') : null;
  const notes: string[] = [];

  const venv = `${SCRATCH_DIR}/venv`;
  const pip = `${venv}/bin/python -m pip install --no-input`;
  // --system-site-packages: the venv sees the image's pytest, setuptools and wheel, so a project that
  // pins none of its own needs nothing from PyPI.
  const setup = [`python3 -m venv --system-site-packages ${venv}`];
  const requirements = REQUIREMENTS_FILES.filter((name) => present.has(name));
  if (requirements.length > 0) setup.push(`${pip} ${requirements.map((r) => `-r ${r}`).join(' ')}`);
  const others = (await rootFiles(dir)).filter((name) => /^requirements.*\.txt$/.test(name) && !REQUIREMENTS_FILES.includes(name));
  if (others.length > 0) {
    notes.push(`${others.join(', ')} not installed: the setup step installs ${REQUIREMENTS_FILES.join(', ')} (set setup: in ${CONFIG_FILE} to change it)`);
  }

  const pyprojectProject = pyproject !== null && (hasTomlTable(pyproject, 'project') || hasTomlTable(pyproject, 'build-system'));
  if (pyprojectProject || present.has('setup.py')) {
    const extra =
      (pyproject !== null && hasKeyInSection(pyproject, '[project.optional-dependencies]', 'test')) ||
      (setupCfg !== null && hasKeyInSection(setupCfg, '[options.extras_require]', 'test'));
    const target = extra ? "'.[test]'" : '.';
    // First with the image's setuptools and wheel (no build isolation: nothing fetched to build it),
    // pip checking that they satisfy the build requirements; when they do not (another backend, a newer
    // setuptools), with pip's isolated build, which fetches them from PyPI.
    setup.push(
      `${pip} --no-build-isolation --check-build-dependencies -e ${target} || ` +
        `{ echo 'nightshift: the image cannot build this project offline; retrying with an isolated build (needs PyPI)' >&2; ` +
        `${pip} -e ${target}; }`,
    );
  } else if (present.has('pyproject.toml')) {
    notes.push('pyproject.toml declares no [project] or [build-system]: the project itself is not installed');
  }
  setup.push(`${venv}/bin/python -c 'import pytest' 2>/dev/null || ${pip} pytest`);

  const requiresPython = pyproject === null ? null : readRequiresPython(pyproject);
  if (requiresPython !== null && parsePythonSpecifier(requiresPython) === null) {
    notes.push(`pyproject.toml's requires-python "${requiresPython}" is not a specifier nightshift reads: not checked against the image's Python`);
  }

  return {
    detectedFrom,
    image: PYTHON_IMAGE,
    setup,
    test: `${venv}/bin/python -m pytest`,
    env: { PIP_DISABLE_PIP_VERSION_CHECK: '1', PYTHONDONTWRITEBYTECODE: '1' },
    testFilePatterns: [...PYTHON_TEST_FILES],
    testFileNotes: [],
    notes,
    ...(requiresPython !== null ? { requiresPython } : {}),
  };
}

/**
 * The `requires-python` of pyproject.toml's `[project]` table, as written (a one-line TOML string,
 * `"…"` or `'…'`), or null when there is none. A simple line reading, no TOML parser.
 */
export function readRequiresPython(text: string): string | null {
  let inProject = false;
  for (const line of text.split(/\r?\n/)) {
    const section = sectionHeader(line);
    if (section !== null) {
      inProject = section === '[project]';
      continue;
    }
    if (!inProject) continue;
    const m = /^\s*(["']?)requires-python\1\s*=\s*(?:"([^"\\]*)"|'([^']*)')\s*(#.*)?$/.exec(line);
    if (m) return (m[2] ?? m[3]!).trim();
  }
  return null;
}

/** One clause of a version specifier: `>=3.12`, `==3.11.*`, `~=3.11`. */
interface SpecifierClause {
  op: '~=' | '==' | '!=' | '<=' | '>=' | '<' | '>';
  version: number[];
  wildcard: boolean;
}

/**
 * The clauses of a PEP 440 version specifier in its common forms: comma-separated `~=`, `==`, `!=`,
 * `<=`, `>=`, `<`, `>` with a release version (`3`, `3.12`, `3.12.1`), `.*` after `==` and `!=`.
 * Null for anything else (pre-releases, `===`, Poetry's `^3.12`…): it is not checked, never refused.
 */
export function parsePythonSpecifier(spec: string): SpecifierClause[] | null {
  const clauses: SpecifierClause[] = [];
  for (const part of spec.split(',')) {
    const m = /^\s*(~=|==|!=|<=|>=|<|>)\s*(\d+(?:\.\d+)*)(\.\*)?\s*$/.exec(part);
    if (!m) return null;
    const op = m[1] as SpecifierClause['op'];
    const version = m[2]!.split('.').map(Number);
    const wildcard = m[3] !== undefined;
    if (wildcard && op !== '==' && op !== '!=') return null;
    if (op === '~=' && version.length < 2) return null;
    clauses.push({ op, version, wildcard });
  }
  return clauses;
}

function compareVersions(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}

function hasPrefix(v: readonly number[], prefix: readonly number[]): boolean {
  return prefix.every((p, i) => (v[i] ?? 0) === p);
}

function clauseHolds(v: readonly number[], c: SpecifierClause): boolean {
  const cmp = compareVersions(v, c.version);
  switch (c.op) {
    case '==':
      return c.wildcard ? hasPrefix(v, c.version) : cmp === 0;
    case '!=':
      return c.wildcard ? !hasPrefix(v, c.version) : cmp !== 0;
    case '~=':
      return cmp >= 0 && hasPrefix(v, c.version.slice(0, -1));
    case '<=':
      return cmp <= 0;
    case '>=':
      return cmp >= 0;
    case '<':
      return cmp < 0;
    case '>':
      return cmp > 0;
  }
}

/**
 * Whether some release of Python `major.minor` (3.11.0, 3.11.1, …) satisfies every clause: the images
 * are known by their series only, so a clause about patch releases (`>=3.11.4`) is given the benefit
 * of the doubt. The patch releases worth trying are 0, the clauses' own and their neighbours, and a
 * large one.
 */
function seriesSatisfies(series: readonly [number, number], clauses: readonly SpecifierClause[]): boolean {
  const patches = new Set([0, 9999]);
  for (const c of clauses) {
    if (c.version[0] === series[0] && c.version[1] === series[1] && c.version[2] !== undefined) {
      for (const p of [c.version[2] - 1, c.version[2], c.version[2] + 1]) if (p >= 0) patches.add(p);
    }
  }
  return [...patches].some((p) => clauses.every((c) => clauseHolds([series[0], series[1], p], c)));
}

/**
 * Refuses, before anything runs, a pyproject.toml whose `requires-python` the image's Python does not
 * satisfy. The image's Python is known for nightshift's Python images only: `PYTHON_IMAGE` has
 * `PYTHON_IMAGE_VERSION` (Debian's), and an image built from a Python release with
 * NIGHTSHIFT_PYTHON_TARBALL is tagged with its major.minor (`nightshift-sandbox-python:3.12`); any
 * other image is the user's to match. A specifier this does not read is not checked.
 */
export function checkPythonVersion(spec: string, image: string, configFile: string): void {
  const tag = image === PYTHON_IMAGE ? PYTHON_IMAGE_VERSION : PYTHON_IMAGE_TAG.exec(image)?.[1];
  const clauses = parsePythonSpecifier(spec);
  if (tag === undefined || clauses === null) return;
  const [major, minor] = tag.split('.').map(Number) as [number, number];
  if (seriesSatisfies([major, minor], clauses)) return;
  // The lowest series next to those the specifier names that satisfies it, to name in the advice.
  const candidates = clauses
    .flatMap((c) => [-1, 0, 1].map((d): [number, number] => [c.version[0]!, (c.version[1] ?? 0) + d]))
    .filter(([, m]) => m >= 0)
    .sort((a, b) => compareVersions(a, b));
  const fits = candidates.find((s) => seriesSatisfies(s, clauses));
  const want = fits === undefined ? '3.x' : fits.join('.');
  throw new ProfileError(
    'toolchain_missing',
    `pyproject.toml's requires-python "${spec}" is not satisfied by the Python of the sandbox image ${image} (Python ${tag})` +
      `${fits === undefined ? '' : `; Python ${want} satisfies it`}. ` +
      `The setup step makes its venv with the image's Python, and none other can be fetched. Provide one: build a Python image ` +
      `from a python-build-standalone "install_only" release you have with ` +
      `\`NIGHTSHIFT_PYTHON_TARBALL=/path/to/cpython-${want}.x+…-x86_64-unknown-linux-gnu-install_only.tar.gz sandbox/image/build-python.sh\` ` +
      `(it prints the image's name, nightshift-sandbox-python:${want === '3.x' ? '<major.minor>' : want}) and name it with image: in ${configFile}, ` +
      `or name there any image with such a Python`,
  );
}

/** Whether the TOML text has a `[name]` table header line (a simple line check, no TOML parser). */
function hasTomlTable(text: string, name: string): boolean {
  return text.split(/\r?\n/).some((line) => sectionHeader(line) === `[${name}]`);
}

/**
 * Whether `key` is set (`key =`, `key:` or TOML's `"key" =`) in the section headed `header`, in TOML
 * or INI text (setup.cfg). Simple line checks, no parser.
 */
function hasKeyInSection(text: string, header: string, key: string): boolean {
  let inSection = false;
  const keyLine = new RegExp(`^\\s*(["']?)${key}\\1\\s*[=:]`);
  for (const line of text.split(/\r?\n/)) {
    const section = sectionHeader(line);
    if (section !== null) inSection = section === header;
    else if (inSection && keyLine.test(line)) return true;
  }
  return false;
}

/** The line's `[section]` header without spaces or a trailing comment, or null when it is not one. */
function sectionHeader(line: string): string | null {
  const m = /^\s*(\[[^\]]*\])\s*([#;].*)?$/.exec(line);
  return m ? m[1]!.replace(/\s+/g, '') : null;
}
