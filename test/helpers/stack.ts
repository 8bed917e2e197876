import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Role } from '../../shared/index.ts';
import type { MockLlm } from '../../shared/llm/index.ts';
import { spawnCli, type CliProcess } from './cli.ts';
import type { ProcessKind } from '../../bus/index.ts';
import type { TestEnv } from './env.ts';

export interface Stack extends AsyncDisposable {
  /** The environment of the stack's processes: run CLI commands against the stack with it. */
  childEnv: Record<string, string>;
  procs: CliProcess[];
}

/**
 * A coordinator and one built-in agent process per role, pointed at `env` and the mock model; on a
 * secure `env`, each on its own kind's credentials, as `nightshift up` runs them.
 */
export async function startStack(env: TestEnv, mock: MockLlm, roles: readonly Role[], extra: Record<string, string> = {}): Promise<Stack> {
  const childEnv: Record<string, string> = {
    ...env.childEnv,
    OPENAI_BASE_URL: mock.url,
    OPENAI_API_KEY: 'sk-test-secret-never-in-a-sandbox',
    NIGHTSHIFT_WORKSPACES_DIR: mkdtempSync(join(tmpdir(), 'ns-ws-')),
    NIGHTSHIFT_STAGE_TIMEOUT: '5m',
    NIGHTSHIFT_ACK_WAIT: '30s',
    NIGHTSHIFT_MODEL_RETRIES: '0',
    ...extra,
  };
  // On a secure server each process runs on its own kind's seed, and the CLI on the operator's.
  const as = (kind: ProcessKind): Record<string, string> => {
    if (!env.secure) return childEnv;
    const { NATS_USER: _user, NATS_PASSWORD: _password, ...rest } = childEnv;
    return { ...rest, NATS_NKEY: env.seedOf(kind) };
  };
  const procs: CliProcess[] = [spawnCli(['coordinator'], as('coordinator')), ...roles.map((r) => spawnCli(['agent', r], as(r)))];
  const stack: Stack = {
    childEnv: as('operator'),
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


