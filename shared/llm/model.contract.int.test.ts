import { modelContract } from '../../test/contracts/model.contract.ts';
import { script } from '../../test/fakes/llm.ts';
import { logSink } from '../../test/helpers/env.ts';
import { mockLlm } from '../../test/helpers/mockllm.ts';
import { loadConfig } from '../config.ts';
import { createLlm } from './client.ts';
import { modelSettings } from './model.ts';
import { memoryTranscript } from './transcript.ts';
import { TokenMeter } from './usage.ts';

/* Always against mock-llm, through the real @langchain/openai client. */
modelContract({
  name: 'mock-llm',
  timeoutMs: 30_000,
  async model(role, answers) {
    const mock = await mockLlm(script({ [role]: answers }));
    return {
      transcript: mock.transcript,
      llm: (opts = {}) => mock.llm(role, { ticketId: 'tk-contract01', ...opts }),
      [Symbol.asyncDispose]: () => mock[Symbol.asyncDispose](),
    };
  },
});

/*
 * And against a real OpenAI-compatible endpoint when one is configured (OPENAI_BASE_URL, OPENAI_API_KEY,
 * NIGHTSHIFT_MODEL…, as the agents take them): `OPENAI_BASE_URL=… npx vitest run shared/llm/model.contract.int.test.ts`.
 * The scripted answers are ignored; the model is asked for real.
 */
if (process.env.OPENAI_BASE_URL) {
  const config = loadConfig(process.env);
  modelContract({
    name: `the endpoint at ${new URL(config.OPENAI_BASE_URL).host}`,
    timeoutMs: 180_000,
    async model(role) {
      const transcript = memoryTranscript();
      const sink = logSink();
      return {
        transcript,
        llm: (opts = {}) =>
          createLlm({
            settings: { ...modelSettings(config, 'refiner'), ...opts.settings },
            role,
            ticketId: 'tk-contract01',
            meter: opts.meter ?? new TokenMeter({ ticketId: 'tk-contract01', budget: 1_000_000 }),
            transcript,
            log: sink.log,
            ...(opts.signal && { signal: opts.signal }),
          }),
        [Symbol.asyncDispose]: async () => undefined,
      };
    },
  });
}
