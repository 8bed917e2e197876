import type { Octokit } from '@octokit/rest';
import { z } from 'zod';
import { AgentError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { RepoRef } from '../ticket/schema.ts';
import { pullRequestRecord, type Forge, type OpenPullRequest, type PullRequest, type PullRequestStore } from './forge.ts';
import { gitHubError, type GitHubConnection, type GitHubRepo } from './github-client.ts';

/** The parts of GitHub's pull request objects nightshift relies on. */
const ApiPull = z.object({
  number: z.number().int().positive(),
  html_url: z.string(),
  state: z.enum(['open', 'closed']),
  title: z.string(),
  body: z.string().nullable(),
  merged_at: z.string().nullable().optional(),
  head: z.object({ ref: z.string(), sha: z.string() }),
  base: z.object({ ref: z.string() }),
});
type ApiPull = z.infer<typeof ApiPull>;

const ApiReview = z.object({ id: z.number().int().positive(), body: z.string().nullable().optional(), state: z.string() });

/** GitHub refuses review and pull request bodies above 65,536 characters. */
const MAX_BODY = 60_000;

const SUMMARY_MARK = '<!-- nightshift:summary ticket=';

/** The hidden line that marks the review holding a ticket's summary: a retry finds it rather than posting another. */
export function summaryMarker(ticketId: string): string {
  return `${SUMMARY_MARK}${ticketId} -->`;
}

/** Whether a review body is a nightshift summary: the webhook receiver never acts on nightshift's own reviews. */
export function isSummaryReview(body: string | null | undefined): boolean {
  return typeof body === 'string' && body.includes(SUMMARY_MARK);
}

const DESCRIPTION_MARK = '<!-- nightshift:ticket=';

/**
 * The pull request's description: which ticket it is for and where the summary is. Short on purpose:
 * the summary itself is the review, so that it reads as the reviewer agent's review.
 */
export function pullRequestDescription(input: Pick<OpenPullRequest, 'ticketId' | 'title' | 'headSha'>): string {
  return [
    `nightshift opened this pull request for ticket \`${input.ticketId}\`: **${input.title}**`,
    '',
    `The reviewer agent's summary (what changed, each acceptance criterion with the tests that cover it, the test-first evidence and the cost) is its review on this pull request, kept current as new commits land; it now describes \`${input.headSha.slice(0, 12)}\`.`,
    '',
    'To send the work back, submit a review that requests changes or comments. Merging finishes the ticket; closing without merging cancels it.',
    '',
    `${DESCRIPTION_MARK}${input.ticketId} -->`,
  ].join('\n');
}

/** The summary review: the reviewer's summary, the commit it describes, and the marker. */
export function summaryReviewBody(input: Pick<OpenPullRequest, 'ticketId' | 'headSha' | 'body'>): string {
  const tail = `\n\n---\n<sub>nightshift reviewer summary of \`${input.headSha.slice(0, 12)}\`, updated in place when new commits land.</sub>\n${summaryMarker(input.ticketId)}`;
  const room = MAX_BODY - tail.length;
  const body = input.body.length > room ? `${input.body.slice(0, room - 40)}\n\n… (summary cut at GitHub's size limit)` : input.body;
  return `${body}${tail}`;
}

export interface GitHubForgeDeps {
  github: GitHubConnection;
  store: PullRequestStore;
  log: Logger;
  clock?: () => Date;
}

/**
 * Pull requests on GitHub. The ticket branch is pushed by the agents (to `remote()`, credentials in
 * git's environment); opening the pull request is idempotent per ticket, also across a crash at any
 * point: the recorded pull request is reused, else an open one for the branch is found before one is
 * created, and GitHub itself refuses a second open pull request for the same branch. The summary is a
 * COMMENT review, found again by its marker and updated in place on every later round.
 */
export function createGitHubForge({ github, store, log, clock = () => new Date() }: GitHubForgeDeps): Forge {
  const repoOf = (repo: RepoRef): GitHubRepo | null => (repo.url === undefined ? null : github.repoOf(repo.url));
  return {
    name: 'github',
    handles: (repo) => repoOf(repo) !== null,
    remote(repo) {
      const gh = repoOf(repo);
      if (!gh) throw new AgentError('not_a_github_repository', `${repo.url ?? repo.path} is not a GitHub repository`, { retryable: false });
      return github.remote(gh);
    },
    async openPullRequest(input) {
      const gh = github.repoOf(input.repo);
      if (!gh) throw new AgentError('not_a_github_repository', `${input.repo} is not a GitHub repository`, { retryable: false });
      const api = await github.octokit(gh);
      const where = { owner: gh.owner, repo: gh.name };
      const prLog = log.child({ ticketId: input.ticketId, repo: `${gh.owner}/${gh.name}` });

      let record = await store.get(input.ticketId);
      if (record && record.forge !== 'github') {
        throw new AgentError('forge_mismatch', `ticket ${input.ticketId} already has a ${record.forge} pull request`, { retryable: false });
      }
      let pull: ApiPull;
      if (record) {
        const number = record.number;
        pull = await call(`reading pull request #${number}`, ApiPull, () => api.rest.pulls.get({ ...where, pull_number: number }));
        if (pull.state === 'closed') {
          const merged = Boolean(pull.merged_at);
          throw new AgentError(
            merged ? 'pull_request_merged' : 'pull_request_closed',
            `pull request #${number} of ticket ${input.ticketId} is ${merged ? 'merged' : 'closed'}: nothing more goes to it`,
            { retryable: false },
          );
        }
      } else {
        pull = (await findOpen(api, gh, input.branch)) ?? (await create(api, gh, input, prLog));
      }

      const description = pullRequestDescription(input);
      // A description a person rewrote (the marker gone) is theirs: only nightshift's own is refreshed.
      const ours = pull.body === null || pull.body.includes(DESCRIPTION_MARK);
      if (ours && pull.body !== description) {
        const number = pull.number;
        pull = await call(`updating pull request #${number}`, ApiPull, () => api.rest.pulls.update({ ...where, pull_number: number, body: description }));
      }

      const now = clock().toISOString();
      let next: PullRequest = {
        ...pullRequestRecord(input, { forge: 'github', number: pull.number, url: pull.html_url, now, ...(record && { createdAt: record.createdAt }) }),
        ...(record?.summaryReviewId !== undefined && { summaryReviewId: record.summaryReviewId }),
      };
      // Recorded before the review is written: a crash from here on finds the number in the store.
      if (!record && !(await store.create(next))) {
        record = await store.get(input.ticketId);
        if (record?.summaryReviewId !== undefined) next = { ...next, summaryReviewId: record.summaryReviewId, createdAt: record.createdAt };
      }
      if (!record) prLog.info({ number: pull.number, url: pull.html_url }, 'pull request recorded');

      const reviewBody = summaryReviewBody(input);
      let reviewId = next.summaryReviewId ?? (await findSummaryReview(api, gh, pull.number, input.ticketId));
      if (reviewId !== undefined) {
        const id = reviewId;
        try {
          await api.rest.pulls.updateReview({ ...where, pull_number: pull.number, review_id: id, body: reviewBody });
          prLog.info({ number: pull.number, reviewId: id }, 'summary review updated');
        } catch (err) {
          const e = gitHubError(err, `updating the summary review ${id} on #${pull.number}`);
          if (e.status !== 404) throw e;
          prLog.warn({ number: pull.number, reviewId: id }, 'the summary review is gone; posting it again');
          reviewId = undefined;
        }
      }
      if (reviewId === undefined) {
        const number = pull.number;
        const review = await call(`posting the summary review on #${number}`, ApiReview, () =>
          api.rest.pulls.createReview({ ...where, pull_number: number, event: 'COMMENT', body: reviewBody, commit_id: input.headSha }),
        );
        reviewId = review.id;
        prLog.info({ number, reviewId }, 'summary review posted');
      }
      const final: PullRequest = { ...next, summaryReviewId: reviewId, updatedAt: clock().toISOString() };
      await store.put(final);
      return final;
    },
  };
}

/** Runs one API call and validates what it returns; failures become GitHubError or a fatal AgentError. */
async function call<S extends z.ZodType>(doing: string, schema: S, fn: () => Promise<{ data: unknown }>): Promise<z.output<S>> {
  let data: unknown;
  try {
    ({ data } = await fn());
  } catch (err) {
    throw gitHubError(err, doing);
  }
  const parsed = schema.safeParse(data);
  if (!parsed.success) {
    const where = parsed.error.issues.slice(0, 3).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new AgentError('github_unexpected_response', `${doing}: GitHub's answer is not what nightshift expects (${where})`, { retryable: false });
  }
  return parsed.data;
}

/** The open pull request whose head is the branch, if there is one. */
async function findOpen(api: Octokit, gh: GitHubRepo, branch: string): Promise<ApiPull | undefined> {
  const open = await call(`looking for an open pull request from ${branch}`, z.array(ApiPull), () =>
    api.rest.pulls.list({ owner: gh.owner, repo: gh.name, state: 'open', head: `${gh.owner}:${branch}`, per_page: 10 }),
  );
  return open.find((p) => p.head.ref === branch);
}

async function create(api: Octokit, gh: GitHubRepo, input: OpenPullRequest, log: Logger): Promise<ApiPull> {
  try {
    const { data } = await api.rest.pulls.create({
      owner: gh.owner,
      repo: gh.name,
      head: input.branch,
      base: input.base,
      title: input.title,
      body: pullRequestDescription(input),
    });
    const pull = ApiPull.parse(data);
    log.info({ number: pull.number, url: pull.html_url }, 'pull request created');
    return pull;
  } catch (err) {
    if (err instanceof z.ZodError) throw new AgentError('github_unexpected_response', `creating the pull request: unexpected answer: ${err.message.slice(0, 500)}`, { retryable: false });
    const e = gitHubError(err, `creating the pull request from ${input.branch}`);
    // "A pull request already exists": another attempt got there first (GitHub allows one open per branch).
    if (e.status === 422) {
      const existing = await findOpen(api, gh, input.branch);
      if (existing) return existing;
    }
    throw e;
  }
}

async function findSummaryReview(api: Octokit, gh: GitHubRepo, number: number, ticketId: string): Promise<number | undefined> {
  let reviews: unknown;
  try {
    reviews = await api.paginate(api.rest.pulls.listReviews, { owner: gh.owner, repo: gh.name, pull_number: number, per_page: 100 });
  } catch (err) {
    throw gitHubError(err, `listing the reviews of #${number}`);
  }
  const parsed = z.array(ApiReview).safeParse(reviews);
  if (!parsed.success) throw new AgentError('github_unexpected_response', `listing the reviews of #${number}: unexpected answer`, { retryable: false });
  return parsed.data.find((r) => r.body?.includes(summaryMarker(ticketId)))?.id;
}
