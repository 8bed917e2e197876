import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { makeRepo } from '../../test/helpers/git.ts';
import { git, localPathOf, protocolOf } from './git.ts';
import { scaled } from '../../test/helpers/wait.ts';

const made: string[] = [];
afterEach(() => {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('git on the host', { timeout: scaled(60_000) }, () => {
  it("takes nothing from this process's environment: no GIT_* variable, no secret, no user configuration", async () => {
    const repo = makeRepo();
    made.push(repo);
    const saved = { ...process.env };
    try {
      process.env.GIT_DIR = '/nonexistent';
      process.env.GIT_CONFIG_PARAMETERS = "'core.fsmonitor'='touch /tmp/never'";
      process.env.GIT_CONFIG_GLOBAL = '/etc/passwd';
      process.env.NIGHTSHIFT_CANARY = 'secret-canary';
      const vars = await git(repo, ['var', '-l']);
      expect(vars).not.toContain('secret-canary');
      expect(vars).not.toContain('/nonexistent');
      expect((await git(repo, ['rev-parse', '--show-toplevel'])).trim()).toBe(repo);
      const config = await git(repo, ['config', '--list', '--show-scope']);
      expect(config).not.toMatch(/^(global|system)\t/m);
      for (const line of ['command\tcore.fsmonitor=false', 'command\tcore.hookspath=/dev/null', 'command\tprotocol.allow=never', 'command\tcredential.helper=']) {
        expect(config).toContain(line);
      }
    } finally {
      process.env = saved;
    }
  });

  it('refuses every transport but the ones a command is given', async () => {
    const repo = makeRepo();
    made.push(repo);
    await expect(git(repo, ['ls-remote', 'ext::sh -c touch% /tmp/never'])).rejects.toMatchObject({ code: 'git_failed' });
    await expect(git(repo, ['ls-remote', 'https://127.0.0.1:9/x.git'])).rejects.toMatchObject({ stderr: expect.stringMatching(/transport 'https' not allowed/) });
    expect(await git(repo, ['ls-remote', repo])).toContain('refs/heads/main');
  });

  it('tells the transport of a remote, and which remotes are local repositories', () => {
    expect(['https://github.com/a/b.git', 'http://127.0.0.1/a.git', 'ssh://git@h/a.git', 'git@github.com:a/b.git', 'git://h/a.git', '/srv/repo', 'file:///srv/repo', 'ext::sh'].map(protocolOf)).toEqual(
      ['https', 'http', 'ssh', 'ssh', 'git', 'file', 'file', 'file'],
    );
    expect(['/srv/repo', 'file:///srv/my%20repo', 'https://h/a.git', 'git@h:a.git', 'ext::sh'].map(localPathOf)).toEqual(['/srv/repo', '/srv/my repo', null, null, null]);
  });
});
