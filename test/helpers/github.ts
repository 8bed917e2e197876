import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Webhooks } from '@octokit/webhooks';
import { createDemoRepo } from '../../cli/demo.ts';
import { git } from '../../shared/index.ts';
import { startFakeGitHub, type FakeGitHub, type FakeGitHubOptions } from '../fakes/github.ts';

/** The example payloads of `@octokit/webhooks-examples` (api.github.com), by event name. */
type Definition = { name: string; examples: Record<string, unknown>[] };
const definitions = createRequire(import.meta.url)('@octokit/webhooks-examples') as Definition[];

/**
 * A real example payload of `event` (with `action`, and `pick` choosing among several), deep-copied.
 * Throws when the examples have none: tests never invent payloads from nothing.
 */
export function webhookExample(event: string, action: string | null, pick: (e: Record<string, unknown>) => boolean = () => true): Record<string, unknown> {
  const def = definitions.find((d) => d.name === event);
  const found = def?.examples.find((e) => (action === null || e.action === action) && pick(e));
  if (!found) throw new Error(`@octokit/webhooks-examples has no ${event}${action ? `.${action}` : ''} example`);
  return structuredClone(found);
}

export interface PullTarget {
  owner: string;
  name: string;
  number: number;
  branch: string;
  headSha: string;
  base?: string;
}

/** Points an example payload at a repository and pull request: `repository`, and `pull_request` when it has one. */
export function retarget(payload: Record<string, unknown>, t: PullTarget): Record<string, unknown> {
  const full = `${t.owner}/${t.name}`;
  const html = `https://github.com/${full}`;
  const repository = { ...(payload.repository as Record<string, unknown>), name: t.name, full_name: full, html_url: html, owner: { ...((payload.repository as { owner: object }).owner), login: t.owner } };
  const out: Record<string, unknown> = { ...payload, repository };
  const pr = payload.pull_request as Record<string, unknown> | undefined;
  if (pr) {
    const head = pr.head as Record<string, unknown>;
    const base = pr.base as Record<string, unknown>;
    out.pull_request = {
      ...pr,
      number: t.number,
      html_url: `${html}/pull/${t.number}`,
      head: { ...head, ref: t.branch, sha: t.headSha, label: `${t.owner}:${t.branch}`, repo: { ...(head.repo as object), full_name: full } },
      base: { ...base, ref: t.base ?? 'main', repo: { ...(base.repo as object), full_name: full } },
    };
  }
  return out;
}

/** A signed delivery, as GitHub sends it. */
export async function delivery(secret: string, event: string, payload: unknown, id: string = randomUUID()): Promise<{ id: string; headers: Record<string, string>; body: string }> {
  const body = JSON.stringify(payload);
  return {
    id,
    body,
    headers: {
      'content-type': 'application/json',
      'user-agent': 'GitHub-Hookshot/test',
      'x-github-event': event,
      'x-github-delivery': id,
      'x-hub-signature-256': await new Webhooks({ secret }).sign(body),
    },
  };
}

/**
 * The settings of the GitHub gateway's receiver: on 127.0.0.1, on a port the system picks, checking
 * deliveries with `secret`; with `github`, talking to that local GitHub with its token.
 */
export function receiverSettings(secret: string, github?: { fake: FakeGitHub; token: string }): Record<string, string> {
  return {
    ...(github && { GITHUB_TOKEN: github.token, GITHUB_API_URL: github.fake.url, GITHUB_GIT_URL: github.fake.gitUrl }),
    GITHUB_WEBHOOK_SECRET: secret,
    NIGHTSHIFT_GITHUB_HOST: '127.0.0.1',
    NIGHTSHIFT_GITHUB_PORT: '0',
  };
}

export interface IssueTarget {
  owner: string;
  name: string;
  number: number;
  title: string;
  body: string | null;
  /** The issue's labels. */
  labels: string[];
  /** The label just added (on `labeled`). */
  label?: string;
  /** Who opened the issue (the example's user otherwise; null for none, as for a deleted account). */
  author?: string | null;
}

/** The example `issues` event (`opened`, `labeled` or `edited`), pointed at the issue `owner/name#number` as `t` describes it. */
export function issueEvent(action: 'opened' | 'labeled' | 'edited', t: IssueTarget): Record<string, unknown> {
  const p = retarget(webhookExample('issues', action), { owner: t.owner, name: t.name, number: t.number, branch: '', headSha: '' });
  const example = p.issue as Record<string, unknown>;
  p.issue = {
    ...example,
    number: t.number,
    html_url: `https://github.com/${t.owner}/${t.name}/issues/${t.number}`,
    title: t.title,
    body: t.body,
    labels: t.labels.map((name) => ({ ...((example.labels as object[])[0] ?? {}), name })),
    ...(t.author !== undefined && { user: t.author === null ? null : { ...(example.user as object), login: t.author } }),
  };
  if (t.label !== undefined) p.label = { ...(p.label as object), name: t.label };
  return p;
}

/** POSTs a delivery to the receiver; returns its status and JSON answer. */
export async function post(url: string, d: { headers: Record<string, string>; body: string }): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${url}/github/webhook`, { method: 'POST', headers: d.headers, body: d.body });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** The demo repository as a bare repository at `<gitRoot>/<owner>/<name>.git`, the way GitHub would hold it. */
export async function bareDemoRepo(gitRoot: string, owner: string, name: string): Promise<string> {
  const work = await createDemoRepo(join(gitRoot, '.work', `${owner}-${name}`));
  const bare = join(gitRoot, owner, `${name}.git`);
  mkdirSync(join(gitRoot, owner), { recursive: true });
  await git(gitRoot, ['clone', '--quiet', '--bare', work, bare]);
  return bare;
}

/** A local GitHub serving one repository, the demo, from a bare clone in a directory of its own. */
export interface DemoGitHub extends AsyncDisposable {
  fake: FakeGitHub;
  /** The bare repository the fake serves as `owner/name`. */
  bare: string;
}

/**
 * Starts the local GitHub (test/fakes/github.ts) with `opts` and the demo repository as `owner/name`;
 * disposing stops it and removes the repository.
 */
export async function demoGitHub(opts: Omit<FakeGitHubOptions, 'gitRoot'> = {}, owner = 'acme', name = 'widgets'): Promise<DemoGitHub> {
  const gitRoot = mkdtempSync(join(tmpdir(), 'ns-gh-git-'));
  try {
    const bare = await bareDemoRepo(gitRoot, owner, name);
    const fake = await startFakeGitHub({ ...opts, gitRoot });
    fake.repo(owner, name);
    return {
      fake,
      bare,
      async [Symbol.asyncDispose]() {
        await fake.stop();
        rmSync(gitRoot, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(gitRoot, { recursive: true, force: true });
    throw err;
  }
}

/** Every file under `dir` (relative names, `.git` included) whose bytes contain `needle`: where a secret may have been left. */
export function filesContaining(dir: string, needle: string): string[] {
  const hits: string[] = [];
  for (const entry of readdirSync(dir, { recursive: true }) as string[]) {
    const path = join(dir, entry);
    if (statSync(path).isFile() && readFileSync(path).includes(needle)) hits.push(entry);
  }
  return hits;
}
