import { z } from 'zod';
import type { RepoRef } from '../ticket/schema.ts';
import { TicketId } from '../ticket/schema.ts';
import type { GitRemote } from '../workspace/workspace.ts';

/** A pull request as nightshift records it, whichever forge holds it. */
export const PullRequest = z.object({
  ticketId: TicketId,
  forge: z.enum(['local', 'github']),
  /** The forge's number for it (local: a per-repository sequence). */
  number: z.number().int().positive(),
  url: z.string(),
  repo: z.string(),
  branch: z.string(),
  base: z.string(),
  baseSha: z.string(),
  headSha: z.string(),
  title: z.string(),
  /** The reviewer's summary (markdown). */
  body: z.string(),
  state: z.enum(['open', 'merged', 'closed']),
  /** GitHub: the review that holds the summary, updated in place when new commits land. */
  summaryReviewId: z.number().int().positive().optional(),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
});
export type PullRequest = z.infer<typeof PullRequest>;

export interface OpenPullRequest {
  ticketId: string;
  /** Where the repository lives: a local path or a clone URL. */
  repo: string;
  branch: string;
  base: string;
  baseSha: string;
  headSha: string;
  title: string;
  body: string;
}

/**
 * Where branches and pull requests go. Opening is idempotent per ticket: a second call (a retry
 * after a crash, or the next review round) returns the pull request already opened, updated to the
 * new head and body.
 */
export interface Forge {
  readonly name: 'local' | 'github';
  /** Whether this forge holds the repository (the local forge takes any). */
  handles(repo: RepoRef): boolean;
  /** Where agents clone the repository from and push the ticket branch to, with what git needs to get there. */
  remote(repo: RepoRef): GitRemote;
  openPullRequest(input: OpenPullRequest): Promise<PullRequest>;
}

/** The forge of each ticket's repository: GitHub for a GitHub URL when it is configured, else local. */
export interface ForgeRouter {
  forgeFor(repo: RepoRef): Forge;
}

/**
 * Storage of recorded pull requests, one per ticket. `create` returns false when the ticket has one
 * already. Implemented over the bus (a KV bucket) by the process that builds the forge.
 */
export interface PullRequestStore {
  get(ticketId: string): Promise<PullRequest | null>;
  create(pr: PullRequest): Promise<boolean>;
  put(pr: PullRequest): Promise<void>;
  list(): Promise<PullRequest[]>;
  /** The next local pull request number for a repository. */
  nextNumber(repo: string): Promise<number>;
}

/** The record of a newly opened pull request, whichever forge opened it. */
export function pullRequestRecord(
  input: OpenPullRequest,
  opened: { forge: PullRequest['forge']; number: number; url: string; now: string; createdAt?: string },
): PullRequest {
  return {
    ticketId: input.ticketId,
    forge: opened.forge,
    number: opened.number,
    url: opened.url,
    repo: input.repo,
    branch: input.branch,
    base: input.base,
    baseSha: input.baseSha,
    headSha: input.headSha,
    title: input.title,
    body: input.body,
    state: 'open',
    createdAt: opened.createdAt ?? opened.now,
    updatedAt: opened.now,
  };
}
