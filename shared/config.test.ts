import { describe, expect, it } from 'vitest';
import { ConfigSchema, loadConfig, stageTimeout } from './config.ts';
import { ConfigError } from './errors.ts';
import { STAGES } from './ticket/states.ts';

/** Runs `fn`, which must throw a ConfigError, and returns it. */
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig defaults', () => {
  it('gives every setting its default with an empty environment', () => {
    expect(loadConfig({})).toEqual({
      NIGHTSHIFT_PREFIX: 'nightshift',
      NIGHTSHIFT_LOG_LEVEL: 'info',
      NIGHTSHIFT_HEALTH_HOST: '127.0.0.1',
      NIGHTSHIFT_DATA_DIR: '.nightshift',
      NIGHTSHIFT_JS_REPLICAS: 1,
      NIGHTSHIFT_INTAKE_MAX_BYTES: 262_144,
      NIGHTSHIFT_ACK_WAIT: 30_000,
      NIGHTSHIFT_MAX_DELIVER: 5,
      NIGHTSHIFT_RETRY_BACKOFF: 1_000,
      NIGHTSHIFT_RETRY_BACKOFF_MAX: 60_000,
      NIGHTSHIFT_STAGE_TIMEOUT: 1_800_000,
      NIGHTSHIFT_STAGE_TIMEOUTS: {},
      NIGHTSHIFT_STAGE_ATTEMPTS: 3,
      NIGHTSHIFT_QUEUE_TIMEOUT: 3_600_000,
      NIGHTSHIFT_LOST_WORK_CHECK: 30_000,
      NIGHTSHIFT_REJECTED_MAX_BYTES: 64 * 1024 * 1024,
      NIGHTSHIFT_REJECTED_MAX_MSGS: 100_000,
      NIGHTSHIFT_REJECTED_KEEP_BYTES: 16 * 1024,
      NIGHTSHIFT_EVENTS_MAX_BYTES: 1024 ** 3,
      NIGHTSHIFT_TRANSCRIPTS_MAX_BYTES: 2 * 1024 ** 3,
      NIGHTSHIFT_WORK_MAX_MSGS: 100_000,
      NIGHTSHIFT_TICKETS_MAX_BYTES: 1024 ** 3,
      NIGHTSHIFT_HUMAN_TIMEOUT: 259_200_000,
      NIGHTSHIFT_SWEEP_INTERVAL: 1_000,
      NIGHTSHIFT_SHUTDOWN_GRACE: 30_000,
      NIGHTSHIFT_WORKSPACES_DIR: '.nightshift/workspaces',
      NIGHTSHIFT_SETUP_NETWORK: 'bridge',
      NIGHTSHIFT_SETUP_ALLOW: [],
      NIGHTSHIFT_SANDBOX_LABELS: {},
      NIGHTSHIFT_TEST_AUTHOR_ATTEMPTS: 2,
      NIGHTSHIFT_CODER_ATTEMPTS: 3,
      NIGHTSHIFT_REVIEW_ROUNDS: 2,
      NIGHTSHIFT_TRIAGE_CANDIDATES: 5,
      NIGHTSHIFT_SLACK_MODE: 'socket',
      NIGHTSHIFT_SLACK_PORT: 3000,
      NIGHTSHIFT_ESCALATION_REMIND: 14_400_000,
      NIGHTSHIFT_ESCALATION_REMINDERS: 3,
      GITHUB_API_URL: 'https://api.github.com',
      GITHUB_GIT_URL: 'https://github.com',
      NIGHTSHIFT_GITHUB_HOST: '0.0.0.0',
      NIGHTSHIFT_GITHUB_PORT: 3001,
      NIGHTSHIFT_GITHUB_ASK: 'on',
      NIGHTSHIFT_GITHUB_MENTION: '@nightshift',
      NIGHTSHIFT_WEB_HOST: '127.0.0.1',
      NIGHTSHIFT_WEB_PORT: 4280,
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_SDK_DISABLED: false,
      OTEL_BSP_SCHEDULE_DELAY: 5_000,
      OPENAI_BASE_URL: 'https://api.openai.com/v1',
      NIGHTSHIFT_MODEL: 'gpt-4o-mini',
      NIGHTSHIFT_MODEL_TIMEOUT: 120_000,
      NIGHTSHIFT_MODEL_RETRIES: 2,
      NIGHTSHIFT_TOKEN_BUDGET: 1_000_000,
    });
  });

  it('reads extra sandbox labels, and refuses one that is not key=value', () => {
    expect(loadConfig({ NIGHTSHIFT_SANDBOX_LABELS: 'team=blue, nightshift.test-run=ci-1' }).NIGHTSHIFT_SANDBOX_LABELS).toEqual({ team: 'blue', 'nightshift.test-run': 'ci-1' });
    expect(() => loadConfig({ NIGHTSHIFT_SANDBOX_LABELS: 'Team blue' })).toThrow(/not key=value/);
  });

  it('leaves NATS_URL unset so that `up` can start an embedded server', () => {
    expect(loadConfig({}).NATS_URL).toBeUndefined();
  });

  it('ignores variables it does not know', () => {
    expect(loadConfig({ PATH: '/usr/bin', NIGHTSHIFT_UNKNOWN: 'x', HOME: '/root' })).toEqual(loadConfig({}));
  });

  it('treats empty strings as unset', () => {
    const empty = Object.fromEntries(Object.keys(ConfigSchema.shape).map((k) => [k, '']));
    expect(loadConfig(empty)).toEqual(loadConfig({}));
  });

  it('falls back to the environment when an override is undefined', () => {
    expect(loadConfig({ NIGHTSHIFT_PREFIX: 'fromenv' }, { NIGHTSHIFT_PREFIX: undefined }).NIGHTSHIFT_PREFIX).toBe(
      'fromenv',
    );
  });
});

