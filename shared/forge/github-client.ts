import { createPrivateKey, createSign } from 'node:crypto';
import type { Octokit } from '@octokit/rest';
import { z } from 'zod';
import type { Config } from '../config.ts';
import { ConfigError, NightshiftError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { GitRemote } from '../workspace/workspace.ts';

/** A repository on GitHub. */
export interface GitHubRepo {
  owner: string;
  name: string;
}

/** A failed GitHub API call. Network trouble, 5xx and rate limits are worth retrying; the rest is not. */
export class GitHubError extends NightshiftError {
  readonly code: string;
  readonly retryable: boolean;
  /** The HTTP status GitHub answered, when it answered. */
  readonly status: number | undefined;
  constructor(code: string, message: string, retryable: boolean, status?: number) {
    super(message);
    this.code = code;
    this.retryable = retryable;
    this.status = status;
  }
}

const ApiFailure = z.object({ status: z.number().int(), message: z.string().optional(), response: z.object({ status: z.number() }).optional() });

/** Turns whatever an Octokit call threw into a GitHubError saying what was being done. */
export function gitHubError(err: unknown, doing: string): GitHubError {
  if (err instanceof GitHubError) return err;
  const failure = ApiFailure.safeParse(err);
  // Octokit reports a request that got no answer (refused, reset, timed out) as a 500 without a response.
  if (!failure.success || failure.data.response === undefined) {
    return new GitHubError('github_unreachable', `${doing}: ${(err as Error)?.message ?? String(err)}`, true);
  }
  const { status, message = '' } = failure.data;
  const rateLimited = status === 429 || (status === 403 && /rate limit/i.test(message));
  const code =
    rateLimited ? 'github_rate_limited'
    : status === 401 ? 'github_unauthorized'
    : status === 403 ? 'github_forbidden'
    : status === 404 ? 'github_not_found'
    : status === 422 ? 'github_unprocessable'
    : 'github_unavailable';
  return new GitHubError(code, `${doing}: GitHub answered ${status}: ${message.slice(0, 500)}`, rateLimited || status >= 500, status);
}

const SCP_LIKE = /^[\w.-]+@([\w.-]+):\/?([^/\s]+)\/([^/\s]+?)\/?$/;
const OWNER = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$/;
const NAME = /^[A-Za-z0-9._-]{1,100}$/;

/**
 * The GitHub repository a clone URL names, when its host is one of `hosts`: `https://github.com/o/r`,
 * with or without `.git` or a trailing slash, `ssh://git@github.com/o/r.git` and `git@github.com:o/r.git`.
 */
export function parseGitHubUrl(url: string, hosts: readonly string[]): GitHubRepo | null {
  let host: string;
  let parts: string[];
  const scp = SCP_LIKE.exec(url);
  if (scp) {
    host = scp[1]!;
    parts = [scp[2]!, scp[3]!];
  } else {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      return null;
    }
    if (!['https:', 'http:', 'ssh:', 'git:'].includes(u.protocol) || u.search || u.hash) return null;
    host = u.host;
    parts = u.pathname.split('/').filter(Boolean);
  }
  if (parts.length !== 2 || !hosts.includes(host.toLowerCase())) return null;
  const owner = parts[0]!;
  const name = parts[1]!.replace(/\.git$/, '');
  if (!OWNER.test(owner) || !NAME.test(name) || name === '.' || name === '..') return null;
  return { owner, name };
}

/** Hosts whose repository URLs count as GitHub under `config`: github.com and the host of GITHUB_GIT_URL. */
export function gitHubHosts(config: Pick<Config, 'GITHUB_GIT_URL'>): string[] {
  const hosts = new Set(['github.com', 'www.github.com']);
  const git = new URL(config.GITHUB_GIT_URL);
  if (git.protocol === 'https:' || git.protocol === 'http:') hosts.add(git.host.toLowerCase());
  return [...hosts];
}

/**
 * nightshift's access to GitHub: API clients and git remotes for repositories, acting with a token or
 * as a GitHub App installation. Credentials stay in memory: git gets them as environment variables.
 */
export interface GitHubConnection {
  readonly auth: 'token' | 'app';
  readonly apiUrl: string;
  readonly hosts: readonly string[];
  /** The repository a URL names, or null when it is not on this GitHub. */
  repoOf(url: string): GitHubRepo | null;
  /** An API client for calls on `repo` (as the App's installation on it, for an App). */
  octokit(repo: GitHubRepo): Promise<Octokit>;
  /** The clone URL of `repo` under GITHUB_GIT_URL, with its credentials for git. */
  remote(repo: GitHubRepo): GitRemote;
}

export interface ConnectGitHubOptions {
  log: Logger;
  clock?: () => Date;
  /** Bound on every API call. */
  timeoutMs?: number;
}

const Installation = z.object({ id: z.number().int().positive() });
const InstallationToken = z.object({ token: z.string().min(1), expires_at: z.string() });

/** Tokens of an App installation are renewed this long before they expire. */
const RENEW_BEFORE_MS = 5 * 60_000;

let octokitClass: Promise<typeof Octokit> | undefined;

/** Octokit, loaded on the first GitHub call: a process that never talks to GitHub never loads it. */
function loadOctokit(): Promise<typeof Octokit> {
  octokitClass ??= import('@octokit/rest').then((m) => m.Octokit);
  return octokitClass;
}

/**
 * GitHub access from the configuration: null when neither GITHUB_TOKEN nor a GitHub App is
 * configured. Throws ConfigError when the App settings are incomplete or its key is not a key.
 */
