import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

const SECRET_KEYS = [
  'apiKey',
  'api_key',
  'token',
  'password',
  'secret',
  'authorization',
  'Authorization',
  'OPENAI_API_KEY',
  'SLACK_BOT_TOKEN',
  'SLACK_APP_TOKEN',
  'SLACK_SIGNING_SECRET',
  'GITHUB_TOKEN',
  'GITHUB_WEBHOOK_SECRET',
  'GITHUB_APP_PRIVATE_KEY',
  'privateKey',
  'NATS_PASSWORD',
  'NATS_TOKEN',
  'NIGHTSHIFT_WEB_TOKEN',
];

/** Paths whose values never reach a log line: each secret key at the top level and one level down. */
export const REDACT_PATHS = [
  ...SECRET_KEYS,
  ...SECRET_KEYS.map((k) => `*.${k}`),
  'headers.cookie',
  'req.headers.authorization',
  'req.headers.cookie',
];

export interface LogOptions {
  level?: string;
  /** Bound on every line, e.g. `{ agent: 'coder' }`. */
  bindings?: Record<string, unknown>;
}

/**
 * The one root logger of a process: JSON lines on stderr (stdout stays for command output), with
 * secrets redacted. Tests pass their own `dest` and read the lines back.
 */
export function createLogger(opts: LogOptions = {}, dest?: DestinationStream): Logger {
  const logger = pino(
    {
      level: opts.level ?? 'info',
      base: { pid: process.pid },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    dest ?? pino.destination({ fd: 2, sync: true }),
  );
  return opts.bindings ? logger.child(opts.bindings) : logger;
}
