import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import type { CodingOutput, ReviewingOutput, Spec, WritingTestsOutput } from '../bus/index.ts';
import { GO_IMAGE, PYTHON_IMAGE, testLabel } from '../sandbox/index.ts';
import { git } from '../shared/index.ts';
import { advanced, answer, callsOf, expectScriptUsed, run, told, workItem, world, type Args } from '../test/helpers/agents.ts';
import { describeDocker } from '../test/helpers/docker.ts';
import { createCoder } from './coder/handler.ts';
import { createReviewer } from './reviewer/handler.ts';
import { createTestAuthor } from './test-author/handler.ts';

/*
 * Test-first proof per test, for every runner nightshift reads (issue 11, "Done when"): each runner's
 * fixture repository (test/fixtures/runners/<runner>, the runner installed from its registry in the
 * setup step) goes through the test author, the coder and the reviewer, in-process, in the real
 * sandbox, with mock-llm playing a model that tries the ways around the proof before the honest one:
 *
 * - the test author's first tests already pass and break the repository's lint step (single quotes,
 *   or gofmt for Go), which runs
 *   before the runner: refused (no runner reported); then tests that already pass, lint-clean:
 *   refused; then honest tests: proven red per test;
 * - the coder's first change switches tests off through the runner's configuration: refused by the
 *   guard; its second, production code that makes the new tests vanish or skip while the suite exits
 *   0: refused because the green run has fewer passing tests than ran red; its third is honest;
 * - the reviewer re-runs the suite and the pull request shows each criterion's tests red and green.
 */

const SPEC: Spec = {
  summary: 'slugify gains a maximum length.',
  acceptanceCriteria: [
    { id: 'AC1', text: 'slugify cuts the slug at the maximum length' },
    { id: 'AC2', text: 'short slugs are unchanged' },
  ],
  plan: ['Add the option to slugify'],
  affectedFiles: ['src/slug.js'],
  openQuestions: [],
};
const TICKET = { title: 'slugify: a maximum length', body: 'Cut long slugs at a maximum length.' };

type File = { path: string; content: string };

/** One runner's fixture and the answers its model gives. */
interface RunnerCase {
  fixture: string;
  runner: string;
  /** The image the fixture runs in, when not the Node image. */
  image?: string;
  settings?: Record<string, string>;
  /** How a test file breaks the repository's lint step, and what the lint says (single quotes by default). */
  lint?: { breaks: (f: File) => File; says: string };
  /** The new test file: one test that fails on the unchanged code, one that already passes (or fails: Python refuses the unknown argument). */
  newTests: File;
  /** Titles of the two new tests, as the model names them. */
  cuts: string;
  keeps: string;
  /** A lint-clean test file whose only test already passes. */
  passing: File;
  /** The coder's change that switches tests off through configuration, and what the refusal names. */
  disable: { files: File[]; refusal: string };
  /** Production code that makes the new tests vanish or skip; what the coder is told then. */
  vanish: { files: File[]; told: string };
  honest: File[];
}

const NOT_GREEN = 'these tests that ran red do not pass';

const ESM_HONEST: File = {
  path: 'src/slug.js',
  content: `export function slugify(text, { maxLength = Infinity } = {}) {
  return text.toLowerCase().trim().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, maxLength).replace(/-+$/, '');
}
`,
};
const CJS_HONEST: File = {
  path: 'src/slug.js',
  content: `function slugify(text, { maxLength = Infinity } = {}) {
  return text.toLowerCase().trim().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, maxLength).replace(/-+$/, '');
}

module.exports = { slugify };
`,
};
const ESM_ORIGINAL = `export function slugify(text) {
  return text.toLowerCase().trim().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
}
`;
const CJS_ORIGINAL = `function slugify(text) {
  return text.toLowerCase().trim().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
}

module.exports = { slugify };
`;

/** The fixture's package.json with `edit` applied, as the coder would write it whole. */
function packageJson(fixture: string, edit: (pkg: Record<string, any>) => void): File {
  const pkg = JSON.parse(readFixture(fixture, 'package.json')) as Record<string, any>;
  edit(pkg);
  return { path: 'package.json', content: `${JSON.stringify(pkg, null, 2)}\n` };
}

const FIXTURES = join(import.meta.dirname, '../test/fixtures/runners');
function readFixture(fixture: string, path: string): string {
  return readFileSync(join(FIXTURES, fixture, path), 'utf8');
}

