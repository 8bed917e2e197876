import { describe, expect, it } from 'vitest';
import { fieldIssues } from '../errors.ts';
import { BugReport, IntakeRequest, LIMITS } from './schema.ts';

const ticket = { title: 'Add a --dry-run flag', body: 'So that we can see what would change.', repo: { path: '/srv/repos/app' } };
const bug = { title: 'Crash on empty input', description: 'It crashes.', repo: { path: '/srv/repos/app' } };

function refused(schema: typeof IntakeRequest | typeof BugReport, input: unknown): { path: string; message: string }[] {
  const result = schema.safeParse(input);
  if (result.success) throw new Error(`expected ${JSON.stringify(input)} to be refused`);
  return fieldIssues(result.error.issues);
}

describe('control characters at intake', () => {
  it('refuses a NUL in the title, naming the title', () => {
    expect(refused(IntakeRequest, { ...ticket, title: 'Add\u0000 a flag' })).toEqual([{ path: 'title', message: 'control characters are not allowed' }]);
  });

  it.each([
    ['title', { title: 'two\nlines' }],
    ['title', { title: 'escape \u001b[31m red' }],
    ['title', { title: 'C1 \u0085 next line' }],
    ['labels.1', { labels: ['ok', 'bell\u0007'] }],
    ['externalId', { externalId: 'GH-1\r\n' }],
    ['requester', { requester: 'alice\u0000' }],
    ['repo.path', { repo: { path: '/srv/repos/app\u0000/x' } }],
    ['repo.url', { repo: { url: 'https://example.com/a\u0001.git' } }],
    ['repo.baseBranch', { repo: { path: '/srv/repos/app', baseBranch: 'main\u0000' } }],
    ['body', { body: 'text with a NUL\u0000 in it' }],
    ['body', { body: 'a DEL \u007f' }],
  ])('refuses a control character in %s', (path, over) => {
    expect(refused(IntakeRequest, { ...ticket, ...over }).map((i) => i.path)).toEqual([path]);
  });

  it('takes tabs and line breaks in a body', () => {
    expect(IntakeRequest.parse({ ...ticket, body: 'line one\r\n\tline two\n' }).body).toBe('line one\r\n\tline two\n');
  });

  it.each([
    ['title', { title: 'Crash\u0000' }],
    ['description', { description: 'It\u0000 crashes.' }],
    ['steps', { steps: 'run it\u0008' }],
    ['logs', { logs: 'trace \u0000' }],
    ['reporter', { reporter: 'bob\n' }],
    ['labels.0', { labels: ['\u0000'] }],
  ])('refuses a control character in a bug report %s', (path, over) => {
    expect(refused(BugReport, { ...bug, ...over }).map((i) => i.path)).toEqual([path]);
  });

  it('takes line breaks and tabs in a bug report description and logs', () => {
    expect(BugReport.parse({ ...bug, description: 'a\n\tb', logs: 'at x\n\tat y' })).toMatchObject({ description: 'a\n\tb', logs: 'at x\n\tat y' });
  });
});

describe('field limits', () => {
  it.each([
    ['title', { title: 'x'.repeat(LIMITS.title + 1) }],
    ['body', { body: 'x'.repeat(LIMITS.body + 1) }],
    ['labels', { labels: Array.from({ length: LIMITS.labels + 1 }, (_, i) => `l${i}`) }],
    ['labels.0', { labels: ['x'.repeat(LIMITS.label + 1)] }],
    ['externalId', { externalId: 'x'.repeat(LIMITS.externalId + 1) }],
    ['requester', { requester: 'x'.repeat(LIMITS.requester + 1) }],
    ['repo.path', { repo: { path: `/${'x'.repeat(LIMITS.repoPath)}` } }],
    ['repo.url', { repo: { url: `https://example.com/${'x'.repeat(LIMITS.repoUrl)}` } }],
    ['repo.baseBranch', { repo: { path: '/srv/repos/app', baseBranch: 'x'.repeat(LIMITS.baseBranch + 1) } }],
  ])('refuses a %s past its limit', (path, over) => {
    expect(refused(IntakeRequest, { ...ticket, ...over }).map((i) => i.path)).toEqual([path]);
  });

  it('takes every field at its limit', () => {
    expect(
      IntakeRequest.safeParse({
        title: 'x'.repeat(LIMITS.title),
        body: 'x'.repeat(LIMITS.body),
        repo: { path: `/${'x'.repeat(LIMITS.repoPath - 1)}`, baseBranch: 'x'.repeat(LIMITS.baseBranch) },
        externalId: 'x'.repeat(LIMITS.externalId),
        requester: 'x'.repeat(LIMITS.requester),
        labels: Array.from({ length: LIMITS.labels }, () => 'x'.repeat(LIMITS.label)),
      }).success,
    ).toBe(true);
  });
});
