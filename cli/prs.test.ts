import { describe, expect, it } from 'vitest';
import type { PullRequest } from '../shared/index.ts';
import { Ticket, UserInputError } from '../shared/index.ts';
import { findPullRequest } from '../bus/index.ts';
import { renderPullRequest, renderPullRequests } from './prs.ts';
import { renderTicket } from './render.ts';

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
    expect(renderPullRequests([pr])).toBe('repo#3                   tk-0123456789  open    nightshift/tk-0123456789 → main  slugify maxLength');
  });
});

describe('addressing a pull request', () => {
  const at = (ticketId: string, repo: string, number: number): PullRequest => ({ ...pr, ticketId, repo, number, branch: `nightshift/${ticketId}` });
  const prs = [
    at('tk-aaaaaaaaaa', '/work/demo-repo', 1),
    at('tk-bbbbbbbbbb', '/work/other', 1),
    at('tk-cccccccccc', 'https://github.com/acme/widgets.git', 1),
    at('tk-dddddddddd', '/work/demo-repo', 2),
  ];
  const refusal = (ref: string) => {
    try {
      findPullRequest(prs, ref);
    } catch (err) {
      expect(err).toBeInstanceOf(UserInputError);
      return err as UserInputError;
    }
    throw new Error(`${ref} was resolved`);
  };

  it('finds one by ticket id, by <repo>#<n> and by a number only one repository has', () => {
    expect(findPullRequest(prs, 'tk-bbbbbbbbbb').repo).toBe('/work/other');
    expect(findPullRequest(prs, 'demo-repo#1').ticketId).toBe('tk-aaaaaaaaaa');
    expect(findPullRequest(prs, '/work/other#1').ticketId).toBe('tk-bbbbbbbbbb');
    expect(findPullRequest(prs, 'acme/widgets#1').ticketId).toBe('tk-cccccccccc');
    expect(findPullRequest(prs, 'widgets#1').ticketId).toBe('tk-cccccccccc');
    expect(findPullRequest(prs, '2').ticketId).toBe('tk-dddddddddd');
    expect(findPullRequest(prs, '#2').ticketId).toBe('tk-dddddddddd');
  });

  it('refuses a number several repositories have, listing every candidate', () => {
    const err = refusal('1');
    expect(err.code).toBe('pr_ambiguous');
    for (const p of prs.filter((x) => x.number === 1)) expect(err.message).toContain(p.ticketId);
    expect(err.message).not.toContain('tk-dddddddddd');
  });

  it('says what is missing, and refuses what is not a pull request reference', () => {
    expect(refusal('7').code).toBe('pr_not_found');
    expect(refusal('demo-repo#9').code).toBe('pr_not_found');
    expect(refusal('tk-eeeeeeeeee').code).toBe('pr_not_found');
    expect(refusal('first').code).toBe('invalid_pr_ref');
  });

  it('lists pull requests with their repository, so equal numbers are told apart', () => {
    const lines = renderPullRequests(prs).split('\n').map((l) => l.split(/\s+/)[0]);
    expect(lines).toEqual(['demo-repo#1', 'other#1', 'widgets#1', 'demo-repo#2']);
  });
});

describe('ticket show', () => {
  it('names the ticket\'s pull request', () => {
    const ticket = Ticket.parse({
      id: 'tk-0123456789', v: 1, title: 't', body: '', type: 'feature', repo: { path: '/repo' }, labels: [], state: 'pr_open',
      work: null, parked: null, answers: [], artifacts: {}, failure: null, outbox: [], applied: [], timeline: [],
      createdAt: pr.createdAt, updatedAt: pr.updatedAt,
    });
    expect(renderTicket(ticket, new Date(pr.createdAt), [], pr)).toContain('pull request: repo#3 [open] local:/repo#3  (nightshift pr show tk-0123456789)');
    expect(renderTicket(ticket, new Date(pr.createdAt), [], null)).not.toContain('pull request:');
  });
});