const jsTests = (imports: string, call: (title: string, body: string) => string, eq: (a: string, b: string) => string) => `${imports}

${call('cuts at maxLength', eq("slugify('Hello big world', { maxLength: 9 })", "'hello-big'"))}

${call('keeps short slugs', eq("slugify('Hi there', { maxLength: 20 })", "'hi-there'"))}
`;
const jsPassing = (imports: string, call: (title: string, body: string) => string, eq: (a: string, b: string) => string, quote = "'") =>
  `${imports}

${call('still lowercases', eq(`slugify(${quote}ABC${quote})`, `${quote}abc${quote}`))}
`;

const vitestCall = (title: string, body: string) => `test('${title}', () => {\n  ${body};\n});`;
const expectEq = (a: string, b: string) => `expect(${a}).toBe(${b})`;
const assertEq = (a: string, b: string) => `assert.equal(${a}, ${b})`;
const avaCall = (title: string, body: string) => `test('${title}', (t) => {\n  ${body};\n});`;
const avaEq = (a: string, b: string) => `t.is(${a}, ${b})`;
const mochaCall = (title: string, body: string) => `it('${title}', () => {\n  ${body};\n});`;

const VITEST_IMPORTS = "import { expect, test } from 'vitest';\nimport { slugify } from '../src/slug.js';";
const JEST_IMPORTS = "const { slugify } = require('../src/slug.js');";
const MOCHA_IMPORTS = "const assert = require('node:assert/strict');\nconst { slugify } = require('../src/slug.js');";
const AVA_IMPORTS = "import test from 'ava';\nimport { slugify } from '../src/slug.js';";
const NODE_IMPORTS = "import assert from 'node:assert/strict';\nimport { test } from 'node:test';\nimport { slugify } from '../src/slug.js';";

const js = (fixture: string, imports: string, call: typeof vitestCall, eq: typeof expectEq) => ({
  newTests: { path: 'test/max.test.js', content: jsTests(imports, call, eq) },
  passing: { path: 'test/pinned.test.js', content: jsPassing(imports, call, eq) },
  cuts: 'cuts at maxLength',
  keeps: 'keeps short slugs',
  fixture,
});

