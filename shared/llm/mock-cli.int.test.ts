import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HumanMessage } from '@langchain/core/messages';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reply, script } from '../../test/fakes/llm.ts';
import { runCli, spawnCli } from '../../test/helpers/cli.ts';
import { logSink } from '../../test/helpers/env.ts';
import { waitFor } from '../../test/helpers/wait.ts';
import { createLlm } from './client.ts';
import { TokenMeter } from './usage.ts';

let dir: string;
let scriptFile: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ns-mock-cli-'));
  scriptFile = join(dir, 'script.json');
  await writeFile(scriptFile, JSON.stringify(script({ refiner: [reply.text('hello from the script')] })));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('nightshift mock-llm', () => {
  it('prints its URL, answers, and stops cleanly on SIGTERM', async () => {
    await using proc = spawnCli(['mock-llm', '--script', scriptFile, '--json'], { NIGHTSHIFT_LOG_LEVEL: 'info' });
    const line = await waitFor('the URL on stdout', () => (proc.stdout().includes('\n') ? proc.stdout().split('\n')[0] : undefined));
    const printed = JSON.parse(line!) as { ok: boolean; url: string; roles: Record<string, number> };
    expect(printed).toEqual({ ok: true, url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/v1$/), roles: { refiner: 1 } });

    const llm = createLlm({
      settings: { baseURL: printed.url, apiKey: undefined, model: 'any', timeoutMs: 10_000, retries: 0, retryDelayMs: 10, retryDelayMaxMs: 10 },
      role: 'refiner',
      ticketId: 'T-CLI',
      meter: new TokenMeter({ ticketId: 'T-CLI', budget: 10_000 }),
      log: logSink().log,
    });
    expect(await llm.complete([new HumanMessage('hi')])).toBe('hello from the script');

    proc.proc.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
    expect(proc.logs().find((l) => l.msg === 'mock-llm stopped')).toMatchObject({ calls: 1, failures: 0, unused: [] });
  });

  it('prints just the URL without --json', async () => {
    await using proc = spawnCli(['mock-llm', '--script', scriptFile, '--port', '0'], {});
    const line = await waitFor('the URL on stdout', () => (proc.stdout().includes('\n') ? proc.stdout().split('\n')[0] : undefined));
    expect(line).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/);
    const models = (await (await fetch(`${line}/models`)).json()) as { data: { id: string }[] };
    expect(models.data.map((m) => m.id)).toEqual(['refiner']);
    proc.proc.kill('SIGINT');
    expect(await proc.exited).toBe(0);
    expect(proc.logs().find((l) => l.msg === 'mock-llm stopped: the script did not match the calls')).toMatchObject({ unused: ['refiner#1'] });
  });

  it('refuses a missing or invalid script', async () => {
    await writeFile(join(dir, 'bad.json'), JSON.stringify({ version: 1, roles: { coder: [{}] } }));
    const [usage, missing, bad] = await Promise.all([
      runCli(['mock-llm'], {}),
      runCli(['mock-llm', '--script', join(dir, 'nope.json')], {}),
      runCli(['mock-llm', '--script', join(dir, 'bad.json'), '--json'], {}),
    ]);
    expect(usage).toMatchObject({ code: 2, stderr: expect.stringContaining('mock-llm needs --script <file>') });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('cannot read mock-llm script');
    expect(bad.code).toBe(2);
    expect(JSON.parse(bad.stdout)).toEqual({
      ok: false,
      error: {
        code: 'invalid_mock_script',
        message: `${join(dir, 'bad.json')} is not a valid mock-llm script`,
        issues: [{ path: 'roles.coder.0', message: 'needs content, json, toolCalls or httpStatus' }],
      },
    });
  });
});
