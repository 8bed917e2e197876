import { existsSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { importsOf, sources } from './helpers/imports.ts';

/*
 * The layout the README's map promises ("Imports run downward"), checked on every import of the code
 * that ships (tests may reach across): a folder imports only the folders below it, the roles never
 * import each other, the gateways never import one another, and nothing shipped imports the tests or
 * the benchmarks.
 */
const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The top-level folders each folder's code may import, besides itself. */
const BELOW: Record<string, readonly string[]> = {
  bin: ['cli', 'shared'],
  cli: ['agents', 'gateways', 'bus', 'sandbox', 'shared'],
  agents: ['bus', 'sandbox', 'shared'],
  gateways: ['bus', 'sandbox', 'shared'],
  bus: ['shared'],
  sandbox: ['shared'],
  shared: [],
};

/** Inside agents/ and gateways/: the parts every member may use; the others are members, apart from each other. */
const COMMON: Record<string, readonly string[]> = {
  agents: ['kit', 'runtime'],
  gateways: ['kit'],
};
/** The one module that names every role, to run the one asked for. */
const REGISTRY = 'agents/registry.ts';

/** Every import of the code under `root` that breaks the layout, as `from -> to: why`. */
function layoutProblems(root: string): string[] {
  const problems: string[] = [];
  for (const top of Object.keys(BELOW)) {
    if (!existsSync(join(root, top))) continue;
    for (const file of sources(join(root, top))) {
      const from = relative(root, file);
      for (const specifier of importsOf(file)) {
        if (!specifier.startsWith('.')) continue;
        const to = relative(root, resolve(dirname(file), specifier));
        const why = problemOf(from, to);
        if (why) problems.push(`${from} -> ${to}: ${why}`);
      }
    }
  }
  return problems;
}

function problemOf(from: string, to: string): string | null {
  const [fromTop] = from.split('/');
  const [toTop] = to.split('/');
  if (fromTop !== toTop) {
    return BELOW[fromTop!]!.includes(toTop!) ? null : `${fromTop}/ may import only ${BELOW[fromTop!]!.map((d) => `${d}/`).join(', ') || 'itself'}`;
  }
  const common = COMMON[fromTop!];
  if (!common || from === REGISTRY) return null;
  const fromPart = from.split('/')[1]!;
  const toPart = to.split('/')[1]!;
  if (fromPart === toPart || to.split('/').length === 2) return null;
  if (common.includes(toPart)) return null;
  if (common.includes(fromPart)) return `${fromTop}/${fromPart}/ is shared by every member and imports none of them`;
  return `${fromTop}/${fromPart}/ and ${fromTop}/${toPart}/ never import each other`;
}

it('the shipped code imports downward only, and the roles and gateways stay apart', () => {
  expect(layoutProblems(ROOT)).toEqual([]);
});

const scratch = mkdtempSync(join(tmpdir(), 'nightshift-layout-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(scratch, 'tree-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

it('finds each kind of import that breaks the layout (static, re-export, bare, dynamic)', () => {
  const root = tree({
    'shared/a.ts': "import { x } from '../bus/index.ts';\n",
    'bus/index.ts': "export { y } from '../agents/kit/artifacts.ts';\n",
    'sandbox/b.ts': "await import('../gateways/web/app.ts');\n",
    'agents/coder/handler.ts': "import '../reviewer/handler.ts';\nimport { k } from '../kit/suite.ts';\n",
    'agents/kit/suite.ts': "import { c } from '../coder/handler.ts';\n",
    'agents/registry.ts': "import { c } from './coder/handler.ts';\n",
    'gateways/slack/app.ts': "import { g } from '../github/asker.ts';\nimport { s } from '../kit/ticket-steps.ts';\n",
    'cli/up.ts': "import { a } from '../agents/registry.ts';\nimport { t } from '../test/helpers/nats.ts';\n",
    'agents/coder/handler.test.ts': "import { r } from '../reviewer/handler.ts';\n",
  });
  expect(layoutProblems(root).sort()).toEqual([
    'agents/coder/handler.ts -> agents/reviewer/handler.ts: agents/coder/ and agents/reviewer/ never import each other',
    'agents/kit/suite.ts -> agents/coder/handler.ts: agents/kit/ is shared by every member and imports none of them',
    'bus/index.ts -> agents/kit/artifacts.ts: bus/ may import only shared/',
    'cli/up.ts -> test/helpers/nats.ts: cli/ may import only agents/, gateways/, bus/, sandbox/, shared/',
    'gateways/slack/app.ts -> gateways/github/asker.ts: gateways/slack/ and gateways/github/ never import each other',
    'sandbox/b.ts -> gateways/web/app.ts: sandbox/ may import only shared/',
    'shared/a.ts -> bus/index.ts: shared/ may import only itself',
  ]);
});
