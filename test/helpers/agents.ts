import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { expect } from 'vitest';
import type { AgentDeps } from '../../agents/kit/deps.ts';
import { evidenceOf } from '../../agents/kit/proof.ts';
import type { AgentHandler, HandlerContext } from '../../agents/runtime/runtime.ts';
import type { Spec, StageOutcome, SuiteRun, WorkItemData } from '../../bus/index.ts';
import { createDemoRepo, DEMO_SCRIPT } from '../../cli/demo.ts';
import { DEFAULT_NODE_IMAGE, DockerSandbox, type RunOptions, type RunResult, type RunSpecInput, type Sandbox, type TestCase } from '../../sandbox/index.ts';
import {
  createLocalForge,
  createLogger,
  git,
  loadConfig,
  randomTicketId,
  roleIdentity,
  type Logger,
  type Role,
  type RoleUsage,
  type Stage,
} from '../../shared/index.ts';
import { createForgeRouter } from '../../shared/forge/index.ts';
import { loadMockScript, memoryTranscript, type MemoryTranscript, type MockCall, type MockScriptInput, type ScriptEntryInput } from '../../shared/llm/index.ts';
import { memoryPrStore } from './forge.ts';
import { mockLlm, type TestMockLlm } from './mockllm.ts';
import { testLabels } from './leftovers.ts';

/*
 * Agent handlers called in-process the way the runtime calls them, with real git, a sandbox (the real
 * Docker one unless a test asks for another) and mock-llm over HTTP: one world per test (an origin repository, a workspaces directory,
 * a mock-llm server), and what the model was told and the origin holds, to check afterwards.
 */

/** Arguments of a scripted tool call. */
export type Args = Record<string, unknown>;

/** A scripted answer of the model: the `answer` tool with `args`. */
export const answer = (args: Args, usage?: { prompt_tokens: number; completion_tokens: number }): ScriptEntryInput => ({
  toolCalls: [{ name: 'answer', arguments: args }],
  ...(usage && { usage }),
});

/** A scripted call of another tool. */
export const tool = (name: string, args: Args, usage?: { prompt_tokens: number; completion_tokens: number }): ScriptEntryInput => ({
  toolCalls: [{ name, arguments: args }],
  ...(usage && { usage }),
});

const demo = await loadMockScript(DEMO_SCRIPT);
/** The demo script's `answer` arguments of `role`'s entry `index`. */
export const demoAnswer = (role: string, index: number): Args => {
  const call = demo.roles[role]?.[index]?.toolCalls?.find((c) => c.name === 'answer');
  if (!call || typeof call.arguments === 'string') throw new Error(`the demo script has no answer for ${role} at ${index}`);
  return call.arguments;
};
const DEMO_SPEC = demoAnswer('refiner', 1) as Spec;
const DEMO_TICKET = {
  title: 'slugify: add a maxLength option',
  body: 'Long titles make long URLs. slugify(text, { maxLength }) should cut the slug to at most maxLength characters, never ending it with a dash.',
};

/**
 * Log lines of one test, parsed; a hook runs synchronously when a line with its message is logged,
 * so a test can look at a workspace at that very moment (e.g. right after a refusal).
 */
export interface HookedSink {
  lines: Record<string, unknown>[];
  log: Logger;
  on(msg: string, hook: (line: Record<string, unknown>) => void): void;
}

export function hookedSink(): HookedSink {
  const lines: Record<string, unknown>[] = [];
  const hooks: { msg: string; hook: (line: Record<string, unknown>) => void }[] = [];
  const log = createLogger(
    { level: 'debug' },
    {
      write(chunk: string) {
        for (const text of chunk.split('\n')) {
          if (!text) continue;
          const line = JSON.parse(text) as Record<string, unknown>;
          lines.push(line);
          if (process.env.NIGHTSHIFT_TEST_LOGS === '1') process.stderr.write(`${text}\n`);
          for (const h of hooks) if (h.msg === line.msg) h.hook(line);
        }
      },
    },
  );
  return { lines, log, on: (msg, hook) => void hooks.push({ msg, hook }) };
}

/** What the single workspace of `ticketId` holds right now (in its work tree, `tree/`): `path → content` of the files asked for (null when absent). */
export function workspaceFiles(w: World, ticketId: string, paths: string[]): Record<string, string | null>[] {
  const trees = readdirSync(w.workspaces).filter((d) => d.startsWith(`${ticketId}-`)).map((d) => join(w.workspaces, d, 'tree'));
  return trees.map((t) => Object.fromEntries(paths.map((p) => [p, existsSync(join(t, p)) ? readFileSync(join(t, p), 'utf8') : null])));
}