describe('loadConfig values', () => {
  it('reads values from the environment', () => {
    const config = loadConfig({
      NATS_URL: 'nats://nats.internal:4222',
      NIGHTSHIFT_PREFIX: 'ns-staging_2',
      NIGHTSHIFT_LOG_LEVEL: 'debug',
      NIGHTSHIFT_DATA_DIR: '/var/lib/nightshift',
      NIGHTSHIFT_INTAKE_MAX_BYTES: '1024',
      NIGHTSHIFT_MAX_DELIVER: '7',
      NIGHTSHIFT_STAGE_ATTEMPTS: '2',
    });
    expect(config).toMatchObject({
      NATS_URL: 'nats://nats.internal:4222',
      NIGHTSHIFT_PREFIX: 'ns-staging_2',
      NIGHTSHIFT_LOG_LEVEL: 'debug',
      NIGHTSHIFT_DATA_DIR: '/var/lib/nightshift',
      NIGHTSHIFT_INTAKE_MAX_BYTES: 1024,
      NIGHTSHIFT_MAX_DELIVER: 7,
      NIGHTSHIFT_STAGE_ATTEMPTS: 2,
    });
  });

  it('lets overrides win over the environment', () => {
    const config = loadConfig(
      { NATS_URL: 'nats://from-env:4222', NIGHTSHIFT_LOG_LEVEL: 'warn', NIGHTSHIFT_ACK_WAIT: '10s' },
      { NATS_URL: 'nats://from-flag:4222', NIGHTSHIFT_ACK_WAIT: '45s' },
    );
    expect(config.NATS_URL).toBe('nats://from-flag:4222');
    expect(config.NIGHTSHIFT_ACK_WAIT).toBe(45_000);
    expect(config.NIGHTSHIFT_LOG_LEVEL).toBe('warn');
  });

  it('validates overrides like variables', () => {
    const err = configError(() => loadConfig({ NIGHTSHIFT_LOG_LEVEL: 'info' }, { NIGHTSHIFT_LOG_LEVEL: 'loud' }));
    expect(err.issues.map((i) => i.path)).toEqual(['NIGHTSHIFT_LOG_LEVEL']);
  });

  it.each(['nats://127.0.0.1:4222', 'tls://nats.example.com:4222', 'ws://localhost:8080', 'wss://nats.example.com'])(
    'accepts NATS_URL %s',
    (url) => {
      expect(loadConfig({ NATS_URL: url }).NATS_URL).toBe(url);
    },
  );

  it.each(['http://localhost:4222', 'localhost:4222', 'nats', 'not a url'])('refuses NATS_URL %j', (url) => {
    expect(configError(() => loadConfig({ NATS_URL: url })).issues.map((i) => i.path)).toEqual(['NATS_URL']);
  });

  it.each([
    ['NIGHTSHIFT_ACK_WAIT', '30s', 30_000],
    ['NIGHTSHIFT_RETRY_BACKOFF', '250ms', 250],
    ['NIGHTSHIFT_RETRY_BACKOFF_MAX', '5m', 300_000],
    ['NIGHTSHIFT_STAGE_TIMEOUT', '2h', 7_200_000],
    ['NIGHTSHIFT_HUMAN_TIMEOUT', '3d', 259_200_000],
    ['NIGHTSHIFT_SWEEP_INTERVAL', '1500', 1_500],
    ['NIGHTSHIFT_SHUTDOWN_GRACE', '1.5s', 1_500],
  ] as const)('parses the duration %s=%s', (name, text, ms) => {
    expect(loadConfig({ [name]: text })[name]).toBe(ms);
  });

  it.each(['soon', '-1s', '5 minutes', '1h30m'])('refuses the duration %j with its variable name', (text) => {
    const err = configError(() => loadConfig({ NIGHTSHIFT_ACK_WAIT: text }));
    expect(err.issues).toEqual([{ path: 'NIGHTSHIFT_ACK_WAIT', message: expect.stringContaining(`"${text}"`) }]);
  });

  it('bounds the integer settings', () => {
    expect(loadConfig({ NIGHTSHIFT_INTAKE_MAX_BYTES: '900000' }).NIGHTSHIFT_INTAKE_MAX_BYTES).toBe(900_000);
    for (const [name, value] of [
      ['NIGHTSHIFT_INTAKE_MAX_BYTES', '900001'],
      ['NIGHTSHIFT_INTAKE_MAX_BYTES', '0'],
      ['NIGHTSHIFT_MAX_DELIVER', '101'],
      ['NIGHTSHIFT_MAX_DELIVER', '2.5'],
      ['NIGHTSHIFT_STAGE_ATTEMPTS', '21'],
      ['NIGHTSHIFT_STAGE_ATTEMPTS', '-1'],
      ['NIGHTSHIFT_STAGE_ATTEMPTS', 'three'],
    ] as const) {
      const err = configError(() => loadConfig({ [name]: value }));
      expect(err.issues.map((i) => i.path), `${name}=${value}`).toEqual([name]);
    }
  });

  it('takes 1 or 3 JetStream replicas, nothing else', () => {
    expect(loadConfig({ NIGHTSHIFT_JS_REPLICAS: '3' }).NIGHTSHIFT_JS_REPLICAS).toBe(3);
    expect(loadConfig({ NIGHTSHIFT_JS_REPLICAS: '1' }).NIGHTSHIFT_JS_REPLICAS).toBe(1);
    for (const value of ['2', '5', '0', 'three']) {
      expect(configError(() => loadConfig({ NIGHTSHIFT_JS_REPLICAS: value })).issues.map((i) => i.path), value).toEqual(['NIGHTSHIFT_JS_REPLICAS']);
    }
  });

  it.each(['nightshift', 'ns2', 'team_a', 'team-b', 'A'])('accepts the prefix %j', (prefix) => {
    expect(loadConfig({ NIGHTSHIFT_PREFIX: prefix }).NIGHTSHIFT_PREFIX).toBe(prefix);
  });

  it.each(['a.b', 'a b', 'a*', 'a>', 'x'.repeat(33)])('refuses the prefix %j', (prefix) => {
    expect(configError(() => loadConfig({ NIGHTSHIFT_PREFIX: prefix })).issues.map((i) => i.path)).toEqual([
      'NIGHTSHIFT_PREFIX',
    ]);
  });
});

