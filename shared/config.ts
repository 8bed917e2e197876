import { z } from 'zod';
import { ConfigError, fieldIssues } from './errors.ts';
import { parseDuration } from './duration.ts';
import { LlmConfigSchema } from './llm/config.ts';
import { parseAllowList } from './net.ts';
import { byteSize, duration, positiveInt } from './zod.ts';
import { redactUrl } from './redact.ts';
import { STAGES, type Stage } from './ticket/states.ts';


const natsUrls = z.string().superRefine((text, ctx) => {
  const servers = text.split(',').map((u) => u.trim());
  for (const server of servers) {
    if (!z.url({ protocol: /^(nats|tls|wss?)$/ }).safeParse(server).success) {
      ctx.addIssue({ code: 'custom', message: `"${redactUrl(server)}" is not a nats://, tls://, ws:// or wss:// URL (separate several with commas)` });
    }
  }
});

const stageTimeouts = z.string().transform((text, ctx) => {
  const out: Partial<Record<Stage, number>> = {};
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const [stage, value, extra] = part.split('=').map((s) => s.trim());
    const ms = value === undefined ? undefined : parseDuration(value);
    if (!stage || !(STAGES as readonly string[]).includes(stage) || ms === undefined || extra !== undefined) {
      ctx.addIssue({
        code: 'custom',
        message: `"${part}" is not <stage>=<duration> with a stage among ${STAGES.join(', ')}`,
      });
      continue;
    }
    out[stage as Stage] = ms;
  }
  return out;
});

/**
 * Every setting nightshift reads, by environment variable name. Command-line flags are applied as
 * overrides of the same names before parsing, so a bad flag and a bad variable are reported alike.
 */
