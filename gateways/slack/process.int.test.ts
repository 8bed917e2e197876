import { describe, expect, it } from 'vitest';
import { startFakeSlack } from '../../test/fakes/slack.ts';
import { runCli, spawnCli } from '../../test/helpers/cli.ts';
import { ADA, CHANNEL, SlackWorld } from '../../test/helpers/slack.ts';
import type { Question } from '../../shared/index.ts';

const FLAG: Question = { id: 'flag', text: 'Should the flag be -v or --verbose?', options: ['-v', '--verbose'], blocking: true };

describe('nightshift slack (the process)', () => {
  it('names the missing settings, and a token Slack refuses, without starting', async () => {
    const missing = await runCli(['slack', '--nats', 'nats://127.0.0.1:1'], { SLACK_BOT_TOKEN: '', SLACK_APP_TOKEN: '', SLACK_CHANNEL: '' });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('SLACK_BOT_TOKEN');
    expect(missing.stderr).toContain('SLACK_CHANNEL');
    expect(missing.stderr).toContain('SLACK_APP_TOKEN');

    await using w = await SlackWorld.start();
    const refused = await runCli(['slack'], { ...w.env.childEnv, SLACK_BOT_TOKEN: 'xoxb-revoked' });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('Slack refused SLACK_BOT_TOKEN: invalid_auth');
  });

  it('posts escalations and takes answers, and stops cleanly on SIGTERM', async () => {
    await using w = await SlackWorld.start();
    await w.refiner([FLAG]);
    await using gw = spawnCli(['slack'], w.env.childEnv);
    await gw.waitForLog('the gateway to connect', (l) => l.msg === 'slack gateway connected (Socket Mode)');
    const id = await w.post();
    const { message } = await w.posted(id);
    await w.fake.deliver('events_api', w.fake.reply({ channel: CHANNEL, threadTs: message.ts, user: ADA, text: '--verbose' }));
    expect((await w.inState(id, 'writing_tests')).answers).toMatchObject([{ text: '--verbose', by: `slack:${ADA}` }]);
    await w.resolved(id);
    gw.proc.kill('SIGTERM');
    expect(await gw.exited).toBe(0);
    expect(w.fake.invalid).toEqual([]);
    expect(gw.stderr()).not.toContain(w.fake.botToken);
    expect(gw.stderr()).not.toContain(w.fake.appToken);
  });

  it('keeps trying while Slack cannot be reached', async () => {
    await using w = await SlackWorld.start();
    const away = await startFakeSlack();
    const url = away.apiUrl;
    await away[Symbol.asyncDispose]();
    await using gw = spawnCli(['slack'], { ...w.env.childEnv, SLACK_API_URL: url });
    await gw.waitForLog('a retry', (l) => l.msg === 'cannot connect to Slack; will retry' && l.attempt === 2);
    gw.proc.kill('SIGTERM');
    expect(await gw.exited).toBe(0);
  });
});
