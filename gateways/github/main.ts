import { busOptionsOf, createPullRequestStore, isNoResponders, publishEvent, requestIntake, runBusService, TicketStore, type Bus } from '../../bus/index.ts';
import { connectGitHub, gitHubHosts } from '../../shared/forge/index.ts';
import { AgentError, ConfigError, type Config, type IntakeReply, type Logger } from '../../shared/index.ts';
import { createIssueAsker, type IssueAsker, type IssueAskerSettings } from './asker.ts';
import { createWebhookHandler } from './handler.ts';
import { startWebhookServer, type WebhookServer } from './server.ts';

function webhookSecret(config: Config): string {
  const secret = config.GITHUB_WEBHOOK_SECRET;
  if (!secret) throw new ConfigError([{ path: 'GITHUB_WEBHOOK_SECRET', message: 'the GitHub webhook receiver needs it: the secret set on the webhook (docs/github.md)' }]);
  return secret;
}

/**
 * Posts `payload` on an intake subject (tickets or bugs) and reads the reply. No coordinator serving
 * it is a retryable error: the delivery is answered 503, and GitHub's redelivery is safe.
 */
async function postIntake(bus: Bus, subject: string, payload: unknown): Promise<IntakeReply> {
  try {
    return await requestIntake(bus, subject, payload, 30_000);
  } catch (err) {
    if (isNoResponders(err)) throw new AgentError('no_coordinator', `no coordinator serves ${subject}`, { retryable: true });
    throw err;
  }
}

/** The webhook receiver's server, and the asker when questions are asked on issues. */
export interface GitHubGateway extends WebhookServer {
  readonly asker: IssueAsker | null;
}

/** Settings of the issue asker a test may shorten or name (the rest come from the configuration). */
export interface GatewayOptions {
  ask?: Partial<IssueAskerSettings> & { replica?: string };
}

/**
 * The GitHub gateway on a connected bus: the webhook handler and its HTTP server, with the bus as its
 * outlet, and, with GitHub credentials (and NIGHTSHIFT_GITHUB_ASK on), the asker that puts parked
 * tickets' questions on their issues. Closing it stops both.
 */
export async function startGitHubGateway({ bus, config, log, options = {} }: { bus: Bus; config: Config; log: Logger; options?: GatewayOptions }): Promise<GitHubGateway> {
  const secret = webhookSecret(config);
  const github = connectGitHub(config, { log });
  if (!github) log.warn('no GITHUB_TOKEN or GitHub App: a review is read from its webhook payloads only, and questions are not asked on issues');
  const hosts = gitHubHosts(config);
  const handle = createWebhookHandler({
    secret,
    prs: await createPullRequestStore(bus),
    tickets: new TicketStore(await bus.tickets()),
    hosts,
    github,
    issueLabel: config.NIGHTSHIFT_GITHUB_ISSUE_LABEL,
    bugLabel: config.NIGHTSHIFT_GITHUB_BUG_LABEL,
    mention: config.NIGHTSHIFT_GITHUB_MENTION === 'off' ? undefined : config.NIGHTSHIFT_GITHUB_MENTION,
    log,
    async publish(ticketId, ev) {
      await publishEvent(bus, 'github', ticketId, ev);
    },
    intake: (payload) => postIntake(bus, bus.subjects.ticketIntake, payload),
    bugIntake: (payload) => postIntake(bus, bus.subjects.bugIntake, payload),
  });
  let asker: IssueAsker | null = null;
  if (github && config.NIGHTSHIFT_GITHUB_ASK === 'on') {
    const { replica, ...settings } = options.ask ?? {};
    asker = createIssueAsker({
      bus,
      github,
      hosts,
      log,
      ...(replica !== undefined && { replica }),
      settings: {
        sweepIntervalMs: config.NIGHTSHIFT_SWEEP_INTERVAL,
        retryMs: config.NIGHTSHIFT_RETRY_BACKOFF,
        retryMaxMs: Math.max(config.NIGHTSHIFT_RETRY_BACKOFF_MAX, config.NIGHTSHIFT_RETRY_BACKOFF),
        ...settings,
      },
    });
    await asker.start();
  }
  let server: WebhookServer;
  try {
    server = await startWebhookServer({ handle, host: config.NIGHTSHIFT_GITHUB_HOST, port: config.NIGHTSHIFT_GITHUB_PORT, log });
  } catch (err) {
    await asker?.stop();
    throw err;
  }
  const close = async () => {
    await server.close();
    await asker?.stop();
  };
  return { url: server.url, asker, close, [Symbol.asyncDispose]: close };
}

/**
 * The GitHub webhook receiver process (`nightshift github`): connect, wait for the bus to be provisioned, serve deliveries until
 * `signal` aborts, then stop listening and drain the connection.
 */
export async function runGitHubReceiver({ config, log, signal }: { config: Config; log: Logger; signal: AbortSignal }): Promise<void> {
  webhookSecret(config);
  return runBusService({
    config,
    log,
    signal,
    connect: { ...busOptionsOf(config, 'github'), name: 'nightshift-github', log },
    ready: (names) => ({ buckets: [names.ticketsBucket, names.prsBucket, names.escalationsBucket] }),
    start: async (bus) => {
      const server = await startGitHubGateway({ bus, config, log });
      return { stop: server.close };
    },
    stopped: 'github webhook receiver stopped',
  });
}
