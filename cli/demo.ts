import { cpSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectBus, createTicketWhenServed, showPullRequest, waitTicket, type BusAuth } from '../bus/index.ts';
import { CommandError, git, type Logger } from '../shared/index.ts';
import { renderPullRequest } from './prs.ts';
import { renderEntry } from './render.ts';

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

export interface DemoOptions {
  natsUrl: string;
  /** The operator's credentials. */
  auth?: BusAuth;
  prefix: string;
  /** Where the demo repository is made (a fresh one per run). */
  dataDir: string;
  log: Logger;
  signal: AbortSignal;
  timeoutMs: number;
  report: (event: Record<string, unknown>, text: string) => void;
}

/**
 * The demo flow, once the stack is up: a fresh copy of the demo repository, the demo ticket posted
 * to intake, its timeline followed to the pull request, and the pull request printed with its summary
 * and diff. Throws when the ticket ends anywhere else.
 */
export async function runDemo(opts: DemoOptions): Promise<void> {
  const stamp = new Date().toISOString().replace(/[-:.]/g, '').slice(0, 15);
  const repo = await createDemoRepo(join(resolve(opts.dataDir), 'demo', `repo-${stamp}`));
  const bus = await connectBus({ url: opts.natsUrl, prefix: opts.prefix, kind: 'operator', ...(opts.auth && { auth: opts.auth }), name: 'nightshift-demo', log: opts.log });
  try {
    opts.report({ event: 'demo', repo }, `demo repository: ${repo}`);
    const reply = await createTicketWhenServed(bus, { ...demoTicket(), externalId: `DEMO-${stamp}`, repo: { path: repo } }, opts.signal);
    if (!reply.ok) throw new CommandError('demo_refused', `the demo ticket was refused: ${reply.error.message}`);
    opts.report({ event: 'ticket', id: reply.id }, `ticket ${reply.id} posted; following it:`);
    const t = await waitTicket(bus, reply.id, {
      timeoutMs: opts.timeoutMs,
      onEntry: (e) => opts.report({ event: 'timeline', ticketId: reply.id, entry: e }, `  ${renderEntry(e)}`),
    });
    if (t.state !== 'pr_open') {
      throw new CommandError('demo_failed', `the demo ticket ended ${t.state}${t.failure ? `: ${t.failure.code}: ${t.failure.message}` : ''}`);
    }
    const shown = await showPullRequest(bus, t.id);
    opts.report({ event: 'pull_request', ...shown }, `\n${renderPullRequest(shown)}`);
  } finally {
    await bus.close();
  }
}
