import { describe, expect, it } from 'vitest';
import { isSummaryReview, summaryMarker } from '../../shared/forge/index.ts';
import type { Question } from '../../shared/index.ts';
import { askComment, askMarker, gitHubLogin, hasNightshiftMarker, issueOfExternalId, issueOfTicket, type Asking } from './ask.ts';

/** A parked ticket's questions as a comment on its GitHub issue: what it says, and which tickets get one. */

const ID = 'tk-0123456789';
const ASKED = '2030-01-02T03:04:05.678Z';
const HOSTS = ['github.com', 'www.github.com', 'ghe.example.com'];

const asking = (questions: Question[], from = 'triaging'): Asking => ({ ticketId: ID, from, questions, askedAt: ASKED, deadline: '2030-01-05T03:04:05.678Z' });
const q = (text: string, extra: Partial<Question> = {}): Question => ({ id: `q${text.length}`, text, blocking: true, ...extra });

describe('askComment', () => {
  it('asks the reporter by @mention, says how to answer, the deadline, and carries the parking marker', () => {
    const body = askComment(asking([q('Which version of widgets do you run?', { to: 'github:octocat' })]));
    expect(body).toBe(
      [
        '@octocat: nightshift needs an answer before it can go on triaging this report (ticket `tk-0123456789`).',
        '',
        '1. @octocat: Which version of widgets do you run?',
        '',
        '**To answer, reply on this issue.** A comment from @octocat, or from anyone with write access to this repository, is taken as the answer to the question, and the work resumes. Without an answer by 2030-01-05 03:04 UTC, the ticket fails.',
        '',
        '<!-- nightshift:ask tk-0123456789 2030-01-02T03:04:05.678Z -->',
      ].join('\n'),
    );
    expect(body.endsWith(askMarker(ID, ASKED))).toBe(true);
  });

  it('numbers several questions, mentions each person asked once, keeps multi-line text in its item, shows choices and optional ones', () => {
    const body = askComment(
      asking(
        [
          q('Steps to reproduce?\nWith the exact input.', { to: 'github:octocat' }),
          q('Which browser?', { to: 'github:octocat', options: ['Firefox', 'Chrome  stable'] }),
          q('Anything else?', { blocking: false, to: 'github:hubot' }),
          q('Should the fix be backported?', { to: 'slack:U0ADA0001' }),
          q('Who owns slugify?'),
        ],
        'refining',
      ),
    );
    expect(body.split('\n')[0]).toBe('@octocat @hubot: nightshift needs answers before it can go on refining this ticket (ticket `tk-0123456789`).');
    expect(body).toContain('1. @octocat: Steps to reproduce?\n   With the exact input.\n2. @octocat: Which browser?\n   Choices: Firefox · Chrome stable\n3. @hubot: Anything else? _(optional)_\n4. (for slack:U0ADA0001) Should the fix be backported?\n5. Who owns slugify?');
    expect(body).toContain('A comment from @octocat or @hubot, or from anyone with write access to this repository, is taken as the answer to the questions (answer them all in one comment)');
    expect(body.match(/@octocat/g)).toHaveLength(4);
  });

  it('without anyone on GitHub asked, says who may answer and mentions nobody', () => {
    const body = askComment(asking([q('Is the old behaviour relied on?', { to: 'slack:U0ADA0001' })]));
    expect(body).not.toContain('@');
    expect(body).toContain('A comment from anyone with write access to this repository is taken as the answer to the question');
  });

  it('never mentions what is not a GitHub login', () => {
    expect(gitHubLogin('github:octocat')).toBe('octocat');
    expect(gitHubLogin('github:Mona-Lisa42')).toBe('Mona-Lisa42');
    for (const actor of ['github:', 'github:nightshift[bot]', 'github:-dash', 'github:a b', `github:${'x'.repeat(40)}`, 'slack:U1', 'octocat', undefined]) {
      expect(gitHubLogin(actor), String(actor)).toBeNull();
    }
    const body = askComment(asking([q('Why?', { to: 'github:a b' })]));
    expect(body).not.toMatch(/@a\b/);
    expect(body).toContain('1. (for github:a b) Why?');
  });

  it("stays within GitHub's comment size with twenty long questions, keeping the marker", () => {
    const body = askComment(asking(Array.from({ length: 20 }, (_, i) => q(`${i} ${'x'.repeat(3_990)}`, { id: `q${i}`, to: 'github:octocat' }))));
    expect(body.length).toBeLessThanOrEqual(60_000);
    expect(body).toContain("cut at GitHub's size limit");
    expect(body.endsWith(askMarker(ID, ASKED))).toBe(true);
  });
});

