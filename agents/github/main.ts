import { connectBus, createPullRequestStore, encodeEnvelope, isNoResponders, provision, requestIntake, type Bus } from '../../bus/index.ts';
import { connectGitHub, gitHubHosts } from '../../shared/forge/index.ts';
import { AgentError, untilAborted, UserInputError, type Config, type IntakeReply, type Logger } from '../../shared/index.ts';
import { createWebhookHandler } from './handler.ts';
import { startWebhookServer, type WebhookServer } from './server.ts';

function webhookSecret(config: Config): string {
  const secret = config.GITHUB_WEBHOOK_SECRET;
  if (!secret) throw new UserInputError('github_webhook_secret_missing', 'the GitHub webhook receiver needs GITHUB_WEBHOOK_SECRET, the secret set on the webhook');
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

/** The webhook receiver on a connected bus: handler and HTTP server, with the bus as its outlet. */
export async function startGitHubGateway({ bus, config, log }: { bus: Bus; config: Config; log: Logger }): Promise<WebhookServer> {
  const secret = webhookSecret(config);
  const github = connectGitHub(config, { log });
  if (!github) log.warn('no GITHUB_TOKEN or GitHub App: a review is read from its webhook payloads only');
  const handle = createWebhookHandler({
    secret,
    prs: await createPullRequestStore(bus),
    hosts: gitHubHosts(config),
    github,
    issueLabel: config.NIGHTSHIFT_GITHUB_ISSUE_LABEL,
    bugLabel: config.NIGHTSHIFT_GITHUB_BUG_LABEL,
    log,
    async publish(ticketId, ev) {
      await bus.js.publish(bus.subjects.event(ticketId, ev.type), encodeEnvelope(ev), { msgID: ev.id });
    },
    intake: (payload) => postIntake(bus, bus.subjects.ticketIntake, payload),
    bugIntake: (payload) => postIntake(bus, bus.subjects.bugIntake, payload),
  });
  return startWebhookServer({ handle, host: config.NIGHTSHIFT_GITHUB_HOST, port: config.NIGHTSHIFT_GITHUB_PORT, log });
}

/**
 * The GitHub webhook receiver process (`nightshift github`): connect, provision, serve deliveries until
 * `signal` aborts, then stop listening and drain the connection.
 */
export async function runGitHubReceiver({ config, log, signal }: { config: Config; log: Logger; signal: AbortSignal }): Promise<void> {
  webhookSecret(config);
  const bus = await connectBus({ url: config.NATS_URL, prefix: config.NIGHTSHIFT_PREFIX, name: 'nightshift-github', log });
  try {
    await provision(bus, { ackWaitMs: config.NIGHTSHIFT_ACK_WAIT, maxDeliver: config.NIGHTSHIFT_MAX_DELIVER });
    const server = await startGitHubGateway({ bus, config, log });
    await untilAborted(signal);
    await server.close();
    log.info('github webhook receiver stopped');
  } finally {
    await bus.close();
  }
}
