import { cpSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { git } from '../shared/index.ts';

/** The demo shipped with nightshift: a small repository, a ticket for it, and a mock-llm script. */
export const DEMO_DIR = fileURLToPath(new URL('../examples/demo/', import.meta.url));
export const DEMO_SCRIPT = join(DEMO_DIR, 'script.json');

/** The demo ticket (without its repository). */
export function demoTicket(): Record<string, unknown> {
  return JSON.parse(readFileSync(join(DEMO_DIR, 'ticket.json'), 'utf8')) as Record<string, unknown>;
}

/** Copies the demo repository to `dir` and makes it a git repository with one commit on main. */
export async function createDemoRepo(dir: string): Promise<string> {
  mkdirSync(dir, { recursive: true });
  cpSync(join(DEMO_DIR, 'repo'), dir, { recursive: true });
  const identity = { name: 'nightshift demo', email: 'demo@nightshift.invalid' };
  await git(dir, ['init', '--quiet', '--initial-branch=main']);
  await git(dir, ['add', '--all']);
  await git(dir, ['commit', '--quiet', '-m', 'slugify-demo: first version'], { identity });
  return dir;
}
