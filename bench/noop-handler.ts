/**
 * The agents' handler in the orchestration bench, loaded by each bench agent process with
 * `nightshift agent <role> --handler bench/noop-handler.ts`: it advances the ticket at once, or after
 * BENCH_STAGE_MS milliseconds (a simulated stage), so that what the bench measures is orchestration.
 */
import type { HandlerFactory } from '../agents/runtime/main.ts';
import { delay } from '../shared/index.ts';

const stageMs = Number(process.env.BENCH_STAGE_MS ?? '0');

const noop: HandlerFactory = () => async (_work, ctx) => {
  if (stageMs > 0) await delay(stageMs, ctx.signal);
  return { kind: 'advance', output: {} };
};

export default noop;
