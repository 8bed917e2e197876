import { createPullRequestStore, createTranscriptSink, TicketStore, type Bus } from '../bus/index.ts';
import type { Sandbox } from '../sandbox/index.ts';
import { AgentError, observeSandboxRun, UserInputError, type Config, type Logger, type Role } from '../shared/index.ts';
import type { AgentDeps } from './kit/deps.ts';
import type { AgentHandler } from './runtime/runtime.ts';

/** What the built-in agents may be given beyond AgentDeps: the tickets, which only the triager reads. */
type BuiltInDeps = AgentDeps & { tickets: TicketStore };

/**
 * Each role's handler module, imported only by the process that runs the role: a process loads its
 * own agent (its prompts, its model client, the sandbox if it runs code) and none of the others'.
 */
const BUILT_IN: Record<Role, () => Promise<(deps: BuiltInDeps) => AgentHandler>> = {
  triager: async () => (await import('./triager/handler.ts')).createTriager,
  refiner: async () => (await import('./refiner/handler.ts')).createRefiner,
  'test-author': async () => (await import('./test-author/handler.ts')).createTestAuthor,
  coder: async () => (await import('./coder/handler.ts')).createCoder,
  reviewer: async () => (await import('./reviewer/handler.ts')).createReviewer,
};

/** The roles that run repository code, and so need a sandbox; the triager only reads the repository. */
const RUNS_CODE: ReadonlySet<Role> = new Set(['test-author', 'coder', 'reviewer']);

/**
 * The sandbox of a role that runs no code: any use is a programming error, said loudly. A proxy
 * rather than an implementation of the interface, so that it never needs the Docker client.
 */
function noSandbox(role: Role): Sandbox {
  return new Proxy({} as Sandbox, {
    get(_target, key) {
      if (key === 'then' || typeof key === 'symbol') return undefined;
      throw new AgentError('no_sandbox', `the ${role} agent runs no code: it has no sandbox (${String(key)})`, { retryable: false });
    },
  });
}

/**
 * The built-in agent of a role, wired to the real world: the Docker sandbox for the roles that run
 * code, the model endpoint of the configuration, transcripts on the bus, and the forges (GitHub for
 * GitHub repositories when it is configured, the local forge otherwise), and for the triager the
 * tickets it compares reports with. Only the role's own modules are loaded.
 */
export async function builtInHandler(role: Role, { bus, config, log }: { bus: Bus; config: Config; log: Logger }): Promise<AgentHandler> {
  const [make, { forgesFromConfig }] = await Promise.all([BUILT_IN[role](), import('../shared/forge/index.ts')]);
  let sandbox = noSandbox(role);
  let detail = 'not used';
  if (RUNS_CODE.has(role)) {
    const { DockerSandbox } = await import('../sandbox/index.ts');
    const docker = new DockerSandbox({
      setupNetwork: config.NIGHTSHIFT_SETUP_NETWORK,
      setupAllow: config.NIGHTSHIFT_SETUP_ALLOW,
      labels: config.NIGHTSHIFT_SANDBOX_LABELS,
      onRun: observeSandboxRun,
    });
    const available = await docker.available();
    if (!available.ok) throw new UserInputError('sandbox_unavailable', `the ${role} agent runs code in Docker, which is not available: ${available.reason}`);
    detail = available.detail;
    const removed = await docker.removeLeftovers();
    if (removed > 0) log.warn({ removed }, 'removed sandbox containers left behind by a crashed process');
    sandbox = docker;
  }
  log.info({ sandbox: detail, model: config.NIGHTSHIFT_MODEL, endpoint: config.OPENAI_BASE_URL }, 'built-in agent ready');
  return make({
    config,
    log,
    sandbox,
    forges: forgesFromConfig({ config, store: await createPullRequestStore(bus), log }),
    transcript: createTranscriptSink(bus, log),
    clock: () => new Date(),
    tickets: new TicketStore(await bus.tickets()),
  });
}
