import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Role } from '../../shared/index.ts';
import type { MockLlm } from '../../shared/llm/index.ts';
import { spawnCli, type CliProcess } from './cli.ts';
import type { TestEnv } from './env.ts';

export interface Stack extends AsyncDisposable {
  /** The environment of the stack's processes: run CLI commands against the stack with it. */
  childEnv: Record<string, string>;
  procs: CliProcess[];
}

/** A coordinator and one built-in agent process per role, pointed at `env` and the mock model. */
export async function startStack(env: TestEnv, mock: MockLlm, roles: readonly Role[], extra: Record<string, string> = {}): Promise<Stack> {
  const childEnv = {
    ...env.childEnv,
    OPENAI_BASE_URL: mock.url,
    OPENAI_API_KEY: 'sk-test-secret-never-in-a-sandbox',
    NIGHTSHIFT_WORKSPACES_DIR: mkdtempSync(join(tmpdir(), 'ns-ws-')),
    NIGHTSHIFT_STAGE_TIMEOUT: '5m',
    NIGHTSHIFT_ACK_WAIT: '30s',
    NIGHTSHIFT_MODEL_RETRIES: '0',
    ...extra,
  };
  const procs: CliProcess[] = [spawnCli(['coordinator'], childEnv), ...roles.map((r) => spawnCli(['agent', r], childEnv))];
  const stack: Stack = {
    childEnv,
    procs,
    async [Symbol.asyncDispose]() {
      for (const p of procs) await p[Symbol.asyncDispose]();
    },
  };
  try {
    for (const p of procs) await p.waitForLog('process ready', (l) => l.msg === 'coordinator started' || l.msg === 'agent started', 60_000);
  } catch (err) {
    await stack[Symbol.asyncDispose]();
    throw err;
  }
  return stack;
}