/** One sandbox run as the handler asked for it. */
export interface RecordedRun {
  command: string;
  workspace: string;
  env: Record<string, string>;
  result: RunResult;
}

/** A sandbox recording every run. */
export function recordingSandbox(inner: Sandbox): Sandbox & { runs: RecordedRun[] } {
  const runs: RecordedRun[] = [];
  return {
    kind: inner.kind,
    runs,
    available: () => inner.available(),
    ensureImage: (image) => inner.ensureImage(image),
    mountPoint: (workspace) => inner.mountPoint(workspace),
    async run(spec: RunSpecInput, options?: RunOptions) {
      const result = await inner.run(spec, options);
      const command = Array.isArray(spec.command) ? spec.command.join(' ') : String(spec.command);
      runs.push({ command, workspace: spec.workspace, env: { ...(spec.env ?? {}) }, result });
      return result;
    },
    async session(spec) {
      const session = await inner.session(spec);
      return {
        async run(command, options) {
          const result = await session.run(command, options);
          const text = Array.isArray(command.command) ? command.command.join(' ') : String(command.command);
          runs.push({ command: text, workspace: spec.workspace, env: { ...(command.env ?? {}) }, result });
          return result;
        },
        close: () => session.close(),
        [Symbol.asyncDispose]: () => session.close(),
      };
    },
  };
}

export interface World extends AsyncDisposable {
  dir: string;
  origin: string;
  workspaces: string;
  mock: TestMockLlm;
  deps: AgentDeps;
  sandbox: ReturnType<typeof recordingSandbox>;
  store: ReturnType<typeof memoryPrStore>;
  transcript: MemoryTranscript;
  sink: HookedSink;
  /** A fresh ticket id. */
  ticketId: string;
  /** The spec work items carry (the refiner's artifact). */
  spec: Spec;
  /** The ticket's title and body. */
  ticket: { title: string; body: string };
}

/** What a world is about; the default is the demo (its repository, spec and ticket). */
export interface WorldOptions {
  /** Creates the origin repository under `dir` and returns its path. */
  origin?: (dir: string) => Promise<string>;
  spec?: Spec;
  ticket?: { title: string; body: string };
  /** Creates the sandbox the handlers run in; the default is Docker, its containers labelled as this test's. */
  sandbox?: () => Sandbox;
}

