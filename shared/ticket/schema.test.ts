import { describe, expect, it } from 'vitest';
import { fieldIssues } from '../errors.ts';
import { IntakeReply, IntakeRequest, RepoRef, TicketId } from './schema.ts';

const minimal = { title: 'Add a --dry-run flag', body: 'So that we can see what would change.', repo: { path: '/srv/repos/app' } };

/** The dotted paths of the issues found when parsing `input` as an intake request. */
function issuePaths(input: unknown): string[] {
  const result = IntakeRequest.safeParse(input);
  if (result.success) throw new Error(`expected ${JSON.stringify(input)} to be refused`);
  return fieldIssues(result.error.issues).map((i) => i.path);
}

function withBranch(baseBranch: string) {
  return { ...minimal, repo: { path: '/srv/repos/app', baseBranch } };
}

describe('IntakeRequest', () => {
  it('accepts a minimal ticket with a repository path and applies the defaults', () => {
    expect(IntakeRequest.parse(minimal)).toEqual({
      title: 'Add a --dry-run flag',
      body: 'So that we can see what would change.',
      repo: { path: '/srv/repos/app' },
      type: 'feature',
      labels: [],
    });
  });

  it('accepts a repository url with a base branch', () => {
    const parsed = IntakeRequest.parse({
      ...minimal,
      repo: { url: 'https://github.com/acme/app.git', baseBranch: 'release/2.x' },
    });
    expect(parsed.repo).toEqual({ url: 'https://github.com/acme/app.git', baseBranch: 'release/2.x' });
  });

  it('accepts every optional field', () => {
    const full = {
      title: 'Crash on empty config',
      body: 'Steps: run with an empty file.',
      repo: { path: '/srv/repos/app', baseBranch: 'main' },
      type: 'bug',
      externalId: 'JIRA-1234',
      requester: 'ada@example.com',
      labels: ['p1', 'backend'],
    } as const;
    expect(IntakeRequest.parse(full)).toEqual(full);
  });

  it('keeps an empty body', () => {
    expect(IntakeRequest.parse({ ...minimal, body: '' }).body).toBe('');
  });

  it('trims the title', () => {
    expect(IntakeRequest.parse({ ...minimal, title: '  Fix it  ' }).title).toBe('Fix it');
  });

  it.each(['feature', 'bug', 'chore'])('accepts type %s', (type) => {
    expect(IntakeRequest.parse({ ...minimal, type }).type).toBe(type);
  });

  it('refuses an unknown type', () => {
    expect(issuePaths({ ...minimal, type: 'epic' })).toEqual(['type']);
  });

  it('refuses unknown top-level fields', () => {
    const result = IntakeRequest.safeParse({ ...minimal, priority: 'high' });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.code).toBe('unrecognized_keys');
    expect(fieldIssues(result.error!.issues)[0]?.path).toBe('(root)');
  });

  it('refuses unknown fields inside repo', () => {
    expect(issuePaths({ ...minimal, repo: { path: '/x', branch: 'main' } })).toEqual(['repo']);
  });

  it('refuses a repository with both a path and a url', () => {
    expect(issuePaths({ ...minimal, repo: { path: '/srv/app', url: 'https://example.com/app.git' } })).toEqual([
      'repo',
    ]);
  });

  it('refuses a repository with neither a path nor a url', () => {
    expect(issuePaths({ ...minimal, repo: {} })).toEqual(['repo']);
    expect(issuePaths({ ...minimal, repo: { baseBranch: 'main' } })).toEqual(['repo']);
  });

  it('refuses an empty repository path', () => {
    expect(issuePaths({ ...minimal, repo: { path: '' } })).toContain('repo.path');
  });

  it('requires title, body and repo', () => {
    expect(issuePaths({}).sort()).toEqual(['body', 'repo', 'title']);
  });

  it('refuses an empty or blank title', () => {
    expect(issuePaths({ ...minimal, title: '' })).toEqual(['title']);
    expect(issuePaths({ ...minimal, title: '   ' })).toEqual(['title']);
  });

  it('accepts a title of 200 characters and refuses 201', () => {
    expect(IntakeRequest.safeParse({ ...minimal, title: 'x'.repeat(200) }).success).toBe(true);
    expect(issuePaths({ ...minimal, title: 'x'.repeat(201) })).toEqual(['title']);
  });

  it('refuses a body over 100 000 characters', () => {
    expect(IntakeRequest.safeParse({ ...minimal, body: 'x'.repeat(100_000) }).success).toBe(true);
    expect(issuePaths({ ...minimal, body: 'x'.repeat(100_001) })).toEqual(['body']);
  });

  it('points at the offending label by index', () => {
    expect(issuePaths({ ...minimal, labels: ['ok', ''] })).toEqual(['labels.1']);
    expect(issuePaths({ ...minimal, labels: [42] })).toEqual(['labels.0']);
  });

  it('refuses more than 20 labels', () => {
    const labels = Array.from({ length: 21 }, (_, i) => `l${i}`);
    expect(issuePaths({ ...minimal, labels })).toEqual(['labels']);
  });

  it('refuses an empty externalId or requester', () => {
    expect(issuePaths({ ...minimal, externalId: '', requester: '' }).sort()).toEqual(['externalId', 'requester']);
  });

  it('reports every problem at once', () => {
    expect(
      issuePaths({ title: '', body: 1, repo: { path: '/x', baseBranch: 'a..b' }, type: 'epic', labels: [''] }).sort(),
    ).toEqual(['body', 'labels.0', 'repo.baseBranch', 'title', 'type']);
  });

  it.each([null, 'a string', 42, [], true])('refuses a non-object payload (%j)', (payload) => {
    expect(issuePaths(payload)).toEqual(['(root)']);
  });
});

