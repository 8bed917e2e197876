import type { Bus } from '../../bus/index.ts';
import { ConfigError, delay, repoRefOf, type Config, type FieldIssue, type Logger } from '../../shared/index.ts';
import { SlackAuthError, startSlackApp, type SlackApp, type SlackAppSettings } from './app.ts';
import { createSlackGateway, type GatewaySettings, type SlackApi } from './gateway.ts';
import { createSlackApi } from './slack-api.ts';

/** Everything the Slack gateway needs from the configuration, checked together. */
export interface SlackSettings extends SlackAppSettings, GatewaySettings {}

/** The Slack settings of `config`; throws ConfigError naming every missing one. */
export function slackSettings(config: Config): SlackSettings {
  const issues: FieldIssue[] = [];
  const mode = config.NIGHTSHIFT_SLACK_MODE;
  if (!config.SLACK_BOT_TOKEN) issues.push({ path: 'SLACK_BOT_TOKEN', message: 'the Slack gateway needs a bot token (xoxb-…)' });
  if (!config.SLACK_CHANNEL) issues.push({ path: 'SLACK_CHANNEL', message: 'the Slack gateway needs the id of the channel to post in' });
  if (mode === 'socket' && !config.SLACK_APP_TOKEN) {
    issues.push({ path: 'SLACK_APP_TOKEN', message: 'Socket Mode needs an app-level token (xapp-…); or set NIGHTSHIFT_SLACK_MODE=http' });
  }
  if (mode === 'http' && !config.SLACK_SIGNING_SECRET) {
    issues.push({ path: 'SLACK_SIGNING_SECRET', message: 'HTTP mode needs the signing secret to verify requests' });
  }
  if (issues.length) throw new ConfigError(issues);
  return {
    mode,
    botToken: config.SLACK_BOT_TOKEN!,
    appToken: config.SLACK_APP_TOKEN,
    signingSecret: config.SLACK_SIGNING_SECRET,
    port: config.NIGHTSHIFT_SLACK_PORT,
    apiUrl: config.SLACK_API_URL,
    channel: config.SLACK_CHANNEL!,
    remindEveryMs: config.NIGHTSHIFT_ESCALATION_REMIND,
    reminders: config.NIGHTSHIFT_ESCALATION_REMINDERS,
    sweepIntervalMs: config.NIGHTSHIFT_SWEEP_INTERVAL,
    triageChannel: config.NIGHTSHIFT_SLACK_TRIAGE_CHANNEL,
    triageRepo: config.NIGHTSHIFT_SLACK_TRIAGE_REPO === undefined ? undefined : repoRefOf(config.NIGHTSHIFT_SLACK_TRIAGE_REPO),
  };
}

export interface SlackService {
  /** HTTP mode's port once started; null in Socket Mode. */
  readonly port: number | null;
  /**
   * Follows the tickets and connects to Slack. While Slack cannot be reached it keeps trying (with
   * backoff, until `signal` aborts); a token Slack refuses fails at once (SlackAuthError).
   */
  start(signal?: AbortSignal): Promise<void>;
  stop(): Promise<void>;
}

export interface SlackServiceDeps {
  bus: Bus;
  config: Config;
  log: Logger;
  /** Overrides of the settings read from `config` (tests: short claim leases). */
  settings?: Partial<SlackSettings>;
  replica?: string;
  /** Slack's Web API for the gateway's own calls; by default over `apiUrl` with the bot token. */
  slack?: SlackApi;
}

/** The gateway and the Bolt app that feeds it: one replica of the Slack gateway. */
export function createSlackService({ bus, config, log, settings: overrides = {}, replica, slack }: SlackServiceDeps): SlackService {
  const settings = { ...slackSettings(config), ...overrides };
  const gateway = createSlackGateway({
    bus,
    log,
    settings,
    slack: slack ?? createSlackApi({ botToken: settings.botToken, apiUrl: settings.apiUrl, log }),
    ...(replica && { replica }),
  });
  let app: SlackApp | undefined;
  return {
    get port() {
      return app?.port ?? null;
    },
    async start(signal) {
      await gateway.start();
      for (let attempt = 1; !signal?.aborted; attempt++) {
        try {
          app = await startSlackApp({ settings, gateway, log });
          return;
        } catch (err) {
          if (err instanceof SlackAuthError) {
            await gateway.stop();
            throw err;
          }
          const retryInMs = Math.min(1_000 * 2 ** (attempt - 1), 30_000);
          log.warn({ err, attempt, retryInMs }, 'cannot connect to Slack; will retry');
          await delay(retryInMs, signal);
        }
      }
    },
    async stop() {
      await app?.stop();
      await gateway.stop();
    },
  };
}