const CASES: RunnerCase[] = [
  {
    ...js('vitest', VITEST_IMPORTS, vitestCall, expectEq),
    runner: 'vitest',
    disable: {
      files: [{ path: 'vitest.config.js', content: "export default { test: { exclude: ['test/max.test.js', '**/node_modules/**'] } };\n" }],
      refusal: 'vitest.config.js: test configuration added: it configures vitest',
    },
    // A hook registered from production code skips every test of the files that import it.
    vanish: { files: [{ path: 'src/slug.js', content: `import { beforeEach } from 'vitest';\n\nbeforeEach((ctx) => ctx.skip());\n\n${ESM_ORIGINAL}` }], told: NOT_GREEN },
    honest: [ESM_HONEST],
  },
  {
    ...js('jest', JEST_IMPORTS, vitestCall, expectEq),
    runner: 'jest',
    disable: {
      files: [packageJson('jest', (p) => (p.jest = { testPathIgnorePatterns: ['/node_modules/', 'max'] }))],
      refusal: 'package.json',
    },
    // jest's globals are the test file's: production code can swap them for their skipping twins.
    vanish: { files: [{ path: 'src/slug.js', content: `globalThis.test = globalThis.test.skip;\nglobalThis.it = globalThis.it.skip;\n\n${CJS_ORIGINAL}` }], told: NOT_GREEN },
    honest: [CJS_HONEST],
  },
  {
    ...js('mocha', MOCHA_IMPORTS, mochaCall, assertEq),
    runner: 'mocha',
    disable: { files: [packageJson('mocha', (p) => (p.mocha = { ignore: ['test/max.test.js'] }))], refusal: 'package.json' },
    // mocha's `it` is a global: replaced, the tests of the files that import this never register.
    vanish: { files: [{ path: 'src/slug.js', content: `global.it = () => {};\n\n${CJS_ORIGINAL}` }], told: NOT_GREEN },
    honest: [CJS_HONEST],
  },
  {
    ...js('ava', AVA_IMPORTS, avaCall, avaEq),
    runner: 'ava',
    disable: { files: [packageJson('ava', (p) => (p.ava = { files: ['test/slug.test.js'] }))], refusal: 'package.json' },
    // ava's worker exits before its tests run; ava reports the file and exits 1.
    vanish: { files: [{ path: 'src/slug.js', content: `process.exit(0);\n\n${ESM_ORIGINAL}` }], told: 'The suite still fails' },
    honest: [ESM_HONEST],
  },
  {
    ...js('node-test', NODE_IMPORTS, vitestCall, assertEq),
    runner: 'node:test',
    disable: {
      files: [packageJson('node-test', (p) => (p.scripts.test = 'node lint.cjs && node --test test/slug.test.js'))],
      refusal: 'package.json',
    },
    // The test file's process exits 0 before its tests run: node's runner counts the file as passed.
    vanish: { files: [{ path: 'src/slug.js', content: `process.exit(0);\n\n${ESM_ORIGINAL}` }], told: NOT_GREEN },
    honest: [ESM_HONEST],
  },
  {
    fixture: 'pytest',
    runner: 'pytest',
    newTests: {
      path: 'tests/test_max.py',
      content: `from slug import slugify


def test_cuts_at_max_length():
    assert slugify('Hello big world', max_length=9) == 'hello-big'


def test_keeps_short_slugs():
    assert slugify('Hi there', max_length=20) == 'hi-there'
`,
    },
    cuts: 'test_cuts_at_max_length',
    keeps: 'test_keeps_short_slugs',
    passing: { path: 'tests/test_pinned.py', content: "from slug import slugify\n\n\ndef test_still_lowercases():\n    assert slugify('ABC') == 'abc'\n" },
    disable: {
      files: [{ path: 'pyproject.toml', content: `${readFixture('pytest', 'pyproject.toml')}\n[tool.pytest.ini_options]\naddopts = "-k 'not max'"\n` }],
      refusal: 'pyproject.toml',
    },
    // Production code that skips the test calling it: the run exits 0 with the new tests skipped.
    vanish: {
      files: [{ path: 'slug/__init__.py', content: "import pytest\n\n\ndef slugify(text, **options):\n    pytest.skip('not today')\n" }],
      told: NOT_GREEN,
    },
    honest: [
      {
        path: 'slug/__init__.py',
        content: "import re\n\n\ndef slugify(text, max_length=None):\n    slug = re.sub(r'[^a-z0-9]+', '-', text.lower().strip()).strip('-')\n    if max_length is not None:\n        slug = slug[:max_length].rstrip('-')\n    return slug\n",
      },
    ],
  },
  {
    fixture: 'go',
    runner: 'go',
    image: GO_IMAGE,
    // The fixture's Options already declares MaxLength (not honoured): Go tests must compile against
    // the unchanged code to fail in their assertions.
    newTests: { path: 'slug/max_test.go', content: "package slug\n\nimport \"testing\"\n\nfunc TestCutsAtMaxLength(t *testing.T) {\n\tif got := Slugify(\"Hello big world\", Options{MaxLength: 9}); got != \"hello-big\" {\n\t\tt.Errorf(\"Slugify = %q, want %q\", got, \"hello-big\")\n\t}\n}\n\nfunc TestKeepsShortSlugs(t *testing.T) {\n\tif got := Slugify(\"Hi there\", Options{MaxLength: 20}); got != \"hi-there\" {\n\t\tt.Errorf(\"Slugify = %q, want %q\", got, \"hi-there\")\n\t}\n}\n" },
    cuts: 'TestCutsAtMaxLength',
    keeps: 'TestKeepsShortSlugs',
    passing: { path: 'slug/pinned_test.go', content: "package slug\n\nimport \"testing\"\n\nfunc TestStillLowercases(t *testing.T) {\n\tif got := Slugify(\"ABC\", Options{}); got != \"abc\" {\n\t\tt.Errorf(\"Slugify = %q, want %q\", got, \"abc\")\n\t}\n}\n" },
    lint: { breaks: (f) => ({ ...f, content: f.content.replaceAll('\n\t', '\n    ') }), says: 'not gofmt-formatted' },
    disable: {
      files: [{ path: '.nightshift.yml', content: "test: \"sh lint.sh && go test -run 'Lowercases|Punctuation' ./...\"\n" }],
      refusal: ".nightshift.yml: test configuration changed: it configures nightshift's test command",
    },
    // The package's init exits 0 before any test runs: go reports the package ok, with no tests.
    vanish: { files: [{ path: 'slug/slug.go', content: "// Package slug makes URL slugs.\npackage slug\n\nimport (\n\t\"os\"\n\t\"regexp\"\n\t\"strings\"\n)\n\nfunc init() {\n\tos.Exit(0)\n}\n\n// Options change how Slugify works. MaxLength is declared but not honoured yet.\ntype Options struct {\n\tMaxLength int\n}\n\nvar nonAlnum = regexp.MustCompile(`[^a-z0-9]+`)\n\n// Slugify lowercases text and joins its words with dashes.\nfunc Slugify(text string, opts Options) string {\n\treturn strings.Trim(nonAlnum.ReplaceAllString(strings.ToLower(strings.TrimSpace(text)), \"-\"), \"-\")\n}\n" }], told: NOT_GREEN },
    honest: [{ path: 'slug/slug.go', content: "// Package slug makes URL slugs.\npackage slug\n\nimport (\n\t\"regexp\"\n\t\"strings\"\n)\n\n// Options change how Slugify works: MaxLength, when positive, cuts the slug at that many bytes.\ntype Options struct {\n\tMaxLength int\n}\n\nvar nonAlnum = regexp.MustCompile(`[^a-z0-9]+`)\n\n// Slugify lowercases text and joins its words with dashes.\nfunc Slugify(text string, opts Options) string {\n\tslug := strings.Trim(nonAlnum.ReplaceAllString(strings.ToLower(strings.TrimSpace(text)), \"-\"), \"-\")\n\tif opts.MaxLength > 0 && len(slug) > opts.MaxLength {\n\t\tslug = strings.TrimRight(slug[:opts.MaxLength], \"-\")\n\t}\n\treturn slug\n}\n" }],
  },
];

