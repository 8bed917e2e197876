import { createPullRequestStore, createTranscriptSink, TicketStore, type Bus } from '../bus/index.ts';
import { DockerSandbox } from '../sandbox/index.ts';
import { forgesFromConfig } from '../shared/forge/index.ts';
import { observeSandboxRun, UserInputError, type Config, type Logger, type Role } from '../shared/index.ts';
import { createCoder } from './coder/handler.ts';
import type { AgentDeps } from './kit/deps.ts';
import { createRefiner } from './refiner/handler.ts';
import { createReviewer } from './reviewer/handler.ts';
import type { AgentHandler } from './runtime/runtime.ts';
import { createTestAuthor } from './test-author/handler.ts';
import { createTriager } from './triager/handler.ts';

/** What the built-in agents may be given beyond AgentDeps: the tickets, which only the triager reads. */
type BuiltInDeps = AgentDeps & { tickets: TicketStore };

const BUILT_IN: Record<Role, (deps: BuiltInDeps) => AgentHandler> = {
  triager: createTriager,
  refiner: createRefiner,
  'test-author': createTestAuthor,
  coder: createCoder,
  reviewer: createReviewer,
};

/**
 * The built-in agent of a role, wired to the real world: the Docker sandbox, the model endpoint of
 * the configuration, transcripts on the bus, and the forges (GitHub for GitHub repositories when it is
 * configured, the local forge otherwise), and for the triager the tickets it compares reports with.
 */
export async function builtInHandler(role: Role, { bus, config, log }: { bus: Bus; config: Config; log: Logger }): Promise<AgentHandler> {
  const make = BUILT_IN[role];
  const sandbox = new DockerSandbox({ setupNetwork: config.NIGHTSHIFT_SETUP_NETWORK, setupAllow: config.NIGHTSHIFT_SETUP_ALLOW, onRun: observeSandboxRun });
  let detail = 'not used';
  // The triager only reads the repository; every other role runs its code.
  if (role !== 'triager') {
    const available = await sandbox.available();
    if (!available.ok) throw new UserInputError('sandbox_unavailable', `the ${role} agent runs code in Docker, which is not available: ${available.reason}`);
    detail = available.detail;
    const removed = await sandbox.removeLeftovers();
    if (removed > 0) log.warn({ removed }, 'removed sandbox containers left behind by a crashed process');
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
