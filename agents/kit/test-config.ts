import { posix } from 'node:path';

/**
 * What counts as test configuration, wherever it lives: pure rules over file names and over the
 * before/after contents of manifests. `guard.ts` reads the contents from git and applies them.
 *
 * The principle: whatever decides which tests run, how they are compiled, what they must reach
 * (coverage thresholds) or what gates the test command (a lint step inside `npm test`) is not the
 * coder's to change. The lists err on the side of refusing: refusing a key no tool reads costs the
 * coder nothing, missing one that a tool reads lets it switch the tests off.
 */

/** The end of every reason: what the rule protects. */
export const NOT_THE_CODERS = 'the coder may not change test configuration';

/** A configuration file, by name (a `path.matchesGlob` glob), and what it configures. */
interface ConfigFile {
  glob: string;
  configures: string;
}

const file = (configures: string, ...globs: string[]): ConfigFile[] => globs.map((glob) => ({ glob, configures }));

/**
 * Go modules that are test tools (assertions, mocks, runners, snapshots): in go.mod, go.sum and
 * vendor/ they are test configuration, as a JavaScript test tool is in package.json. A module path
 * matches itself and its major versions and packages (`github.com/onsi/ginkgo/v2`).
 */
export const GO_TEST_MODULES: readonly string[] = [
  'github.com/stretchr/testify',
  'github.com/onsi/ginkgo',
  'github.com/onsi/gomega',
  'github.com/google/go-cmp',
  'gotest.tools',
  'github.com/frankban/quicktest',
  'github.com/smartystreets/goconvey',
  'github.com/matryer/is',
  'github.com/golang/mock',
  'go.uber.org/mock',
  'github.com/maxatome/go-testdeep',
  'github.com/gkampitakis/go-snaps',
  'github.com/sebdah/goldie',
  'github.com/google/gofuzz',
  'github.com/h2non/gock',
  'github.com/jarcoal/httpmock',
  'github.com/DATA-DOG/go-sqlmock',
];

/** Files that configure the test run, wherever they are in the repository: always refused. */
export const CONFIG_FILES: readonly ConfigFile[] = [
  // nightshift's own settings: the test command, the test-file patterns, the image.
  ...file("nightshift's test command and test-file patterns", '.nightshift.yml', '.nightshift.yaml'),
  // npm hands its `node-options` to every node it starts: `--test-skip-pattern=…` there skips tests.
  ...file('the options of every node npm starts', '**/.npmrc'),
  ...file('vitest', '**/vitest.config.*', '**/vitest.workspace.*', '**/vitest.projects.*', '**/vite.config.*'),
  ...file('jest', '**/jest.config.*', '**/jest.setup.*', '**/jest.preset.*'),
  ...file('mocha', '**/.mocharc*'),
  ...file('ava', '**/ava.config.*'),
  ...file('tap', '**/.taprc*'),
  ...file('jasmine', '**/jasmine.json'),
  ...file('karma', '**/karma.conf.*'),
  ...file('playwright', '**/playwright.config.*'),
  ...file('cypress', '**/cypress.config.*', '**/cypress.json'),
  ...file('webdriverio', '**/wdio.conf.*'),
  // Coverage thresholds fail (or stop failing) a test command that checks them.
  ...file('c8 (coverage)', '**/.c8rc*'),
  ...file('nyc (coverage)', '**/.nycrc*', '**/nyc.config.*'),
  ...file('coverage.py', '**/.coveragerc'),
  // How test files are compiled before they run (jest transforms them with babel).
  ...file('babel, which compiles the tests', '**/.babelrc*', '**/babel.config.*'),
  // Node's own configuration file (`--experimental-config-file`): its `testRunner` options.
  ...file("node's test runner", '**/node.config.json'),
  ...file("bun's test runner", '**/bunfig.toml'),
  ...file('pytest', '**/pytest.ini', '**/.pytest.ini', '**/pytest.toml', '**/.pytest.toml', '**/conftest.py'),
  ...file('nox sessions', '**/noxfile.py'),
  // go.work decides which modules `go test ./...` builds, and can replace any module (a test tool too).
  ...file('the modules go test builds', '**/go.work', '**/go.work.sum'),
  // A vendored Go test tool is the test tool: an assertion library edited to pass.
  ...GO_TEST_MODULES.map((m) => ({ glob: `**/vendor/${m}/**`, configures: `the vendored Go test tool ${m}` })),
  ...file('the CI checks', '**/.github/workflows/*'),
];

