import { generateKeyPairSync, createVerify } from 'node:crypto';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, loadConfig, type PullRequestStore } from '../index.ts';
import {
  appJwt,
  connectGitHub,
  forgesFromConfig,
  gitCredentials,
  gitHubError,
  gitHubHosts,
  isSummaryReview,
  parseGitHubUrl,
  summaryMarker,
  summaryReviewBody,
} from './index.ts';

const log = createLogger({ level: 'silent' });
const HOSTS = ['github.com', 'www.github.com', 'ghe.example.com'];

const noStore: PullRequestStore = {
  get: async () => null,
  create: async () => true,
  put: async () => undefined,
  list: async () => [],
  nextNumber: async () => 1,
};

describe('GitHub repository URLs', () => {
  it.each([
    ['https://github.com/acme/widgets', 'acme', 'widgets'],
    ['https://github.com/acme/widgets.git', 'acme', 'widgets'],
    ['https://github.com/acme/widgets/', 'acme', 'widgets'],
    ['https://GitHub.com/Acme/Widgets', 'Acme', 'Widgets'],
    ['ssh://git@github.com/acme/widgets.git', 'acme', 'widgets'],
    ['git@github.com:acme/widgets.git', 'acme', 'widgets'],
    ['https://ghe.example.com/acme/my.repo', 'acme', 'my.repo'],
  ])('reads %s as %s/%s', (url, owner, name) => {
    expect(parseGitHubUrl(url, HOSTS)).toEqual({ owner, name });
  });

  it.each([
    'https://gitlab.com/acme/widgets',
    'https://github.com/acme',
    'https://github.com/acme/widgets/tree/main',
    'https://github.com/acme/widgets?x=1',
    'file:///github.com/acme/widgets',
    '/srv/github.com/acme/widgets',
    'https://github.com/-acme/widgets',
    'https://github.com/acme/..',
    'not a url',
  ])('does not take %s for a GitHub repository', (url) => {
    expect(parseGitHubUrl(url, HOSTS)).toBeNull();
  });

  it('counts github.com and the host of GITHUB_GIT_URL (with its port) as GitHub', () => {
    expect(gitHubHosts({ GITHUB_GIT_URL: 'https://github.com' })).toEqual(['github.com', 'www.github.com']);
    expect(gitHubHosts({ GITHUB_GIT_URL: 'https://GHE.example.com:8443/' })).toEqual(['github.com', 'www.github.com', 'ghe.example.com:8443']);
    expect(gitHubHosts({ GITHUB_GIT_URL: 'file:///srv/git' })).toEqual(['github.com', 'www.github.com']);
  });
});

describe('the forge router from configuration', () => {
  it('uses the local forge for everything when GitHub is not configured', () => {
    const forges = forgesFromConfig({ config: loadConfig({}), store: noStore, log });
    expect(forges.forgeFor({ url: 'https://github.com/acme/widgets' }).name).toBe('local');
    expect(forges.forgeFor({ path: '/srv/repo' }).name).toBe('local');
  });

  it('uses GitHub for GitHub URLs when a token is configured, and keeps the local forge the default', () => {
    const forges = forgesFromConfig({ config: loadConfig({ GITHUB_TOKEN: 'ghp_x' }), store: noStore, log });
    const gh = forges.forgeFor({ url: 'git@github.com:acme/widgets.git' });
    expect(gh.name).toBe('github');
    expect(gh.remote({ url: 'git@github.com:acme/widgets.git' }).url).toBe('https://github.com/acme/widgets.git');
    expect(forges.forgeFor({ url: 'https://gitlab.com/acme/widgets' }).name).toBe('local');
    expect(forges.forgeFor({ path: '/srv/repo' }).name).toBe('local');
    expect(forges.forgeFor({ path: '/srv/repo' }).remote({ path: '/srv/repo' })).toEqual({ url: '/srv/repo' });
  });

  it('maps GitHub repositories to GITHUB_GIT_URL, with credentials only for http(s)', async () => {
    const local = forgesFromConfig({ config: loadConfig({ GITHUB_TOKEN: 'ghp_x', GITHUB_GIT_URL: 'file:///srv/mirror/' }), store: noStore, log });
    const remote = local.forgeFor({ url: 'https://github.com/acme/widgets' }).remote({ url: 'https://github.com/acme/widgets' });
    expect(remote.url).toBe('file:///srv/mirror/acme/widgets.git');
    expect(remote.env).toBeUndefined();
    const https = forgesFromConfig({ config: loadConfig({ GITHUB_TOKEN: 'ghp_x' }), store: noStore, log });
    const env = await https.forgeFor({ url: 'https://github.com/acme/widgets' }).remote({ url: 'https://github.com/acme/widgets' }).env!();
    expect(env).toEqual(gitCredentials('https://github.com', 'ghp_x'));
  });
});

