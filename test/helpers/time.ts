/**
 * How much longer than written the suite's deadlines are, so that a loaded machine (a 2-core CI runner
 * with other work on it, `npm run test:loaded`) slows the tests down without failing them. Deadlines
 * only bound waits on conditions: a longer one costs time only when something is wrong.
 *
 * `NIGHTSHIFT_TEST_TIME_SCALE` (a number from 1 to 20) when set; otherwise 2 under CI (`CI=true`) and 1
 * elsewhere, times the machine's load per core when that is above 1 (at most 4). vitest.config.ts
 * works it out once and sets the variable, so every test process uses the same factor.
 * No vitest import here: vitest.config.ts uses it too.
 */
import { cpus, loadavg } from 'node:os';

export const TIME_SCALE_ENV = 'NIGHTSHIFT_TEST_TIME_SCALE';

/** The factor `env` asks for, or the one this machine's state calls for. */
export function timeScale(env: NodeJS.ProcessEnv = process.env): number {
  const given = Number(env[TIME_SCALE_ENV]);
  if (env[TIME_SCALE_ENV] && Number.isFinite(given) && given >= 1 && given <= 20) return given;
  const load = Math.min(4, Math.max(1, loadavg()[0]! / Math.max(1, cpus().length)));
  return Math.round((env.CI === 'true' ? 2 : 1) * load * 10) / 10;
}

/** The scale of this run. */
export const TIME_SCALE = timeScale();

/** `ms` scaled for this run: for a deadline, never for a pause. */
export function scaled(ms: number): number {
  return Math.round(ms * TIME_SCALE);
}
