/**
 * `tokens`: does what a ticket costs grow with the size of its repository? The demo ticket runs on the
 * demo repository (the baseline) and on the same repository with 1,000 extra files, against mock-llm
 * serving the demo script with its recorded usage taken out, so that every prompt's tokens are counted
 * from what the agents really sent (mock-llm estimates 4 characters a token). Handlers run in-process
 * the way the runtime calls them, with real git and, for the roles that run code, the real Docker
 * sandbox (skipped without it).
 *
 * Also the cost of opening a stage's workspace on the 1,000-file repository: from this machine's warm
 * mirror against a plain `git clone` of a `file://` URL (the pack protocol, as from a server) and
 * against a workspace opened by a full clone of that URL (what every stage did before the mirror), and
 * the first open (cold mirror), for information. On one machine the transfer a mirror saves is cheap;
 * checking out the files is most of what is left, and the mirror cannot save that.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { AgentDeps } from '../agents/kit/deps.ts';
import type { AgentHandler, HandlerContext } from '../agents/runtime/runtime.ts';
import type { StageOutcome, WorkItemData } from '../bus/index.ts';
import { createDemoRepo, DEMO_SCRIPT, demoTicket } from '../cli/demo.ts';
import { DEFAULT_NODE_IMAGE, DockerSandbox, GATE_IMAGE, type Sandbox } from '../sandbox/index.ts';
import { createLocalForge, createLogger, git, loadConfig, openWorkspace, randomTicketId, type Role, type Stage } from '../shared/index.ts';
import { createForgeRouter } from '../shared/forge/index.ts';
import { loadMockScript, memoryTranscript, startMockLlm, type MockScriptInput } from '../shared/llm/index.ts';
import { memoryPrStore } from '../test/helpers/forge.ts';
import { median, print, skipped, type BenchModule, type BenchOptions } from './lib.ts';

const EXTRA_FILES = 1_000;

/** The demo repository with `EXTRA_FILES` more files under src/gen/, committed on main. */
async function bigRepo(dir: string): Promise<string> {
  await createDemoRepo(dir);
  mkdirSync(join(dir, 'src', 'gen'), { recursive: true });
  for (let i = 0; i < EXTRA_FILES; i++) {
    const n = String(i).padStart(4, '0');
    writeFileSync(
      join(dir, 'src', 'gen', `file-${n}.js`),
      `// Generated module ${n}.\nexport function value${n}(x) {\n  return x * ${i} + ${i % 7};\n}\n\nexport const name${n} = 'gen-${n}';\n`,
    );
  }
  await git(dir, ['add', '--all']);
  await git(dir, ['commit', '--quiet', '-m', `${EXTRA_FILES} generated modules`], { identity: { name: 'bench', email: 'bench@nightshift.invalid' } });
  return dir;
}

/** The demo script without its recorded usage: mock-llm then counts the prompts it is really sent. */
async function measuredScript(): Promise<MockScriptInput> {
  const script = await loadMockScript(DEMO_SCRIPT);
  const roles = Object.fromEntries(Object.entries(script.roles).map(([role, entries]) => [role, entries.map(({ usage: _usage, ...e }) => e)]));
  return { version: 1, roles };
}

const STAGES: { role: Role; stage: Stage; make: () => Promise<(deps: AgentDeps) => AgentHandler> }[] = [
  { role: 'refiner', stage: 'refining', make: async () => (await import('../agents/refiner/handler.ts')).createRefiner },
  { role: 'test-author', stage: 'writing_tests', make: async () => (await import('../agents/test-author/handler.ts')).createTestAuthor },
  { role: 'coder', stage: 'coding', make: async () => (await import('../agents/coder/handler.ts')).createCoder },
  { role: 'reviewer', stage: 'reviewing', make: async () => (await import('../agents/reviewer/handler.ts')).createReviewer },
];

interface TicketRun {
  inputTokens: number;
  calls: number;
}

/**
 * Runs the demo ticket through `roles` (in chain order) on `origin`, each stage's output handed to the
 * next as its artifact, and returns the prompt tokens of the whole ticket.
 */
