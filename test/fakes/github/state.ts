import { createPublicKey, type KeyObject } from 'node:crypto';
import { join } from 'node:path';
import { git } from '../../../shared/index.ts';
import type { OpenApi, Operation } from '../openapi.ts';
import type { FakeGitHubOptions, FakeIssue, FakePull, FakeRepo, RecordedGitRequest } from './types.ts';

/*
 * The local GitHub's state, shared by its REST operations, its representations, its authentication and
 * its git server: the repositories and what they hold, the App's installations and tokens, and what the
 * fake found wrong. Lookups of what a request names answer 404 (HttpError) when it is not there.
 */

/** An answer other than success, as GitHub words it: the handler sends `status` with `body`. */
export class HttpError extends Error {
  readonly status: number;
  readonly body: Record<string, unknown>;
  constructor(status: number, message: string, extra: Record<string, unknown> = {}) {
    super(message);
    this.status = status;
    this.body = { message, documentation_url: 'https://docs.github.com/rest', ...extra };
  }
}

/** What a REST operation is given: the operation matched (with its path parameters), the path, the query, the JSON body, and who asks. */
export type Ctx = { op: Operation; path: string; query: URLSearchParams; body: Record<string, unknown>; as: string };
/** REST operations by operationId: each answers a status, a body and maybe headers, or throws HttpError. */
export type Operations = Record<string, (c: Ctx) => Promise<[number, unknown] | [number, unknown, Record<string, string>]>>;

export const BOT = 'nightshift-bot';
export const ZERO = '0'.repeat(40);

export interface FakeState {
  readonly opts: FakeGitHubOptions;
  readonly api: OpenApi;
  readonly repos: Map<string, FakeRepo>;
  readonly gitRequests: RecordedGitRequest[];
  readonly violations: string[];
  /** The App's installation id per repository (by `key`). */
  readonly installations: Map<string, number>;
  readonly installationTokens: Map<string, { installation: number; expiresAt: number }>;
  readonly appKey: KeyObject | null;
  readonly issuedTokens: string[];
  /** The next id to give a review or comment (comments add an offset of their own). */
  nextId: number;
  /** The API base URL, once the server listens. */
  url: string;
}

export function createState(opts: FakeGitHubOptions, api: OpenApi): FakeState {
  return {
    opts,
    api,
    repos: new Map(),
    gitRequests: [],
    violations: [],
    installations: new Map(),
    installationTokens: new Map(),
    appKey: opts.app ? createPublicKey(opts.app.publicKey) : null,
    issuedTokens: [],
    nextId: 80,
    url: '',
  };
}

/** Now, to the second, as GitHub writes times. */
export const now = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
/** A repository's key: GitHub's names are case-insensitive. */
export const key = (owner: string, name: string) => `${owner}/${name}`.toLowerCase();

/** The repository `owner/name`, made on first use (with its bare repository under `gitRoot` when there is one). */
export function repo(s: FakeState, owner: string, name: string, o: { gitDir?: string } = {}): FakeRepo {
  let r = s.repos.get(key(owner, name));
  if (!r) {
    const gitDir = o.gitDir ?? (s.opts.gitRoot ? join(s.opts.gitRoot, owner, `${name}.git`) : undefined);
    r = { owner, name, ...(gitDir && { gitDir }), pulls: [], issues: [] };
    s.repos.set(key(owner, name), r);
  } else if (o.gitDir) r.gitDir = o.gitDir;
  return r;
}
export function findRepo(s: FakeState, owner: string, name: string): FakeRepo {
  const r = s.repos.get(key(owner, name));
  if (!r) throw new HttpError(404, 'Not Found');
  return r;
}
export function findIssue(r: FakeRepo, number: string | number): FakeIssue {
  const i = r.issues.find((x) => x.number === Number(number));
  if (!i) throw new HttpError(404, 'Not Found');
  return i;
}
/** The issue `owner/name#number`, made on first use. */
export function issue(s: FakeState, owner: string, name: string, number: number, o: { user?: string; title?: string; body?: string } = {}): FakeIssue {
  const r = repo(s, owner, name);
  let i = r.issues.find((x) => x.number === number);
  if (!i) {
    i = { number, title: o.title ?? `Issue ${number}`, body: o.body ?? '', user: o.user ?? 'octocat', createdAt: now(), comments: [] };
    r.issues.push(i);
  }
  return i;
}
export function findPull(r: FakeRepo, number: string | number): FakePull {
  const p = r.pulls.find((x) => x.number === Number(number));
  if (!p) throw new HttpError(404, 'Not Found');
  return p;
}
/** The commit a branch points at; null when there is no such branch, zeros when the repository has no git behind it. */
export async function sha(r: FakeRepo, branch: string): Promise<string | null> {
  if (!r.gitDir) return ZERO;
  try {
    return (await git(r.gitDir, ['rev-parse', '--verify', `refs/heads/${branch}^{commit}`])).trim();
  } catch {
    return null;
  }
}
export async function isOnBranch(r: FakeRepo, commit: string, branch: string): Promise<boolean> {
  if (!r.gitDir) return true;
  try {
    await git(r.gitDir, ['merge-base', '--is-ancestor', commit, `refs/heads/${branch}`]);
    return true;
  } catch {
    return false;
  }
}