describe('markers', () => {
  it('are found in the question comment and in the summary review, and nowhere else', () => {
    expect(hasNightshiftMarker(askComment(asking([q('Why?')])))).toBe(true);
    expect(hasNightshiftMarker(`Summary\n${summaryMarker(ID)}`)).toBe(true);
    expect(hasNightshiftMarker('<!-- a comment of my own --> and nightshift: hello')).toBe(false);
    expect(hasNightshiftMarker(null)).toBe(false);
    // A question comment is not mistaken for a summary review.
    expect(isSummaryReview(askComment(asking([q('Why?')])))).toBe(false);
  });

  it('tell parkings apart', () => {
    expect(askMarker(ID, ASKED)).not.toBe(askMarker(ID, '2030-01-02T03:04:06.000Z'));
    expect(askMarker(ID, ASKED)).not.toBe(askMarker('tk-abcdefghjk', ASKED));
  });
});

describe('issueOfTicket', () => {
  it('is the issue of the external id when repo.url is that repository on GitHub', () => {
    expect(issueOfTicket({ externalId: 'github:acme/widgets#7', repo: { url: 'https://github.com/acme/widgets' } }, HOSTS)).toEqual({ owner: 'acme', name: 'widgets', number: 7 });
    expect(issueOfTicket({ externalId: 'github:acme/widgets#7', repo: { url: 'git@github.com:Acme/Widgets.git' } }, HOSTS)).toEqual({ owner: 'acme', name: 'widgets', number: 7 });
    expect(issueOfTicket({ externalId: 'github:acme/w.js#12', repo: { url: 'https://ghe.example.com/acme/w.js' } }, HOSTS)).toEqual({ owner: 'acme', name: 'w.js', number: 12 });
  });

  it.each([
    ['no external id', { repo: { url: 'https://github.com/acme/widgets' } }],
    ['another kind of external id', { externalId: 'GH-123', repo: { url: 'https://github.com/acme/widgets' } }],
    ['a Slack message', { externalId: 'slack:C0BUGS01/1700000000.000100', repo: { url: 'https://github.com/acme/widgets' } }],
    ['a local repository', { externalId: 'github:acme/widgets#7', repo: { path: '/srv/widgets' } }],
    ['another forge', { externalId: 'github:acme/widgets#7', repo: { url: 'https://gitlab.com/acme/widgets' } }],
    ['another repository than the issue', { externalId: 'github:acme/widgets#7', repo: { url: 'https://github.com/acme/gadgets' } }],
    ['issue number 0', { externalId: 'github:acme/widgets#0', repo: { url: 'https://github.com/acme/widgets' } }],
    ['extra text', { externalId: 'github:acme/widgets#7 ', repo: { url: 'https://github.com/acme/widgets' } }],
  ])('is null for %s', (_, t) => {
    expect(issueOfTicket(t, HOSTS)).toBeNull();
  });

  it('parses only what the receiver writes', () => {
    expect(issueOfExternalId('github:acme/widgets#7')).toEqual({ owner: 'acme', name: 'widgets', number: 7 });
    expect(issueOfExternalId('github:acme/../x#7')).toBeNull();
    expect(issueOfExternalId('github:acme/..#7')).toBeNull();
    expect(issueOfExternalId(undefined)).toBeNull();
  });
});