describe('GitHub credentials', () => {
  it('gives git an Authorization header scoped to the GitHub git URL, in environment variables', () => {
    expect(gitCredentials('https://github.com/', 'ghp_secret')).toEqual({
      GIT_CONFIG_COUNT: '1',
      GIT_CONFIG_KEY_0: 'http.https://github.com/.extraHeader',
      GIT_CONFIG_VALUE_0: `Authorization: Basic ${Buffer.from('x-access-token:ghp_secret').toString('base64')}`,
    });
  });

  it('refuses incomplete or invalid GitHub App settings at start-up', () => {
    expect(() => connectGitHub(loadConfig({ GITHUB_APP_ID: '1' }), { log })).toThrow(/GITHUB_APP_PRIVATE_KEY: a GitHub App needs both/);
    expect(() => connectGitHub(loadConfig({ GITHUB_APP_PRIVATE_KEY: 'x' }), { log })).toThrow(/GITHUB_APP_ID: a GitHub App needs both/);
    expect(() => connectGitHub(loadConfig({ GITHUB_APP_ID: '1', GITHUB_APP_PRIVATE_KEY: 'not a key' }), { log })).toThrow(/not a PEM private key/);
    expect(connectGitHub(loadConfig({}), { log })).toBeNull();
  });

  it('signs the App JWT with RS256: issued a minute back, valid nine minutes, the App id as issuer', () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const now = new Date('2030-01-01T00:00:00Z');
    const jwt = appJwt(42, privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), now);
    const [h, p, s] = jwt.split('.') as [string, string, string];
    expect(JSON.parse(Buffer.from(h, 'base64url').toString())).toEqual({ alg: 'RS256', typ: 'JWT' });
    const iat = now.getTime() / 1000 - 60;
    expect(JSON.parse(Buffer.from(p, 'base64url').toString())).toEqual({ iat, exp: iat + 540, iss: 42 });
    expect(createVerify('RSA-SHA256').update(`${h}.${p}`).verify(publicKey, Buffer.from(s, 'base64url'))).toBe(true);
  });

  it('never logs the token or the private key', () => {
    const lines: string[] = [];
    const sink = createLogger({ level: 'debug' }, new Writable({ write: (c: Buffer, _e, cb) => (lines.push(c.toString()), cb()) }));
    const config = loadConfig({ GITHUB_TOKEN: 'ghp_topsecret', GITHUB_WEBHOOK_SECRET: 'whsecret', GITHUB_APP_PRIVATE_KEY: '-----BEGIN PRIVATE KEY-----abc' });
    sink.info({ config, GITHUB_TOKEN: config.GITHUB_TOKEN }, 'configured');
    expect(lines.join('')).not.toMatch(/ghp_topsecret|whsecret|BEGIN PRIVATE KEY/);
  });
});

describe('GitHub errors', () => {
  it.each([
    [{ status: 500, message: 'boom', response: { status: 500 } }, 'github_unavailable', true],
    [{ status: 502, message: 'bad gateway', response: { status: 502 } }, 'github_unavailable', true],
    [{ status: 429, message: 'slow down', response: { status: 429 } }, 'github_rate_limited', true],
    [{ status: 403, message: 'API rate limit exceeded', response: { status: 403 } }, 'github_rate_limited', true],
    [{ status: 403, message: 'Resource not accessible by integration', response: { status: 403 } }, 'github_forbidden', false],
    [{ status: 401, message: 'Bad credentials', response: { status: 401 } }, 'github_unauthorized', false],
    [{ status: 404, message: 'Not Found', response: { status: 404 } }, 'github_not_found', false],
    [{ status: 422, message: 'Validation Failed', response: { status: 422 } }, 'github_unprocessable', false],
    [{ status: 500, message: 'fetch failed' }, 'github_unreachable', true],
    [new Error('socket hang up'), 'github_unreachable', true],
  ])('classifies %j as %s (retryable: %s)', (err, code, retryable) => {
    expect(gitHubError(err, 'doing it')).toMatchObject({ code, retryable, message: expect.stringMatching(/^doing it: /) });
  });
});

describe('the summary review', () => {
  it('carries the summary, the commit it describes and the marker that finds it again', () => {
    const body = summaryReviewBody({ ticketId: 'tk-0123456789', headSha: 'abcdef0123456789', body: '## Summary\n\nDone.' });
    expect(body.startsWith('## Summary\n\nDone.')).toBe(true);
    expect(body).toContain('`abcdef012345`');
    expect(body.endsWith(summaryMarker('tk-0123456789'))).toBe(true);
    expect(isSummaryReview(body)).toBe(true);
    expect(isSummaryReview('Looks good')).toBe(false);
    expect(isSummaryReview(null)).toBe(false);
  });

  it("stays under GitHub's size limit, marker included", () => {
    const body = summaryReviewBody({ ticketId: 'tk-0123456789', headSha: 'a'.repeat(40), body: 'x'.repeat(200_000) });
    expect(body.length).toBeLessThanOrEqual(60_000);
    expect(body).toContain("summary cut at GitHub's size limit");
    expect(isSummaryReview(body)).toBe(true);
  });
});
