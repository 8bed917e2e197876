import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { importsOf, sources } from './helpers/imports.ts';

/*
 * The container image installs production dependencies only (`npm ci --omit=dev`, deploy/image/build.sh)
 * and ships the folders below: every package their code imports must be a production dependency, or
 * the process dies at start in the image and nowhere else (a parser moved to the `yaml` package did so).
 */
const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** What deploy/image/build.sh ships (its APP_DIRS). */
const SHIPPED = ['bin', 'agents', 'bus', 'cli', 'gateways', 'sandbox', 'shared'];

/** The package a bare import names (`@scope/name/sub` → `@scope/name`), or null for a relative or builtin one. */
function packageOf(specifier: string): string | null {
  if (specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('node:') || builtinModules.includes(specifier.split('/')[0]!)) return null;
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
}

it('the shipped code imports only production dependencies (the image has no others)', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies?: Record<string, string> };
  const deploy = readFileSync(join(ROOT, 'deploy/image/build.sh'), 'utf8');
  expect(deploy).toContain(`APP_DIRS="${SHIPPED.join(' ')}"`);
  const wrong: string[] = [];
  for (const file of SHIPPED.flatMap((d) => sources(join(ROOT, d)))) {
    for (const specifier of importsOf(file)) {
      const name = packageOf(specifier);
      if (name !== null && !(name in pkg.dependencies)) wrong.push(`${relative(ROOT, file)}: ${name}${pkg.devDependencies?.[name] ? ' (a devDependency)' : ''}`);
    }
  }
  expect(wrong).toEqual([]);
});