describe('stage timeouts', () => {
  it('parses per-stage overrides', () => {
    expect(loadConfig({ NIGHTSHIFT_STAGE_TIMEOUTS: 'coding=1h,refining=10m' }).NIGHTSHIFT_STAGE_TIMEOUTS).toEqual({
      coding: 3_600_000,
      refining: 600_000,
    });
  });

  it('tolerates spaces and empty items', () => {
    expect(
      loadConfig({ NIGHTSHIFT_STAGE_TIMEOUTS: ' coding = 1h , , reviewing=90s, ' }).NIGHTSHIFT_STAGE_TIMEOUTS,
    ).toEqual({ coding: 3_600_000, reviewing: 90_000 });
  });

  it('uses the override of a stage and falls back to NIGHTSHIFT_STAGE_TIMEOUT for the others', () => {
    const config = loadConfig({ NIGHTSHIFT_STAGE_TIMEOUTS: 'coding=1h,refining=10m', NIGHTSHIFT_STAGE_TIMEOUT: '20m' });
    expect(stageTimeout(config, 'coding')).toBe(3_600_000);
    expect(stageTimeout(config, 'refining')).toBe(600_000);
    expect(stageTimeout(config, 'triaging')).toBe(1_200_000);
    expect(stageTimeout(config, 'writing_tests')).toBe(1_200_000);
    expect(stageTimeout(config, 'reviewing')).toBe(1_200_000);
  });

  it('falls back to the default stage timeout when nothing is set', () => {
    const config = loadConfig({});
    for (const stage of STAGES) expect(stageTimeout(config, stage), stage).toBe(1_800_000);
  });

  it('keeps an explicit zero override instead of falling back', () => {
    expect(stageTimeout(loadConfig({ NIGHTSHIFT_STAGE_TIMEOUTS: 'triaging=0' }), 'triaging')).toBe(0);
  });

  it.each([
    'painting=5m',
    'coding',
    'coding=',
    '=5m',
    'coding=soon',
    'coding=1h=2h',
    'pr_open=1h',
    'Coding=1h',
  ])('refuses %j', (text) => {
    const err = configError(() => loadConfig({ NIGHTSHIFT_STAGE_TIMEOUTS: text }));
    expect(err.issues).toEqual([{ path: 'NIGHTSHIFT_STAGE_TIMEOUTS', message: expect.stringContaining('<stage>=') }]);
  });

  it('reports every bad item', () => {
    const err = configError(() => loadConfig({ NIGHTSHIFT_STAGE_TIMEOUTS: 'coding=1h,painting=5m,refining' }));
    expect(err.issues).toHaveLength(2);
    expect(err.issues[0]?.message).toContain('"painting=5m"');
    expect(err.issues[1]?.message).toContain('"refining"');
  });
});