/** The first configuration file rule `path` falls under, as a reason; null when none. */
export function configFileReason(path: string, what: 'added' | 'changed' | 'deleted'): string | null {
  const rule = CONFIG_FILES.find((r) => posix.matchesGlob(path, r.glob));
  return rule ? `test configuration ${what}: it configures ${rule.configures}; ${NOT_THE_CODERS}` : null;
}

/**
 * Tools that gate a test command when the command runs them (`"test": "xo && ava"`): their
 * configuration is test configuration only then. Loosening a lint rule makes such a gate pass
 * without the code meeting it. `bin` is the word looked for in the commands the test command runs.
 */
export const GATE_TOOLS: readonly { bin: string; keys: readonly string[]; files: readonly string[] }[] = [
  { bin: 'xo', keys: ['xo'], files: ['**/.xo-config*', '**/xo.config.*'] },
  { bin: 'eslint', keys: ['eslintConfig', 'eslintIgnore'], files: ['**/.eslintrc*', '**/eslint.config.*', '**/.eslintignore'] },
  { bin: 'prettier', keys: ['prettier'], files: ['**/.prettierrc*', '**/prettier.config.*', '**/.prettierignore'] },
  { bin: 'standard', keys: ['standard'], files: [] },
  { bin: 'stylelint', keys: ['stylelint'], files: ['**/.stylelintrc*', '**/stylelint.config.*'] },
  // `tsc` in the test command: a looser tsconfig (`strict: false`, an `exclude`) passes the type check.
  { bin: 'tsc', keys: [], files: ['**/tsconfig*.json'] },
  // Go linters in the test command (`golangci-lint run && go test ./...`).
  { bin: 'golangci-lint', keys: [], files: ['**/.golangci.yml', '**/.golangci.yaml', '**/.golangci.toml', '**/.golangci.json'] },
  { bin: 'staticcheck', keys: [], files: ['**/staticcheck.conf'] },
  { bin: 'revive', keys: [], files: ['**/revive.toml'] },
  // `make test`: the Makefile's recipe is the test command.
  { bin: 'make', keys: [], files: ['Makefile', 'makefile', 'GNUmakefile', '**/*.mk'] },
];

/** Whether `commands` run the program `bin` (as a word of a command, possibly through a path). */
export function runsTool(commands: readonly string[], bin: string): boolean {
  const word = new RegExp(`(?:^|[\\s;&|()'"/])${bin.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?=$|[\\s;&|()'"])`);
  return commands.some((c) => word.test(c));
}

/** Whether `path` is the configuration file of a gate tool (test configuration if the test command runs the tool). */
export function isGateFile(path: string): boolean {
  return GATE_TOOLS.some((t) => t.files.some((g) => posix.matchesGlob(path, g)));
}

/** The gate tool whose configuration file `path` is, when `commands` run that tool; null otherwise. */
export function gateFileReason(path: string, what: 'added' | 'changed' | 'deleted', commands: readonly string[]): string | null {
  const tool = GATE_TOOLS.find((t) => t.files.some((g) => posix.matchesGlob(path, g)));
  if (!tool || !runsTool(commands, tool.bin)) return null;
  return `test configuration ${what}: it configures ${tool.bin}, which the test command runs; ${NOT_THE_CODERS}`;
}