async function runTicket(dir: string, origin: string, script: MockScriptInput, roles: readonly Role[], sandbox: Sandbox): Promise<TicketRun> {
  await using mock = await startMockLlm({ script });
  const log = createLogger({ level: 'silent' });
  const config = loadConfig(
    {},
    { NIGHTSHIFT_WORKSPACES_DIR: join(dir, `ws-${randomUUID()}`), OPENAI_BASE_URL: mock.url, OPENAI_API_KEY: 'bench', NIGHTSHIFT_MODEL_RETRIES: '0', NIGHTSHIFT_MODEL_TIMEOUT: '60s' },
  );
  const deps: AgentDeps = { config, log, sandbox, forges: createForgeRouter([], createLocalForge({ store: memoryPrStore() })), transcript: memoryTranscript(), clock: () => new Date() };
  const t = demoTicket() as { title: string; body: string; labels?: string[] };
  const ticket: WorkItemData['ticket'] = {
    id: randomTicketId(),
    title: t.title,
    body: t.body,
    type: 'feature',
    repo: { path: origin },
    labels: t.labels ?? [],
    answers: [],
    artifacts: {},
    usage: {},
  };
  let inputTokens = 0;
  let calls = 0;
  for (const { role, stage, make } of STAGES.filter((s) => roles.includes(s.role))) {
    const readers: (() => { inputTokens: number; calls: number })[] = [];
    const ctx: HandlerContext = {
      role,
      workId: `w-${randomUUID()}`,
      deliveries: 1,
      signal: new AbortController().signal,
      log,
      trackUsage: (read) => void readers.push(read),
    };
    const outcome: StageOutcome = await (await make())(deps)({ stage, attempt: 1, ticket }, ctx);
    if (outcome.kind !== 'advance') throw new Error(`the ${role} did not advance the demo ticket: ${JSON.stringify(outcome).slice(0, 2_000)}`);
    ticket.artifacts = { ...ticket.artifacts, [stage]: outcome.output };
    for (const r of readers) {
      const u = r();
      inputTokens += u.inputTokens;
      calls += u.calls;
    }
  }
  if (mock.failures.length > 0) throw new Error(`mock-llm: ${mock.failures.map((f) => f.message).join('; ')}`);
  if (mock.unused().length > 0) throw new Error(`mock-llm: ${mock.unused().length} scripted responses unused`);
  return { inputTokens, calls };
}

/**
 * The demo script with a refiner that first looks around (a recursive listing and a broad search):
 * the first call's expectations move to that new first call.
 */
function exploring(script: MockScriptInput): MockScriptInput {
  const [first, ...rest] = script.roles.refiner ?? [];
  if (!first) throw new Error('the demo script has no refiner');
  const { expect, ...firstWithoutExpect } = first;
  const look = {
    toolCalls: [
      { name: 'list_files', arguments: { dir: '.', recursive: true } },
      { name: 'search', arguments: { pattern: 'export function' } },
    ],
    ...(expect && { expect }),
  };
  return { version: 1, roles: { refiner: [look, firstWithoutExpect, ...rest] } };
}

async function dockerReady(): Promise<string | null> {
  const sandbox = new DockerSandbox();
  const engine = await sandbox.available();
  if (!engine.ok) return engine.reason;
  for (const image of [DEFAULT_NODE_IMAGE, GATE_IMAGE]) {
    try {
      await sandbox.ensureImage(image);
    } catch {
      return `the sandbox image ${image} is missing`;
    }
  }
  return null;
}