describe('slack triage channel', () => {
  it('takes the channel and its repository together', () => {
    const config = loadConfig({ NIGHTSHIFT_SLACK_TRIAGE_CHANNEL: 'C0BUGS01', NIGHTSHIFT_SLACK_TRIAGE_REPO: '  git@github.com:acme/app.git ' });
    expect(config.NIGHTSHIFT_SLACK_TRIAGE_CHANNEL).toBe('C0BUGS01');
    expect(config.NIGHTSHIFT_SLACK_TRIAGE_REPO).toBe('git@github.com:acme/app.git');
    expect(loadConfig({}).NIGHTSHIFT_SLACK_TRIAGE_CHANNEL).toBeUndefined();
  });

  it('refuses one without the other, naming the missing one', () => {
    expect(configError(() => loadConfig({ NIGHTSHIFT_SLACK_TRIAGE_CHANNEL: 'C0BUGS01' })).issues).toEqual([
      { path: 'NIGHTSHIFT_SLACK_TRIAGE_REPO', message: expect.stringContaining('NIGHTSHIFT_SLACK_TRIAGE_CHANNEL is set') },
    ]);
    expect(configError(() => loadConfig({ NIGHTSHIFT_SLACK_TRIAGE_REPO: '/srv/app' })).issues).toEqual([
      { path: 'NIGHTSHIFT_SLACK_TRIAGE_CHANNEL', message: expect.stringContaining('NIGHTSHIFT_SLACK_TRIAGE_REPO is set') },
    ]);
    // Named along with any other bad variable.
    const both = configError(() => loadConfig({ NIGHTSHIFT_SLACK_TRIAGE_REPO: '/srv/app', NIGHTSHIFT_ACK_WAIT: 'soon' }));
    expect(both.issues.map((i) => i.path).sort()).toEqual(['NIGHTSHIFT_ACK_WAIT', 'NIGHTSHIFT_SLACK_TRIAGE_CHANNEL']);
  });

  it.each(['#bugs', 'bugs', 'U0ADA0001', 'c0bugs01'])('refuses the channel %j (an ID is needed)', (channel) => {
    const err = configError(() => loadConfig({ NIGHTSHIFT_SLACK_TRIAGE_CHANNEL: channel, NIGHTSHIFT_SLACK_TRIAGE_REPO: '/srv/app' }));
    expect(err.issues.map((i) => i.path)).toEqual(['NIGHTSHIFT_SLACK_TRIAGE_CHANNEL']);
  });

  it('refuses a blank repository', () => {
    const err = configError(() => loadConfig({ NIGHTSHIFT_SLACK_TRIAGE_CHANNEL: 'C0BUGS01', NIGHTSHIFT_SLACK_TRIAGE_REPO: '   ' }));
    expect(err.issues.map((i) => i.path)).toEqual(['NIGHTSHIFT_SLACK_TRIAGE_REPO']);
  });
});