export async function world(script: MockScriptInput['roles'], settings: Record<string, string> = {}, options: WorldOptions = {}): Promise<World> {
  const dir = mkdtempSync(join(tmpdir(), 'ns-agents-'));
  const origin = await (options.origin ?? ((d) => createDemoRepo(join(d, 'origin'))))(dir);
  const workspaces = join(dir, 'workspaces');
  const mock = await mockLlm({ version: 1, roles: script });
  const config = loadConfig(
    {},
    {
      NIGHTSHIFT_WORKSPACES_DIR: workspaces,
      OPENAI_BASE_URL: mock.server.url,
      NIGHTSHIFT_MODEL_RETRIES: '0',
      NIGHTSHIFT_MODEL_TIMEOUT: '30s',
      ...settings,
    },
  );
  const sink = hookedSink();
  const sandbox = recordingSandbox(options.sandbox?.() ?? new DockerSandbox({ labels: testLabels() }));
  const store = memoryPrStore();
  const transcript = memoryTranscript();
  let now = Date.parse('2030-01-01T00:00:00.000Z');
  const clock = () => new Date((now += 1_000));
  const deps: AgentDeps = { config, log: sink.log, sandbox, forges: createForgeRouter([], createLocalForge({ store, clock })), transcript, clock };
  return {
    dir,
    origin,
    workspaces,
    mock,
    deps,
    sandbox,
    store,
    transcript,
    sink,
    ticketId: randomTicketId(),
    spec: options.spec ?? DEMO_SPEC,
    ticket: options.ticket ?? DEMO_TICKET,
    async [Symbol.asyncDispose]() {
      try {
        await mock[Symbol.asyncDispose]();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

const STAGE_OF: Partial<Record<Role, Stage>> = { refiner: 'refining', 'test-author': 'writing_tests', coder: 'coding', reviewer: 'reviewing' };

export function workItem(w: World, role: Role, over: { ticketId?: string; artifacts?: Record<string, unknown>; answers?: WorkItemData['ticket']['answers']; usage?: Record<string, RoleUsage> } = {}): WorkItemData {
  return {
    stage: STAGE_OF[role]!,
    attempt: 1,
    ticket: {
      id: over.ticketId ?? w.ticketId,
      title: w.ticket.title,
      body: w.ticket.body,
      type: 'feature',
      repo: { path: w.origin },
      labels: ['demo'],
      answers: over.answers ?? [],
      artifacts: over.artifacts ?? { refining: { spec: w.spec } },
      usage: over.usage ?? {},
    },
  };
}

/** Runs a handler in-process the way the runtime would, collecting the usage it reports. */
export async function run(w: World, make: (deps: AgentDeps) => AgentHandler, role: Role, work: WorkItemData): Promise<{ outcome: StageOutcome; usage: RoleUsage[] }> {
  const readers: (() => RoleUsage)[] = [];
  const ctx: HandlerContext = {
    role,
    workId: `w-${randomUUID()}`,
    deliveries: 1,
    signal: new AbortController().signal,
    log: w.sink.log.child({ role, ticketId: work.ticket.id }),
    trackUsage: (read) => void readers.push(read),
  };
  const outcome = await make(w.deps)(work, ctx);
  return { outcome, usage: readers.map((r) => r()) };
}

export function advanced<T>(outcome: StageOutcome): T {
  if (outcome.kind !== 'advance') throw new Error(`expected advance, got ${JSON.stringify(outcome).slice(0, 3_000)}`);
  return outcome.output as T;
}


function textOf(m: MockCall['request']['messages'][number]): string {
  if (typeof m.content === 'string') return m.content;
  if (Array.isArray(m.content)) return m.content.map((p) => p.text ?? '').join('');
  return '';
}
export function callsOf(w: World, role: string, ticketId?: string): MockCall[] {
  return w.mock.server.calls.filter((c) => c.role === role && (ticketId === undefined || c.ticket === ticketId));
}
/** The last user or tool message of a request: what the model was just told. */
export function told(call: MockCall | undefined): string {
  if (!call) throw new Error('no such model call');
  const last = [...call.request.messages].reverse().find((m) => m.role === 'user' || m.role === 'tool');
  return last ? textOf(last) : '';
}
export function expectScriptUsed(w: World): void {
  expect(w.mock.server.failures).toEqual([]);
  expect(w.mock.server.unused()).toEqual([]);
}

export const branchOf = (id: string) => `nightshift/${id}`;
export async function branchExists(repo: string, branch: string): Promise<boolean> {
  return (await git(repo, ['branch', '--list', branch])).trim() !== '';
}
/** Commits on the ticket branch of the origin, oldest first: sha, author, files. */
export async function branchCommits(origin: string, id: string): Promise<{ sha: string; author: string; files: string[] }[]> {
  const out = (await git(origin, ['log', '--reverse', '--format=%H %an', `main..${branchOf(id)}`])).trim();
  if (!out) return [];
  return Promise.all(
    out.split('\n').map(async (line) => {
      const [sha, ...name] = line.split(' ');
      const files = (await git(origin, ['diff-tree', '--no-commit-id', '--name-only', '-r', sha!])).trim().split('\n').filter(Boolean);
      return { sha: sha!, author: name.join(' '), files };
    }),
  );
}

/** Commits `commits` on the ticket branch of `origin` by hand (as the given roles) and pushes it. */
export async function craftBranch(w: World, id: string, commits: { role: string; files: Record<string, string> }[]): Promise<string[]> {
  const clone = join(w.dir, `craft-${id}`);
  await git(w.dir, ['clone', '--quiet', w.origin, clone]);
  await git(clone, ['checkout', '--quiet', '-b', branchOf(id)]);
  const shas: string[] = [];
  for (const c of commits) {
    for (const [path, content] of Object.entries(c.files)) {
      await mkdir(dirname(join(clone, path)), { recursive: true });
      await writeFile(join(clone, path), content);
    }
    await git(clone, ['add', '--all']);
    await git(clone, ['commit', '--quiet', '-m', `${c.role} commit`], { identity: roleIdentity(c.role) });
    shas.push((await git(clone, ['rev-parse', 'HEAD'])).trim());
  }
  await git(clone, ['push', '--quiet', 'origin', branchOf(id)]);
  return shas;
}

/** A run as stored, with the per-test evidence of the demo's suite when `tests` is given (red: with an index). */
export function suiteRun(passed: boolean, tests?: TestCase[]): SuiteRun {
  return {
    ...(tests && { tests: evidenceOf({ runners: ['node:test'], tests, errors: [] }, { index: !passed }) }),
    passed,
    exitCode: passed ? 0 : 1,
    failure: passed ? null : 'exit code 1',
    durationMs: 100,
    output: passed ? 'pass' : 'fail',
    command: 'npm test',
    image: DEFAULT_NODE_IMAGE,
    at: '2030-01-01T00:00:00.000Z',
  };
}