/**
 * The files the test commands name (`node scripts/run-tests.js`, `mocha --config .mocharc.ci.yml`,
 * `tsc -p tsconfig.test.json`, `--require=./setup.js`): repository-relative, normalized paths. Globs,
 * options, variables, URLs and paths leaving the repository are not files it names.
 */
export function filesNamedBy(commands: readonly string[]): Set<string> {
  const named = new Set<string>();
  for (const command of commands) {
    for (let word of command.split(/\s+|&&|\|\||[;&|()]/)) {
      word = word.replace(/^['"]|['"]$/g, '');
      if (/^--?[A-Za-z0-9-]+=/.test(word)) word = word.slice(word.indexOf('=') + 1);
      if (!word || word.startsWith('-') || word.includes('$') || /[*?{}[\]]/.test(word) || word.includes('://')) continue;
      if (!word.includes('/') && !/\.[A-Za-z0-9]+$/.test(word)) continue;
      const path = posix.normalize(word).replace(/^\.\//, '');
      if (path.startsWith('/') || path === '..' || path.startsWith('../')) continue;
      named.add(path);
    }
  }
  return named;
}

/** Why `path` is test configuration when the test commands name it; null when they do not. */
export function namedFileReason(path: string, what: 'added' | 'changed' | 'deleted', commands: readonly string[]): string | null {
  return filesNamedBy(commands).has(path) ? `test configuration ${what}: the test command runs or reads it; ${NOT_THE_CODERS}` : null;
}

/** Whether the go.mod or go.sum line names one of `GO_TEST_MODULES`. */
function goTestModuleOf(line: string): string | undefined {
  return line
    .split(/\s+/)
    .map((w) => w.replace(/^\(|\)$/g, ''))
    .map((w) => GO_TEST_MODULES.find((m) => w === m || w.startsWith(`${m}/`)))
    .find((m) => m !== undefined);
}

/**
 * Reasons a go.mod or go.sum change is test configuration: a line naming a Go test tool module
 * (`GO_TEST_MODULES`) added, changed or removed — a require, a replace (a test tool swapped for a
 * local copy that always passes), an exclude, a checksum. Other lines are the code's dependencies.
 * `before`/`after` null: the file did not exist.
 */
export function goModReasons(before: string | null, after: string | null): string[] {
  const lines = (text: string | null) =>
    new Set(
      (text ?? '')
        .split(/\r?\n/)
        .map((l) => l.replace(/\/\/.*$/, '').trim())
        .filter((l) => l !== '' && goTestModuleOf(l) !== undefined),
    );
  const a = lines(before);
  const b = lines(after);
  const changed = new Set<string>();
  for (const l of a) if (!b.has(l)) changed.add(goTestModuleOf(l)!);
  for (const l of b) if (!a.has(l)) changed.add(goTestModuleOf(l)!);
  return [...changed].sort().map((m) => `"${m}" is a Go test tool; ${NOT_THE_CODERS}`);
}

// ---------------------------------------------------------------------------------------------
// INI and TOML sections (setup.cfg, tox.ini, pyproject.toml): compared section by section, as text.

/** Which sections of which file configure tests: a section is relevant when its name matches. */
export const TEST_SECTIONS: Readonly<Record<'pyproject.toml' | 'setup.cfg' | 'tox.ini', { configures: string; section: RegExp }[]>> = {
  'pyproject.toml': [
    { configures: 'pytest', section: /^tool\.pytest(\..+)?$/ },
    { configures: 'coverage.py', section: /^tool\.coverage(\..+)?$/ },
    { configures: 'tox', section: /^tool\.tox(\..+)?$/ },
  ],
  'setup.cfg': [
    { configures: 'pytest', section: /^tool:pytest$/ },
    { configures: 'coverage.py', section: /^coverage:.+$/ },
  ],
  'tox.ini': [
    { configures: 'pytest', section: /^pytest$/ },
    { configures: 'tox', section: /^(tox|tox:.+|testenv|testenv:.+)$/ },
    { configures: 'coverage.py', section: /^coverage:.+$/ },
  ],
};

/** The kind of sectioned manifest `path` is, by its name; null when none. */
export function sectionedKind(path: string): keyof typeof TEST_SECTIONS | null {
  const base = posix.basename(path);
  return base === 'pyproject.toml' || base === 'setup.cfg' || base === 'tox.ini' ? base : null;
}

/**
 * Reasons the test sections of an INI or TOML file changed between `before` and `after` (null: the
 * file did not exist). A section is its header's name and its lines up to the next header, trimmed,
 * without blank and comment lines. In TOML, dotted keys reaching into a relevant table from a
 * parent (`[tool]` with `pytest.ini_options.addopts = …`, or top-level `tool.pytest…`) count as
 * that table's lines.
 */
export function sectionReasons(kind: keyof typeof TEST_SECTIONS, before: string | null, after: string | null): string[] {
  const rules = TEST_SECTIONS[kind];
  const a = sectionsOf(before ?? '', kind === 'pyproject.toml');
  const b = sectionsOf(after ?? '', kind === 'pyproject.toml');
  const names = [...new Set([...a.keys(), ...b.keys()])].sort();
  const reasons: string[] = [];
  for (const name of names) {
    const rule = rules.find((r) => r.section.test(name));
    if (!rule || a.get(name) === b.get(name)) continue;
    const what = !a.has(name) ? 'added' : !b.has(name) ? 'removed' : 'changed';
    reasons.push(`[${name}] ${what}: it configures ${rule.configures}; ${NOT_THE_CODERS}`);
  }
  return reasons;
}

/**
 * Section name → its normalized text. In TOML, a key line outside a multi-line value (an open `[`,
 * brackets in one-line strings and comments not counted, or a `"""`/`'''` string) decides which table
 * it and its continuation lines belong to. A rough reading, not a TOML parser: where it errs, lines
 * land in a test table too many, not too few, for the values seen in practice.
 */
function sectionsOf(text: string, toml: boolean): Map<string, string> {
  const relevant = (name: string) => TEST_SECTIONS['pyproject.toml'].some((r) => r.section.test(name));
  const sections = new Map<string, string[]>();
  const add = (name: string, line: string) => sections.set(name, [...(sections.get(name) ?? []), line]);
  let current = '';
  let target = '';
  let depth = 0;
  let inString = false;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    const open = depth > 0 || inString;
    if (!open && (!line || line.startsWith('#') || line.startsWith(';'))) continue;
    const header = open ? null : /^\[\[?\s*([^\]]+?)\s*\]\]?$/.exec(line);
    if (header) {
      current = target = toml ? header[1]!.replaceAll(/\s*\.\s*/g, '.').replaceAll(/["']/g, '') : header[1]!;
      add(current, line);
      continue;
    }
    if (toml && !open) {
      const key = /^([A-Za-z0-9_.\s"'-]+?)\s*=/.exec(line);
      if (key) {
        const full = [...(current ? [current] : []), ...key[1]!.replaceAll(/["'\s]/g, '').split('.')].join('.').split('.');
        target = current;
        if (!relevant(current)) {
          const depthOfCurrent = current ? current.split('.').length : 0;
          for (let n = depthOfCurrent + 1; n < full.length; n++) {
            if (relevant(full.slice(0, n).join('.'))) {
              target = full.slice(0, n).join('.');
              break;
            }
          }
        }
      }
    }
    if (toml) {
      if ((line.match(/"""|'''/g)?.length ?? 0) % 2 === 1) inString = !inString;
      // Brackets count outside one-line strings and comments.
      const code = line.replace(/"(?:[^"\\]|\\.)*"|'[^']*'/g, '').replace(/#.*$/, '');
      depth = Math.max(0, depth + (code.match(/\[/g)?.length ?? 0) - (code.match(/\]/g)?.length ?? 0));
    }
    add(target, line);
  }
  return new Map([...sections].map(([k, v]) => [k, v.join('\n')]));
}
