import { z } from 'zod';
import { TicketId } from '../ticket/schema.ts';

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
 * after a crash) returns the pull request already opened, updated to the new head and body.
 */
export interface Forge {
  readonly name: 'local' | 'github';
  openPullRequest(input: OpenPullRequest): Promise<PullRequest>;
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