describe('asking on GitHub issues', () => {
  it('takes an @handle or off as NIGHTSHIFT_GITHUB_MENTION, and refuses anything else', () => {
    expect(loadConfig({ NIGHTSHIFT_GITHUB_MENTION: '@acme-nightshift' }).NIGHTSHIFT_GITHUB_MENTION).toBe('@acme-nightshift');
    expect(loadConfig({ NIGHTSHIFT_GITHUB_MENTION: 'off' }).NIGHTSHIFT_GITHUB_MENTION).toBe('off');
    expect(() => loadConfig({ NIGHTSHIFT_GITHUB_MENTION: 'nightshift' })).toThrow(/NIGHTSHIFT_GITHUB_MENTION/);
  });

  it.each(['on', 'off'] as const)('takes NIGHTSHIFT_GITHUB_ASK=%s', (value) => {
    expect(loadConfig({ NIGHTSHIFT_GITHUB_ASK: value }).NIGHTSHIFT_GITHUB_ASK).toBe(value);
  });

  it.each(['yes', 'false', '0', 'ON'])('refuses NIGHTSHIFT_GITHUB_ASK=%j', (value) => {
    expect(configError(() => loadConfig({ NIGHTSHIFT_GITHUB_ASK: value })).issues.map((i) => i.path)).toEqual(['NIGHTSHIFT_GITHUB_ASK']);
  });
});