export const ConfigSchema = z.object({
  /**
   * NATS server URL, or a comma-separated list of a cluster's servers. Unset: `nightshift up` starts
   * an embedded server; other commands use the default.
   */
  NATS_URL: natsUrls.optional(),
  /** A `.creds` file (decentralized JWT auth: the user's JWT and nkey seed). */
  NATS_CREDS: z.string().min(1).optional(),
  /** A file holding an nkey user seed (`SU…`), as `nightshift nats config` writes one per process kind. */
  NATS_NKEY: z.string().min(1).optional(),
  /** User and password, or a token: the simpler ways a server may ask a client to authenticate. */
  NATS_USER: z.string().min(1).optional(),
  NATS_PASSWORD: z.string().min(1).optional(),
  NATS_TOKEN: z.string().min(1).optional(),
  /** TLS: the CA that signed the server's certificate, and the client's certificate and key (PEM files). */
  NATS_CA: z.string().min(1).optional(),
  NATS_CERT: z.string().min(1).optional(),
  NATS_KEY: z.string().min(1).optional(),
  /** Prefix of every subject, stream, consumer and bucket; lets several installations share a server. */
  NIGHTSHIFT_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, "_" and "-" only (one subject token)')
    .max(32)
    .default('nightshift'),
  NIGHTSHIFT_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /**
   * Set: every long-running process (coordinator, agents, gateways) serves `GET /healthz` (alive)
   * and `GET /readyz` (connected and serving) on this port, for probes. Unset: no health server.
   */
  NIGHTSHIFT_HEALTH_PORT: z.coerce.number().int().min(0).max(65_535).optional(),
  /** The address the health endpoints listen on; `0.0.0.0` in a container. */
  NIGHTSHIFT_HEALTH_HOST: z.string().min(1).default('127.0.0.1'),
  /**
   * Replicas of every stream and KV bucket nightshift provisions: 1 on one server, 3 on a 3-node
   * JetStream cluster (each acknowledged write then survives the loss of one node; docs/deploy.md).
   */
  NIGHTSHIFT_JS_REPLICAS: z.enum(['1', '3']).transform(Number).default(1),
  /** Where `nightshift up` keeps the embedded server's JetStream data. */
  NIGHTSHIFT_DATA_DIR: z.string().min(1).default('.nightshift'),
  /** Largest intake payload accepted; larger ones are answered `payload_too_large` and kept truncated. */
  NIGHTSHIFT_INTAKE_MAX_BYTES: positiveInt.max(900_000).default(262_144),
  /** How long an agent may hold a work item without an in-progress ack before it is redelivered. */
  NIGHTSHIFT_ACK_WAIT: duration.default(30_000),
  /** Deliveries of one work item before it is given up as failed. */
  NIGHTSHIFT_MAX_DELIVER: positiveInt.max(100).default(5),
  /** First delay before a retryable failure is retried; doubles per delivery, capped by the max. */
  NIGHTSHIFT_RETRY_BACKOFF: duration.default(1_000),
  NIGHTSHIFT_RETRY_BACKOFF_MAX: duration.default(60_000),
  /** Bound on one attempt of one stage; an attempt past it is dispatched again, up to the attempts. */
  NIGHTSHIFT_STAGE_TIMEOUT: duration.default(1_800_000),
  /** Per-stage overrides, e.g. `coding=1h,refining=10m`. */
  NIGHTSHIFT_STAGE_TIMEOUTS: stageTimeouts.default({}),
  NIGHTSHIFT_STAGE_ATTEMPTS: positiveInt.max(20).default(3),
  /**
   * Bound on the wait between a dispatch and an agent starting it (the stage timeout runs from the
   * start); an attempt nobody starts in time is dispatched again, up to the attempts, then fails.
   */
  NIGHTSHIFT_QUEUE_TIMEOUT: duration.default(3_600_000),
  /**
   * How often the coordinator checks that a ticket's dispatched work is still on its way (queued, in
   * an agent's hands, or its result applied), repairing what a cluster lost in a leader change: an
   * item its consumer passed over is queued again; a result lost (the item gone) gets the attempt
   * dispatched again. Each only once two checks an interval apart saw the same loss.
   */
  NIGHTSHIFT_LOST_WORK_CHECK: duration.default(30_000),

  // Bounds on what the server keeps (docs/security.md has the full table).
  /** The rejected-payload stream: total size and count; the oldest go first. */
  NIGHTSHIFT_REJECTED_MAX_BYTES: byteSize.default(64 * 1024 ** 2),
  NIGHTSHIFT_REJECTED_MAX_MSGS: positiveInt.default(100_000),
  /** How much of each rejected payload is kept (its size and SHA-256 are kept whole). */
  NIGHTSHIFT_REJECTED_KEEP_BYTES: byteSize.pipe(z.number().max(900_000)).default(16 * 1024),
  /** The events stream's total size; the oldest (already applied) events go first. */
  NIGHTSHIFT_EVENTS_MAX_BYTES: byteSize.default(1024 ** 3),
  /** The transcripts stream's total size; the oldest exchanges go first. */
  NIGHTSHIFT_TRANSCRIPTS_MAX_BYTES: byteSize.default(2 * 1024 ** 3),
  /** Work items queued at once; past it, dispatches wait in the coordinator's outbox. */
  NIGHTSHIFT_WORK_MAX_MSGS: positiveInt.default(100_000),
  /** The tickets bucket's total size (history included); past it, intake refuses new tickets. */
  NIGHTSHIFT_TICKETS_MAX_BYTES: byteSize.default(1024 ** 3),
  /** How long a ticket may wait in awaiting_human before it fails. */
  NIGHTSHIFT_HUMAN_TIMEOUT: duration.default(259_200_000),
  /** How often each coordinator looks for due timers and unsent dispatches. */
  NIGHTSHIFT_SWEEP_INTERVAL: duration.default(1_000),
  /** After SIGTERM, how long an agent may finish its current item before handing it back. */
  NIGHTSHIFT_SHUTDOWN_GRACE: duration.default(30_000),
  /** Where agents clone repositories, one fresh clone per stage attempt. */
  NIGHTSHIFT_WORKSPACES_DIR: z.string().min(1).default('.nightshift/workspaces'),
  /**
   * Where agents keep one bare mirror per repository, fetched at the start of each stage, that
   * workspaces are cloned from locally. Unset: `.mirrors` under NIGHTSHIFT_WORKSPACES_DIR (on the same
   * file system, so workspaces hard-link the mirror's objects instead of copying them).
   */
  NIGHTSHIFT_CACHE_DIR: z.string().min(1).optional(),
  /**
   * The Docker network a dependency-setup step runs on (behind the egress gate, which lets it reach
   * public addresses and nothing on the host or private networks). Default: Docker's `bridge`.
   */
  NIGHTSHIFT_SETUP_NETWORK: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/, 'a Docker network name').default('bridge'),
  /**
   * What a setup step may reach besides public addresses: `<IPv4 address or CIDR>:<port>,…`, e.g. a
   * registry mirror or proxy on a private address (`10.0.0.5:4873`). TCP only. Default: nothing.
   */
  NIGHTSHIFT_SETUP_ALLOW: z
    .string()
    .transform((text, ctx) => {
      const parsed = parseAllowList(text);
      if (parsed.ok) return parsed.rules;
      for (const message of parsed.errors) ctx.addIssue({ code: 'custom', message });
      return z.NEVER;
    })
    .default([]),
  /**
   * Extra labels on every sandbox container (and egress gate) the agents create, `key=value,…`, so
   * that whoever shares the Docker engine can tell them apart (the test suite finds its own by them).
   */
  NIGHTSHIFT_SANDBOX_LABELS: z
    .string()
    .transform((text, ctx) => {
      const labels: Record<string, string> = {};
      for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
        const m = /^([a-z0-9][a-z0-9._-]{0,127})=([A-Za-z0-9._:@/-]{0,256})$/.exec(part);
        if (m) labels[m[1]!] = m[2]!;
        else ctx.addIssue({ code: 'custom', message: `"${part}" is not key=value (key: lower-case letters, digits, ".", "_", "-")` });
      }
      return labels;
    })
    .default({}),
  /** Tries the test author gets to write tests that fail for the right reason. */
  NIGHTSHIFT_TEST_AUTHOR_ATTEMPTS: positiveInt.max(10).default(2),
  /** Tries the coder gets to turn the suite green, each fed the previous failure. */
  NIGHTSHIFT_CODER_ATTEMPTS: positiveInt.max(10).default(3),
  /** Review rounds (reviewer sending work back to the coder) before the ticket escalates. */
  NIGHTSHIFT_REVIEW_ROUNDS: positiveInt.max(10).default(2),
  /**
   * The similarity (0–1) an open ticket needs before the triager shows it to the model as a possible
   * original of a new report; by default 0.2 with the lexical method, 0.5 with embeddings.
   */
  NIGHTSHIFT_TRIAGE_MIN_SIMILARITY: z.coerce.number().min(0).max(1).optional(),
  /** How many of the most similar open tickets the triager shows the model. */
  NIGHTSHIFT_TRIAGE_CANDIDATES: positiveInt.max(20).default(5),

  // Slack escalations (`nightshift slack`, docs/slack.md).
  /** Bot token (`xoxb-…`): posts and updates escalation messages. Set, `up` starts the Slack gateway. */
  SLACK_BOT_TOKEN: z.string().regex(/^xox[bp]-/, 'a Slack bot token (xoxb-…)').optional(),
  /** App-level token (`xapp-…`, scope connections:write) for Socket Mode. */
  SLACK_APP_TOKEN: z.string().regex(/^xapp-/, 'a Slack app-level token (xapp-…)').optional(),
  /** Verifies the signature of every request in HTTP mode. */
  SLACK_SIGNING_SECRET: z.string().min(1).optional(),
  /** The channel escalations are posted in, by ID (`C…` public, `G…` private). */
  SLACK_CHANNEL: z.string().regex(/^[CG][A-Z0-9]{2,}$/, 'a channel ID such as C0123456789 (not a #name)').optional(),
  /** `socket` (Socket Mode, no public URL) or `http` (Events API requests to POST /slack/events). */
  NIGHTSHIFT_SLACK_MODE: z.enum(['socket', 'http']).default('socket'),
  /** Port of the HTTP mode's server (0: any free port). */
  NIGHTSHIFT_SLACK_PORT: z.coerce.number().int().min(0).max(65_535).default(3000),
  /** Interval of reminders in an unanswered escalation's thread; 0 sends none. */
  NIGHTSHIFT_ESCALATION_REMIND: duration.default(14_400_000),
  /** Most reminders one escalation gets (none after the human timeout either way). */
  NIGHTSHIFT_ESCALATION_REMINDERS: z.coerce.number().int().min(0).max(20).default(3),
  /** Slack's Web API base URL; tests point it at a local fake. */
  SLACK_API_URL: z.url({ protocol: /^https?$/ }).optional(),
  /**
   * A channel, by ID, whose every new top-level message from a person is filed as a bug report (bug
   * intake); the gateway answers in the message's thread. Needs NIGHTSHIFT_SLACK_TRIAGE_REPO.
   */
  NIGHTSHIFT_SLACK_TRIAGE_CHANNEL: z.string().regex(/^[CG][A-Z0-9]{2,}$/, 'a channel ID such as C0123456789 (not a #name)').optional(),
  /**
   * The repository the triage channel's bug reports are about: a clone URL when it looks like one
   * (`scheme://…` or `user@host:path`), else a local path (relative to the gateway's working
   * directory), as with `ticket create --repo`. Needs NIGHTSHIFT_SLACK_TRIAGE_CHANNEL.
   */
  NIGHTSHIFT_SLACK_TRIAGE_REPO: z.string().trim().min(1).max(4096).optional(),

  // GitHub forge and webhooks (`nightshift github`, docs/github.md).
  /** A token (fine-grained: Contents and Pull requests read/write) for the API and git over HTTPS. */
  GITHUB_TOKEN: z.string().min(1).optional(),
  /** A GitHub App instead of a token: its id and private key (PEM; `\n` escapes are accepted). */
  GITHUB_APP_ID: positiveInt.optional(),
  GITHUB_APP_PRIVATE_KEY: z.string().min(1).optional(),
  /** The REST API's base URL (GitHub Enterprise: `https://HOST/api/v3`); tests point it at a fake. */
  GITHUB_API_URL: z.url({ protocol: /^https?$/ }).default('https://api.github.com'),
  /**
   * Where git clones and pushes a GitHub repository: `<this>/<owner>/<repo>.git`. Its host, with
   * github.com, is what makes a ticket's repo.url a GitHub repository. Tests use a local directory
   * (`file:///…`) or a fake's git endpoint.
   */
  GITHUB_GIT_URL: z.url({ protocol: /^(https?|file)$/ }).default('https://github.com'),
  /** Verifies `X-Hub-Signature-256` on every webhook delivery; `nightshift github` needs it. */
  GITHUB_WEBHOOK_SECRET: z.string().min(1).optional(),
  /** Address and port the webhook receiver listens on (port 0: any free port). */
  NIGHTSHIFT_GITHUB_HOST: z.string().min(1).default('0.0.0.0'),
  NIGHTSHIFT_GITHUB_PORT: z.coerce.number().int().min(0).max(65_535).default(3001),
  /** Set: an issue given this label becomes a ticket (through intake, like any other). */
  NIGHTSHIFT_GITHUB_ISSUE_LABEL: z.string().min(1).max(50).optional(),
  /**
   * Set: an issue given this label becomes a bug report (through bug intake, so the triager sees it
   * first). It wins over NIGHTSHIFT_GITHUB_ISSUE_LABEL when an issue carries both.
   */
  NIGHTSHIFT_GITHUB_BUG_LABEL: z.string().min(1).max(50).optional(),
  /**
   * `on`: with GitHub credentials, `nightshift github` puts the questions of a ticket that came from an
   * issue on that issue (one comment per parking). `off`: they go through Slack or `nightshift answer`
   * only. Answers given as issue comments are taken either way.
   */
  NIGHTSHIFT_GITHUB_ASK: z.enum(['on', 'off']).default('on'),
  /**
   * A comment on a nightshift pull request's conversation that mentions this, by someone with write
   * access, sends the work back to the coder like a review does. `off`: such comments are not used.
   */
  NIGHTSHIFT_GITHUB_MENTION: z.union([z.literal('off'), z.string().regex(/^@[A-Za-z0-9][A-Za-z0-9-]{0,38}(\[bot\])?$/, 'an @handle, e.g. @nightshift')]).default('@nightshift'),

  // The web console (`nightshift web`, started by `up`; gateways/web).
  /** Address the console listens on: loopback unless told otherwise (`0.0.0.0` behind a reverse proxy). */
  NIGHTSHIFT_WEB_HOST: z.string().min(1).default('127.0.0.1'),
  /** Port of the console (0: any free port). */
  NIGHTSHIFT_WEB_PORT: z.coerce.number().int().min(0).max(65_535).default(4280),
  /**
   * The token that allows changing requests (answer, cancel): sent as `Authorization: Bearer …`, or
   * given once in the console's login form (a SameSite=Strict cookie). Unset, nothing can be changed
   * from the console unless a trusted proxy header is configured.
   */
  NIGHTSHIFT_WEB_TOKEN: z.string().min(16, 'at least 16 characters').optional(),
  /**
   * A request header set by an authenticating reverse proxy (e.g. `X-Forwarded-User`): a request that
   * carries it may change state, as that user. Only for a console reachable through that proxy alone.
   */
  NIGHTSHIFT_WEB_PROXY_HEADER: z.string().regex(/^[A-Za-z0-9-]{1,100}$/, 'a header name such as X-Forwarded-User').optional(),
  /**
   * OpenTelemetry traces (shared/trace.ts): exported over OTLP/HTTP (JSON) to this collector base URL,
   * `/v1/traces` appended. Unset (and no OTEL_EXPORTER_OTLP_TRACES_ENDPOINT), tracing is off and free.
   */
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
  /** The traces endpoint itself, used as it is; wins over OTEL_EXPORTER_OTLP_ENDPOINT. */
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
  /** `none` turns trace export off even with an endpoint set; `otlp` is the only exporter. */
  OTEL_TRACES_EXPORTER: z.enum(['otlp', 'none']).default('otlp'),
  /** `true` turns OpenTelemetry off whatever else is set. */
  OTEL_SDK_DISABLED: z.enum(['true', 'false']).default('false').transform((v) => v === 'true'),
  /** The `service.name` of the process's spans; default `nightshift-coordinator`, `nightshift-agent-<role>`. */
  OTEL_SERVICE_NAME: z.string().min(1).max(200).optional(),
  /** Milliseconds between two exports of the spans a process has ended (batch span processor). */
  OTEL_BSP_SCHEDULE_DELAY: positiveInt.default(5_000),
}).extend(LlmConfigSchema.shape).superRefine(
  (c, ctx) => {
    // The triage channel and its repository go together: a report without a repository cannot be filed.
    const channel = c.NIGHTSHIFT_SLACK_TRIAGE_CHANNEL !== undefined;
    const repo = c.NIGHTSHIFT_SLACK_TRIAGE_REPO !== undefined;
    const methods = [c.NATS_CREDS && 'NATS_CREDS', c.NATS_NKEY && 'NATS_NKEY', (c.NATS_USER || c.NATS_PASSWORD) && 'NATS_USER', c.NATS_TOKEN && 'NATS_TOKEN'].filter(Boolean);
    if (methods.length > 1) {
      ctx.addIssue({ code: 'custom', path: [String(methods[1])], message: `give one way to authenticate to NATS, not ${methods.join(' and ')}` });
    }
    if (Boolean(c.NATS_USER) !== Boolean(c.NATS_PASSWORD)) {
      ctx.addIssue({ code: 'custom', path: [c.NATS_USER ? 'NATS_PASSWORD' : 'NATS_USER'], message: 'NATS_USER and NATS_PASSWORD go together' });
    }
    if (Boolean(c.NATS_CERT) !== Boolean(c.NATS_KEY)) {
      ctx.addIssue({ code: 'custom', path: [c.NATS_CERT ? 'NATS_KEY' : 'NATS_CERT'], message: 'a client certificate (NATS_CERT) needs its key (NATS_KEY), and the other way round' });
    }
    if (channel && !repo) {
      ctx.addIssue({ code: 'custom', path: ['NIGHTSHIFT_SLACK_TRIAGE_REPO'], message: 'NIGHTSHIFT_SLACK_TRIAGE_CHANNEL is set: give the repository its bug reports are about' });
    } else if (repo && !channel) {
      ctx.addIssue({ code: 'custom', path: ['NIGHTSHIFT_SLACK_TRIAGE_CHANNEL'], message: 'NIGHTSHIFT_SLACK_TRIAGE_REPO is set: give the triage channel (ID) too, or unset it' });
    }
  },
  // Checked even when another variable is bad, so that every problem is named at once.
  { when: () => true },
);

export type Config = z.infer<typeof ConfigSchema>;

/**
 * Reads the configuration from `env` (the process environment by default) with `overrides`
 * (typically command-line flags, keyed by variable name) taking precedence. Empty strings count as
 * unset. Throws ConfigError naming every invalid variable.
 */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  overrides: Record<string, string | undefined> = {},
): Config {
  const raw: Record<string, string> = {};
  for (const key of Object.keys(ConfigSchema.shape)) {
    const value = overrides[key] ?? env[key];
    if (value !== undefined && value !== '') raw[key] = value;
  }
  const parsed = ConfigSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(fieldIssues(parsed.error.issues));
  return parsed.data;
}

/** The timeout of one attempt of `stage` under `config`. */
export function stageTimeout(config: Config, stage: Stage): number {
  return config.NIGHTSHIFT_STAGE_TIMEOUTS[stage] ?? config.NIGHTSHIFT_STAGE_TIMEOUT;
}