async function tokens(opts: BenchOptions, dir: string, demo: string, big: string): Promise<void> {
  const script = await measuredScript();
  const sandbox = new DockerSandbox();
  // The refiner alone needs no sandbox: the stage that reads the repository most, here made to look around.
  const refiner = ['refiner'] as const;
  const small1 = await runTicket(dir, demo, exploring(script), refiner, sandbox);
  const big1 = await runTicket(dir, big, exploring(script), refiner, sandbox);
  print(opts, {
    bench: `prompt tokens, refiner listing+searching, +${EXTRA_FILES} files`,
    value: big1.inputTokens,
    baseline: small1.inputTokens,
    unit: 'tokens',
    ratio: big1.inputTokens / small1.inputTokens,
    goal: '<= 1.5',
    calls: big1.calls,
  });
  const why = await dockerReady();
  const name = `prompt tokens, demo ticket whole chain, +${EXTRA_FILES} files`;
  if (why !== null) return skipped(opts, name, why);
  const all = STAGES.map((s) => s.role);
  const small2 = await runTicket(dir, demo, script, all, sandbox);
  const big2 = await runTicket(dir, big, script, all, sandbox);
  print(opts, { bench: name, value: big2.inputTokens, baseline: small2.inputTokens, unit: 'tokens', ratio: big2.inputTokens / small2.inputTokens, goal: '<= 1.5', calls: big2.calls });
}

async function workspaceOpen(opts: BenchOptions, dir: string, demo: string, big: string): Promise<void> {
  const runs = opts.quick ? 3 : 9;
  const remote = { url: `file://${big}` };
  const repo = { path: big, baseBranch: 'main' };
  const ticketId = 'tk-0000000000';
  const cacheDir = join(dir, 'cache');
  const time = async (fn: () => Promise<unknown>) => {
    const t0 = performance.now();
    await fn();
    return performance.now() - t0;
  };
  const open = (root: string, r: { url: string }, c?: string) => async () => {
    const ws = await openWorkspace({ repo, ticketId, root, remote: r, ...(c !== undefined && { cacheDir: c }) });
    await ws.dispose();
  };
  const root = join(dir, 'open');
  const cold = await time(open(root, remote, cacheDir));
  const warm: number[] = [];
  const plain: number[] = [];
  const full: number[] = [];
  // Interleaved, so that a busy moment of the machine weighs on all alike.
  for (let i = 0; i < runs; i++) {
    warm.push(await time(open(root, remote, cacheDir)));
    const dest = join(dir, `plain-${i}`);
    plain.push(await time(() => git(dir, ['clone', '--quiet', '--no-tags', '--', remote.url, dest])));
    rmSync(dest, { recursive: true, force: true });
    full.push(await time(open(root, remote)));
  }
  const base = median(plain);
  print(opts, { bench: `workspace open, warm mirror vs git clone, +${EXTRA_FILES}`, value: median(warm), baseline: base, unit: 'ms', ratio: median(warm) / base, runs });
  print(opts, { bench: `workspace open, warm mirror vs full clone, +${EXTRA_FILES}`, value: median(warm), baseline: median(full), unit: 'ms', ratio: median(warm) / median(full), runs });
  print(opts, { bench: `workspace open, cold mirror vs git clone, +${EXTRA_FILES}`, value: cold, baseline: base, unit: 'ms', ratio: cold / base, runs: 1 });
  // How the warm open grows with the repository: the same against the demo repository's.
  const demoCache = join(dir, 'cache-demo');
  const demoRemote = { url: `file://${demo}` };
  await open(root, demoRemote, demoCache)();
  const small: number[] = [];
  for (let i = 0; i < runs; i++) small.push(await time(open(root, demoRemote, demoCache)));
  print(opts, { bench: `workspace open, warm mirror, +${EXTRA_FILES} vs demo repo`, value: median(warm), baseline: median(small), unit: 'ms', ratio: median(warm) / median(small), runs });
}

export const tokensBench: BenchModule = {
  name: 'tokens',
  what: `prompt tokens of the demo ticket with ${EXTRA_FILES} extra files against the demo repository; workspace open from the mirror`,
  async run(opts) {
    const dir = mkdtempSync(join(tmpdir(), 'ns-bench-tokens-'));
    try {
      const demo = await createDemoRepo(join(dir, 'demo'));
      const big = await bigRepo(join(dir, 'big'));
      await tokens(opts, dir, demo, big);
      await workspaceOpen(opts, dir, demo, big);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