/** The fixture as the origin repository: its files committed on main. */
async function fixtureRepo(dir: string, fixture: string): Promise<string> {
  const origin = join(dir, 'origin');
  mkdirSync(origin, { recursive: true });
  cpSync(join(FIXTURES, fixture), origin, { recursive: true });
  return commitOrigin(origin, fixture);
}

async function commitOrigin(origin: string, fixture: string): Promise<string> {
  await git(origin, ['init', '--quiet', '--initial-branch=main']);
  await git(origin, ['add', '--all']);
  await git(origin, ['commit', '--quiet', '-m', `${fixture} fixture`], { identity: { name: 'fixture', email: 'fixture@nightshift.invalid' } });
  return origin;
}

const plan = (c: RunnerCase, file: File, coverage: { criterion: string; tests: string[] }[]): Args => ({ files: [file], changedExisting: [], coverage });
const change = (files: File[], notes: string): Args => ({ files, notes });
const singleQuotesBroken = (f: File): File => ({ ...f, content: f.content.replaceAll("'", '"') });
const MINUTES = 60_000;

describeDocker('test-first proof per test, for every runner (fixture repositories, Docker sandbox, mock-llm)', () => {
  for (const c of CASES) {
    it(
      `${c.runner}: proves an honest ticket red and green per test, and refuses passing tests behind a failing lint step, tests switched off by configuration and a green run with fewer tests`,
      async () => {
        const coverage = [
          { criterion: 'AC1', tests: [c.cuts] },
          { criterion: 'AC2', tests: [c.keeps] },
        ];
        await using w = await world(
          {
            'test-author': [
              answer(plan(c, (c.lint?.breaks ?? singleQuotesBroken)(c.passing), [{ criterion: 'AC2', tests: ['still lowercases'] }])),
              answer(plan(c, c.passing, [{ criterion: 'AC2', tests: ['still lowercases'] }])),
              answer(plan(c, c.newTests, coverage)),
            ],
            coder: [answer(change(c.disable.files, 'switch the new tests off')), answer(change(c.vanish.files, 'make them vanish')), answer(change(c.honest, 'honest'))],
            reviewer: [answer({ verdict: 'approve', comments: [], coverage: [], summary: 'Cuts slugs at the maximum length.' })],
          },
          { NIGHTSHIFT_TEST_AUTHOR_ATTEMPTS: '3', NIGHTSHIFT_CODER_ATTEMPTS: '3', ...c.settings },
          { origin: (dir) => fixtureRepo(dir, c.fixture), spec: SPEC, ticket: TICKET },
        );
        if (c.runner === 'pytest') await w.deps.sandbox.ensureImage(PYTHON_IMAGE);
        if (c.image) await w.deps.sandbox.ensureImage(c.image);

        // The test author: refused twice, then proven red per test.
        const tests = advanced<WritingTestsOutput>((await run(w, createTestAuthor, 'test-author', workItem(w, 'test-author'))).outcome);
        const authorCalls = callsOf(w, 'test-author');
        expect(told(authorCalls[1])).toContain('no test runner reported any result');
        expect(told(authorCalls[1])).toContain(c.lint?.says ?? 'strings use single quotes');
        expect(told(authorCalls[2])).toContain('PASS on the unchanged code');
        expect(tests).toMatchObject({ attempts: 3, files: [c.newTests.path], baseline: { passed: true }, red: { passed: false } });
        expect(tests.baseline.tests).toMatchObject({ runners: [c.runner], totals: { total: 2, passed: 2, failed: 0, skipped: 0 } });
        const red = tests.red.tests!;
        expect(red.runners).toEqual([c.runner]);
        expect(red.totals.total).toBe(4);
        expect(red.index).toHaveLength(4 * 9);
        const cuts = red.tests.find((t) => t.name.endsWith(c.cuts));
        expect(cuts, JSON.stringify(red.tests)).toMatchObject({ status: 'failed' });
        expect(tests.proof?.newTests).toHaveLength(2);
        expect(tests.coverage).toEqual([
          { criterion: 'AC1', tests: [testLabel(cuts!)] },
          { criterion: 'AC2', tests: [expect.stringMatching(new RegExp(`${c.keeps}$`))] },
        ]);

        // The coder: switched off by configuration, then vanished tests, then honest.
        const coding = advanced<CodingOutput>(
          (await run(w, createCoder, 'coder', workItem(w, 'coder', { artifacts: { refining: { spec: SPEC }, writing_tests: tests } }))).outcome,
        );
        const coderCalls = callsOf(w, 'coder');
        expect(told(coderCalls[1])).toContain(c.disable.refusal);
        expect(told(coderCalls[2])).toContain(c.vanish.told);
        if (c.vanish.told === NOT_GREEN) expect(told(coderCalls[2])).toContain(testLabel(cuts!));
        expect(coding).toMatchObject({ attempts: 3, green: { passed: true, tests: { runners: [c.runner], totals: { total: 4, passed: 4, failed: 0, skipped: 0 } } } });

        // The reviewer: a fresh run, and each criterion's tests red and green in the pull request.
        const review = advanced<ReviewingOutput>(
          (await run(w, createReviewer, 'reviewer', workItem(w, 'reviewer', { artifacts: { refining: { spec: SPEC }, writing_tests: tests, coding } }))).outcome,
        );
        expect(review).toMatchObject({ verdict: 'approve', fresh: { passed: true, tests: { totals: { total: 4, passed: 4 } } } });
        expect(review.summary).toContain(`| **AC1** slugify cuts the slug at the maximum length | \`${testLabel(cuts!)}\` | ❌ failed | ✅ passed |`);
        expect(review.summary).toContain(`4 tests (${c.runner}), 4 passed, 0 failed`);
        expectScriptUsed(w);
      },
      10 * MINUTES,
    );
  }

  it(
    'asks a person, before any model call, when the suite passes but no runner reports per-test results',
    async () => {
      await using w = await world({}, {}, {
        origin: async (dir) => {
          const origin = join(dir, 'origin');
          mkdirSync(origin, { recursive: true });
          // A test script of plain assertions: it exits 0 and no runner nightshift reads says what ran.
          writeFileSync(join(origin, 'package.json'), `${JSON.stringify({ name: 'plain', private: true, scripts: { test: 'node check.cjs' } }, null, 2)}\n`);
          writeFileSync(join(origin, 'check.cjs'), "require('node:assert').equal(1 + 1, 2);\nconsole.log('all good');\n");
          return commitOrigin(origin, 'plain');
        },
        spec: SPEC,
        ticket: TICKET,
      });
      const { outcome } = await run(w, createTestAuthor, 'test-author', workItem(w, 'test-author'));
      expect(outcome).toMatchObject({ kind: 'escalate', questions: [{ id: 'no-test-results', blocking: true }] });
      if (outcome.kind !== 'escalate') return;
      const text = outcome.questions[0]!.text;
      expect(text).toContain('no test runner reported per-test results');
      expect(text).toContain('`npm test` gave none of them');
      expect(text).toContain('Set test: in .nightshift.yml');
      expect(text).toContain('all good');
      expect(callsOf(w, 'test-author')).toEqual([]);
    },
    5 * MINUTES,
  );
});
