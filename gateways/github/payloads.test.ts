import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { IssueCommentEvent, IssuesEvent, PullRequestEvent, PullRequestReviewCommentEvent, PullRequestReviewEvent } from './payloads.ts';

/** The receiver's payload schemas take every real example of the events it reads (@octokit/webhooks-examples). */

type Definition = { name: string; examples: unknown[] };
const definitions = createRequire(import.meta.url)('@octokit/webhooks-examples') as Definition[];

const SCHEMAS: [string, z.ZodType][] = [
  ['pull_request', PullRequestEvent],
  ['pull_request_review', PullRequestReviewEvent],
  ['pull_request_review_comment', PullRequestReviewCommentEvent],
  ['issues', IssuesEvent],
  ['issue_comment', IssueCommentEvent],
];

describe('webhook payload schemas', () => {
  it.each(SCHEMAS)('parse every %s example', (name, schema) => {
    const examples = definitions.find((d) => d.name === name)?.examples ?? [];
    expect(examples.length).toBeGreaterThan(0);
    const failures = examples.flatMap((e, i) => {
      const r = schema.safeParse(e);
      return r.success ? [] : [`example ${i}: ${r.error.issues.map((x) => `${x.path.join('.')}: ${x.message}`).join('; ')}`];
    });
    expect(failures).toEqual([]);
  });
});
