import { describe, expect, it } from 'vitest';
import { ConflictError } from '../../shared/index.ts';
import { logSink } from '../../test/helpers/env.ts';
import { waitFor } from '../../test/helpers/wait.ts';
import { createTicketSteps } from './ticket-steps.ts';

function steps(step: (id: string) => Promise<void>, now = () => 1_000) {
  const abort = new AbortController();
  const s = createTicketSteps({ step, sweepIntervalMs: 5, retryMs: 500, signal: abort.signal, log: logSink().log, what: 'test', now });
  return { s, abort };
}

describe('ticket steps', () => {
  it('runs the steps of one ticket one at a time, and folds requests made before a step starts into it', async () => {
    const log: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { s } = steps(async (id) => {
      log.push(`start ${id}`);
      if (id === 'a' && log.length === 1) await gate;
      log.push(`end ${id}`);
    });
    s.enqueue('a');
    s.enqueue('a');
    await waitFor('the first step of a to start', () => log.includes('start a') || undefined);
    // Asked for again while its step runs: one more step, after it; asked twice, still one.
    s.enqueue('a');
    s.enqueue('a');
    s.enqueue('b');
    await waitFor('b to run meanwhile', () => log.includes('end b') || undefined);
    release();
    await s.drain();
    await s.drain();
    expect(log.filter((l) => l.endsWith(' a'))).toEqual(['start a', 'end a', 'start a', 'end a']);
  });

  it('runs a step that lost a compare-and-set again at once, and wakes a failed one after retryMs', async () => {
    let calls = 0;
    const { s } = steps(async () => {
      calls += 1;
      if (calls <= 2) throw new ConflictError('raced');
      if (calls === 3) throw new Error('GitHub is down');
    });
    s.enqueue('t');
    await s.drain();
    expect(calls).toBe(3);
    expect(s.due()).toEqual(new Map([['t', 1_500]]));
  });

  it('keeps the earliest wake, and the sweep runs what is due', async () => {
    let clock = 1_000;
    const ran: string[] = [];
    const { s, abort } = steps(async (id) => void ran.push(id), () => clock);
    s.wake('x', 2_000);
    s.wake('x', 1_500);
    s.wake('x', 3_000);
    s.wake('y', 9_000);
    expect(s.due()).toEqual(new Map([['x', 1_500], ['y', 9_000]]));
    const sweeping = s.sweep();
    clock = 1_600;
    await waitFor('x to run', () => ran.includes('x') || undefined);
    abort.abort();
    await sweeping;
    expect(ran).toEqual(['x']);
    expect([...s.due().keys()]).toEqual(['y']);
  });
});
