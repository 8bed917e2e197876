import { scaled } from './time.ts';

export { scaled, TIME_SCALE } from './time.ts';

/**
 * Polls `probe` until it returns a value other than undefined/false, or fails after `timeoutMs` (scaled
 * for this run, see ./time.ts) with `what` in the message. Tests wait on conditions with deadlines,
 * never on sleeps.
 */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  { timeoutMs = 20_000, intervalMs = 50 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const bound = scaled(timeoutMs);
  const deadline = Date.now() + bound;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const detail = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${bound}ms waiting for ${what}${detail}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
