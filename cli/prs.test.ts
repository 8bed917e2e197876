import { describe, expect, it } from 'vitest';
import type { PullRequest } from '../shared/index.ts';
import { renderPullRequest, renderPullRequests } from './prs.ts';

const ESC = '\x1b';

const pr: PullRequest = {
  ticketId: 'tk-0123456789',
  forge: 'local',
  number: 3,
  url: 'local:/repo#3',
  repo: '/repo',
  branch: 'nightshift/tk-0123456789',
  base: 'main',
  baseSha: 'a'.repeat(40),
  headSha: 'b'.repeat(40),
  title: `slugify ${ESC}[31mmaxLength${ESC}[39m`,
  body: `## Test-first evidence\n\`\`\`\n${ESC}[31m${ESC}[1mAssertionError${ESC}[22m: expected 1 to be 2${ESC}[39m\n\`\`\``,
  state: 'open',
  createdAt: '2026-12-02T08:00:00.000Z',
  updatedAt: '2026-12-02T08:00:00.000Z',
};

describe('pull requests for the terminal', () => {
  it('passes no escape code from a stored body, a title or a diff on to the terminal', () => {
    const shown = renderPullRequest({ pr, diff: `+const red = '${ESC}]52;c;ZXZpbA==\x07';` });
    expect(shown).not.toContain(ESC);
    expect(shown).toContain('AssertionError: expected 1 to be 2');
    expect(shown).toContain("+const red = '';");
    expect(renderPullRequests([pr])).toBe('#3    tk-0123456789  open    nightshift/tk-0123456789 → main  slugify maxLength');
  });
});