describe('RepoRef baseBranch', () => {
  // Each accepted name is accepted by `git check-ref-format --branch`, each refused one refused by it.
  it.each([
    'main',
    'develop',
    'feature/x',
    'release/1.0',
    'release/2.x',
    'fix-123_abc',
    'user/ada/topic',
    'a@b',
    'foo.lock.x',
    'x/-y',
    'x/HEAD',
    'HEAD/x',
    'été',
  ])('accepts %j', (baseBranch) => {
    expect(RepoRef.safeParse({ path: '/x', baseBranch }).success).toBe(true);
  });

  it.each([
    ['a..b', 'two dots'],
    ['-x', 'leading dash'],
    ['--force', 'leading dashes'],
    ['-', 'a dash alone'],
    ['HEAD', 'HEAD'],
    ['foo.lock', 'ending in .lock'],
    ['x.lock/y', 'a component ending in .lock'],
    ['.lock', '.lock alone'],
    ['a b', 'a space'],
    ['a\tb', 'a tab'],
    ['/x', 'leading slash'],
    ['x/', 'trailing slash'],
    ['a//b', 'empty component'],
    ['x.', 'trailing dot'],
    ['.x', 'leading dot'],
    ['a/.b', 'component starting with a dot'],
    ['a/.', 'component that is a dot'],
    ['a@{b', '@{'],
    ['@{u}', '@{u}'],
    ['a~b', 'tilde'],
    ['a^b', 'caret'],
    ['a:b', 'colon'],
    ['a?b', 'question mark'],
    ['a*b', 'asterisk'],
    ['a[b', 'open bracket'],
    ['a\\b', 'backslash'],
    ['a\x00b', 'NUL'],
    ['a\x7fb', 'DEL'],
    ['', 'empty'],
  ])('refuses %j (%s)', (baseBranch) => {
    const result = RepoRef.safeParse({ path: '/x', baseBranch });
    expect(result.success).toBe(false);
    expect(new Set(fieldIssues(result.error!.issues).map((i) => i.path))).toEqual(new Set(['baseBranch']));
  });

  it('refuses a branch name over 200 characters', () => {
    expect(RepoRef.safeParse({ path: '/x', baseBranch: 'b'.repeat(200) }).success).toBe(true);
    expect(RepoRef.safeParse({ path: '/x', baseBranch: 'b'.repeat(201) }).success).toBe(false);
  });

  it('reports a bad branch under repo.baseBranch in an intake request', () => {
    expect(issuePaths(withBranch('a..b'))).toEqual(['repo.baseBranch']);
  });
});

describe('IntakeReply', () => {
  it('accepts a success reply', () => {
    const reply = { ok: true, id: 'tk-0123456789', duplicate: false };
    expect(IntakeReply.parse(reply)).toEqual(reply);
  });

  it('accepts an error reply with and without issues', () => {
    const bare = { ok: false, error: { code: 'invalid_json', message: 'payload is not JSON' } };
    expect(IntakeReply.parse(bare)).toEqual(bare);
    const withIssues = {
      ok: false,
      error: {
        code: 'invalid_ticket',
        message: 'invalid ticket',
        issues: [{ path: 'repo.baseBranch', message: 'not a valid branch name' }],
      },
    };
    expect(IntakeReply.parse(withIssues)).toEqual(withIssues);
  });

  it('refuses a success reply with a malformed id or without duplicate', () => {
    expect(IntakeReply.safeParse({ ok: true, id: 'nope', duplicate: false }).success).toBe(false);
    expect(IntakeReply.safeParse({ ok: true, id: 'tk-0123456789' }).success).toBe(false);
  });

  it('refuses an error reply without an error, and a reply without ok', () => {
    expect(IntakeReply.safeParse({ ok: false }).success).toBe(false);
    expect(IntakeReply.safeParse({ id: 'tk-0123456789', duplicate: false }).success).toBe(false);
  });

  it('refuses mixing the branches', () => {
    expect(IntakeReply.safeParse({ ok: true, error: { code: 'x', message: 'y' } }).success).toBe(false);
  });
});

describe('TicketId', () => {
  it.each(['tk-0123456789', 'tk-abcdefghij', 'tk-a1b2c3d4e5', 'tk-zzzzzzzzzz'])('accepts %s', (id) => {
    expect(TicketId.parse(id)).toBe(id);
  });

  it.each([
    'tk-012345678',
    'tk-01234567890',
    'TK-0123456789',
    'tk-ABCDEFGHIJ',
    'tk_0123456789',
    '0123456789',
    'tk-01234.6789',
    'tk-01234*6789',
    'tk-01234 6789',
    ' tk-0123456789',
    'tk-0123456789\n',
    '',
  ])('refuses %j', (id) => {
    expect(TicketId.safeParse(id).success).toBe(false);
  });
});