describe('ConfigError', () => {
  const bad = {
    NATS_URL: 'http://localhost:4222',
    NIGHTSHIFT_PREFIX: 'a.b',
    NIGHTSHIFT_LOG_LEVEL: 'loud',
    NIGHTSHIFT_INTAKE_MAX_BYTES: 'lots',
    NIGHTSHIFT_ACK_WAIT: 'soon',
    NIGHTSHIFT_STAGE_TIMEOUTS: 'painting=5m',
    NIGHTSHIFT_STAGE_ATTEMPTS: '0',
    NIGHTSHIFT_DATA_DIR: '/fine/as/is',
  };

  it('names every bad variable, by name, and no good one', () => {
    const err = configError(() => loadConfig(bad));
    expect([...new Set(err.issues.map((i) => i.path))].sort()).toEqual([
      'NATS_URL',
      'NIGHTSHIFT_ACK_WAIT',
      'NIGHTSHIFT_INTAKE_MAX_BYTES',
      'NIGHTSHIFT_LOG_LEVEL',
      'NIGHTSHIFT_PREFIX',
      'NIGHTSHIFT_STAGE_ATTEMPTS',
      'NIGHTSHIFT_STAGE_TIMEOUTS',
    ]);
    for (const issue of err.issues) expect(issue.message, issue.path).not.toBe('');
  });

  it('lists every issue in its message, one per line', () => {
    const err = configError(() => loadConfig(bad));
    const lines = err.message.split('\n');
    expect(lines[0]).toBe('invalid configuration:');
    expect(lines.slice(1)).toEqual(err.issues.map((i) => `  ${i.path}: ${i.message}`));
    expect(err.message).not.toContain('NIGHTSHIFT_DATA_DIR');
  });

  it('is a non-retryable invalid_config error', () => {
    const err = configError(() => loadConfig(bad));
    expect(err.code).toBe('invalid_config');
    expect(err.retryable).toBe(false);
    expect(err.name).toBe('ConfigError');
  });
});

describe('NATS connection settings', () => {
  it('takes a comma-separated list of servers', () => {
    expect(loadConfig({ NATS_URL: 'nats://a:4222, tls://b:4222,nats://c' }).NATS_URL).toBe('nats://a:4222, tls://b:4222,nats://c');
  });

  it('names a bad server in the list without its password', () => {
    const err = configError(() => loadConfig({ NATS_URL: 'nats://a:4222,http://u:hunter2@b' }));
    expect(err.issues).toEqual([{ path: 'NATS_URL', message: expect.stringContaining('"http://u:***@b" is not a nats://') }]);
    expect(err.message).not.toContain('hunter2');
  });

  it('takes one way to authenticate, and user and password together', () => {
    expect(configError(() => loadConfig({ NATS_NKEY: '/k.nk', NATS_TOKEN: 't' })).issues).toEqual([
      { path: 'NATS_TOKEN', message: 'give one way to authenticate to NATS, not NATS_NKEY and NATS_TOKEN' },
    ]);
    expect(configError(() => loadConfig({ NATS_USER: 'u' })).issues).toEqual([{ path: 'NATS_PASSWORD', message: 'NATS_USER and NATS_PASSWORD go together' }]);
    expect(configError(() => loadConfig({ NATS_CERT: '/c.pem' })).issues).toEqual([
      { path: 'NATS_KEY', message: expect.stringContaining('needs its key') },
    ]);
    expect(loadConfig({ NATS_USER: 'u', NATS_PASSWORD: 'p', NATS_CA: '/ca.pem' })).toMatchObject({ NATS_USER: 'u', NATS_PASSWORD: 'p', NATS_CA: '/ca.pem' });
  });
});

describe('size settings', () => {
  it.each([
    ['65536', 65_536],
    ['64KiB', 64 * 1024],
    ['64 MiB', 64 * 1024 * 1024],
    ['1gib', 1024 ** 3],
  ])('reads %s as %d bytes', (text, bytes) => {
    expect(loadConfig({ NIGHTSHIFT_REJECTED_MAX_BYTES: text }).NIGHTSHIFT_REJECTED_MAX_BYTES).toBe(bytes);
  });

  it.each(['64MB', '-1', '0', 'lots', '1.5GiB'])('refuses %s, naming the variable', (text) => {
    expect(() => loadConfig({ NIGHTSHIFT_REJECTED_MAX_BYTES: text })).toThrow(/NIGHTSHIFT_REJECTED_MAX_BYTES: .* is not a size/);
  });

  it('refuses a rejected-payload keep size past the largest payload', () => {
    expect(() => loadConfig({ NIGHTSHIFT_REJECTED_KEEP_BYTES: '1MiB' })).toThrow(/NIGHTSHIFT_REJECTED_KEEP_BYTES/);
  });
});
