import {
  createLlm,
  memoryTranscript,
  startMockLlm,
  TokenMeter,
  type Llm,
  type MemoryTranscript,
  type MockLlm,
  type MockScriptInput,
  type ModelSettings,
  type TranscriptSink,
} from '../../shared/llm/index.ts';
import { logSink, type LogSink } from './env.ts';

/** A mock-llm server for one test, with clients wired to it. */
export interface TestMockLlm extends AsyncDisposable {
  server: MockLlm;
  /** Every exchange made by the clients of `llm()` (unless given another sink). */
  transcript: MemoryTranscript;
  sink: LogSink;
  /** Model settings pointed at the server: 5s timeout, no retries, 10ms retry delay. */
  settings(overrides?: Partial<ModelSettings>): ModelSettings;
  /** A client for `role`, by default on ticket T-TEST with a budget of a million tokens. */
  llm(
    role: string,
    opts?: { ticketId?: string; meter?: TokenMeter; settings?: Partial<ModelSettings>; transcript?: TranscriptSink; signal?: AbortSignal },
  ): Llm;
  /** The test expects the server to fail loudly: skip the end-of-test check of failures. */
  allowFailures(): void;
}

/**
 * Starts mock-llm on a free port. `await using mock = await mockLlm(script)`: at the end of the test
 * the server stops and the test fails if a scripted response went unused or a call was unexpected.
 */
export async function mockLlm(scriptInput: MockScriptInput): Promise<TestMockLlm> {
  const sink = logSink();
  const server = await startMockLlm({ script: scriptInput, log: sink.log });
  const transcript = memoryTranscript();
  let failuresAllowed = false;
  const settings = (overrides: Partial<ModelSettings> = {}): ModelSettings => ({
    baseURL: server.url,
    apiKey: 'test-key',
    model: 'mock-model',
    timeoutMs: 5_000,
    retries: 0,
    retryDelayMs: 10,
    retryDelayMaxMs: 50,
    ...overrides,
  });
  return {
    server,
    transcript,
    sink,
    settings,
    llm: (role, opts = {}) => {
      const ticketId = opts.ticketId ?? 'T-TEST';
      return createLlm({
        settings: settings(opts.settings),
        role,
        ticketId,
        meter: opts.meter ?? new TokenMeter({ ticketId, budget: 1_000_000 }),
        transcript: opts.transcript ?? transcript,
        log: sink.log,
        ...(opts.signal && { signal: opts.signal }),
      });
    },
    allowFailures: () => {
      failuresAllowed = true;
    },
    async [Symbol.asyncDispose]() {
      await server.close();
      const problems: string[] = [];
      for (const u of server.unused()) problems.push(`unused scripted response ${u.index + 1} of role "${u.role}": ${JSON.stringify(u.entry)}`);
      if (!failuresAllowed) for (const f of server.failures) problems.push(f.message);
      if (problems.length) throw new Error(`mock-llm script and calls disagree:\n  ${problems.join('\n  ')}`);
    },
  };
}
