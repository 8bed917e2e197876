import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { delay, untilSettledOrAborted } from './async.ts';

describe('untilSettledOrAborted', () => {
  it('leaves no listener on a long-lived signal, however many waits it served', async () => {
    const longLived = new AbortController();
    for (let i = 0; i < 50; i++) await untilSettledOrAborted(Promise.resolve(i), longLived.signal);
    // A failed piece of work is the caller's to handle; the wait ends and cleans up all the same.
    const failed = Promise.reject(new Error('the work failed'));
    await expect(untilSettledOrAborted(failed, longLived.signal)).rejects.toThrow('the work failed');
    expect(getEventListeners(longLived.signal, 'abort')).toHaveLength(0);
  });

  it('resolves when the signal aborts before the work settles, and at once when it already has', async () => {
    const abort = new AbortController();
    let settled = false;
    const never = new Promise<void>(() => undefined);
    const waiting = untilSettledOrAborted(never, abort.signal).then(() => void (settled = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toBe(false);
    abort.abort();
    await waiting;
    expect(getEventListeners(abort.signal, 'abort')).toHaveLength(0);
    await untilSettledOrAborted(never, abort.signal);
  });

  it('delay leaves no listener behind either', async () => {
    const longLived = new AbortController();
    for (let i = 0; i < 20; i++) await delay(0, longLived.signal);
    expect(getEventListeners(longLived.signal, 'abort')).toHaveLength(0);
  });
});