export function connectGitHub(config: Config, { log, clock = () => new Date(), timeoutMs = 30_000 }: ConnectGitHubOptions): GitHubConnection | null {
  const app = appSettings(config);
  const token = config.GITHUB_TOKEN;
  if (!app && !token) return null;
  const apiUrl = config.GITHUB_API_URL.replace(/\/+$/, '');
  const gitUrl = config.GITHUB_GIT_URL.replace(/\/+$/, '');
  const hosts = gitHubHosts(config);
  const octokitLog = {
    debug: () => undefined,
    info: (msg: string) => log.debug({ github: msg }, 'github api'),
    warn: (msg: string) => log.warn({ github: msg }, 'github api warning'),
    error: (msg: string) => log.debug({ github: msg }, 'github api error'),
  };
  const timedFetch: typeof fetch = (input, init) => fetch(input, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  const clients = new Map<string, Octokit>();
  const client = async (auth: string): Promise<Octokit> => {
    let c = clients.get(auth);
    if (!c) {
      if (clients.size > 50) clients.clear();
      c = new (await loadOctokit())({ auth, baseUrl: apiUrl, userAgent: 'nightshift', log: octokitLog, request: { fetch: timedFetch } });
      clients.set(auth, c);
    }
    return c;
  };

  const installations = new Map<string, number>();
  const tokens = new Map<number, { token: string; expiresAt: number }>();
  let signed: { jwt: string; until: number } | undefined;
  const asApp = (): Promise<Octokit> => {
    const now = clock().getTime();
    if (!signed || signed.until <= now) signed = { jwt: appJwt(app!.id, app!.key, clock()), until: now + 7 * 60_000 };
    return client(signed.jwt);
  };
  async function installationToken(repo: GitHubRepo): Promise<string> {
    const key = `${repo.owner}/${repo.name}`.toLowerCase();
    const jwt = await asApp();
    let id = installations.get(key);
    if (id === undefined) {
      try {
        id = Installation.parse((await jwt.rest.apps.getRepoInstallation({ owner: repo.owner, repo: repo.name })).data).id;
      } catch (err) {
        throw gitHubError(err, `finding the GitHub App's installation on ${key}`);
      }
      installations.set(key, id);
    }
    const cached = tokens.get(id);
    if (cached && cached.expiresAt - clock().getTime() > RENEW_BEFORE_MS) return cached.token;
    let fresh: z.infer<typeof InstallationToken>;
    try {
      fresh = InstallationToken.parse((await jwt.rest.apps.createInstallationAccessToken({ installation_id: id })).data);
    } catch (err) {
      throw gitHubError(err, `getting an installation token for ${key}`);
    }
    const expiresAt = Date.parse(fresh.expires_at);
    tokens.set(id, { token: fresh.token, expiresAt: Number.isNaN(expiresAt) ? clock().getTime() + 30 * 60_000 : expiresAt });
    return fresh.token;
  }
  const tokenFor = (repo: GitHubRepo): Promise<string> => (app ? installationToken(repo) : Promise.resolve(token!));

  return {
    auth: app ? 'app' : 'token',
    apiUrl,
    hosts,
    repoOf: (url) => parseGitHubUrl(url, hosts),
    octokit: async (repo) => client(await tokenFor(repo)),
    remote(repo) {
      const url = `${gitUrl}/${repo.owner}/${repo.name}.git`;
      if (!/^https?:/.test(gitUrl)) return { url };
      return { url, env: async () => gitCredentials(gitUrl, await tokenFor(repo)) };
    },
  };
}

/**
 * Credentials for git as environment variables: an `Authorization` header scoped to the GitHub git
 * URL (`http.<url>/.extraHeader`). Never on the command line (other users can read that), never in a
 * file; `x-access-token` is the user name GitHub expects for App tokens and accepts for any token.
 */
export function gitCredentials(gitUrl: string, token: string): Record<string, string> {
  const basic = Buffer.from(`x-access-token:${token}`).toString('base64');
  return {
    GIT_CONFIG_COUNT: '1',
    GIT_CONFIG_KEY_0: `http.${gitUrl.replace(/\/+$/, '')}/.extraHeader`,
    GIT_CONFIG_VALUE_0: `Authorization: Basic ${basic}`,
  };
}

function appSettings(config: Config): { id: number; key: string } | null {
  const { GITHUB_APP_ID: id, GITHUB_APP_PRIVATE_KEY: raw } = config;
  if (id === undefined && raw === undefined) return null;
  if (id === undefined || raw === undefined) {
    const missing = id === undefined ? 'GITHUB_APP_ID' : 'GITHUB_APP_PRIVATE_KEY';
    throw new ConfigError([{ path: missing, message: 'a GitHub App needs both GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY' }]);
  }
  const key = raw.includes('\\n') ? raw.replaceAll('\\n', '\n') : raw;
  try {
    createPrivateKey(key);
  } catch {
    throw new ConfigError([{ path: 'GITHUB_APP_PRIVATE_KEY', message: 'not a PEM private key (paste the .pem file the App settings gave you)' }]);
  }
  return { id, key };
}

/** The JSON Web Token a GitHub App signs to act as itself (RS256, valid 9 minutes, issued a minute ago for clock drift). */
export function appJwt(appId: number, privateKey: string, now: Date): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const iat = Math.floor(now.getTime() / 1000) - 60;
  const unsigned = `${part({ alg: 'RS256', typ: 'JWT' })}.${part({ iat, exp: iat + 540, iss: appId })}`;
  return `${unsigned}.${createSign('RSA-SHA256').update(unsigned).sign(privateKey, 'base64url')}`;
}
