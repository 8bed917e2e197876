import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BUG_INTAKE, parseIntake, TICKET_INTAKE } from './intake.ts';

const bytes = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

describe('intake refuses control characters before anything else happens', () => {
  it('answers a NUL in a ticket title with invalid_ticket and an issue at title', async () => {
    // The repository does not exist: the schema refuses first, nothing touches the outside world.
    const parsed = await parseIntake(bytes({ title: 'Add\u0000 a flag', body: 'b', repo: { path: '/nonexistent/repo' } }), 262_144, TICKET_INTAKE);
    expect(parsed).toEqual({
      ok: false,
      error: {
        code: 'invalid_ticket',
        message: 'ticket does not match the intake schema: title: control characters are not allowed',
        issues: [{ path: 'title', message: 'control characters are not allowed' }],
      },
    });
  });

  it('answers a NUL in a bug report title with invalid_report and an issue at title', async () => {
    const parsed = await parseIntake(bytes({ title: 'Crash\u0000', description: 'd', repo: { path: '/nonexistent/repo' } }), 262_144, BUG_INTAKE);
    expect(parsed).toMatchObject({ ok: false, error: { code: 'invalid_report', issues: [{ path: 'title', message: 'control characters are not allowed' }] } });
  });
});

describe('intake checks a local repository with the file system', () => {
  it('refuses a directory that is not a repository with invalid_repository at repo.path', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ns-intake-'));
    try {
      const parsed = await parseIntake(bytes({ title: 't', body: 'b', repo: { path: dir } }), 262_144, TICKET_INTAKE);
      expect(parsed).toEqual({
        ok: false,
        error: {
          code: 'invalid_repository',
          message: `repo.path "${dir}" is not a git repository`,
          issues: [{ path: 'repo.path', message: `repo.path "${dir}" is not a git repository` }],
        },
      });
      mkdirSync(join(dir, '.git'));
      expect(await parseIntake(bytes({ title: 't', body: 'b', repo: { path: dir } }), 262_144, TICKET_INTAKE)).toMatchObject({ ok: true });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
