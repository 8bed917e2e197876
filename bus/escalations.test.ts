import { describe, expect, it } from 'vitest';
import { Escalation } from './escalations.ts';

/** Escalation records written by earlier versions of the Slack gateway still parse. */

describe('Escalation', () => {
  it('reads a record written before failures and lastError were kept as having no failure yet', () => {
    const old = {
      ticketId: 'tk-0123456789',
      askedAt: '2030-01-02T03:04:05.678Z',
      title: 'Fix the login page',
      questions: [{ id: 'q1', text: 'Which browser?', blocking: true }],
      deadline: '2030-01-03T03:04:05.678Z',
      state: 'claimed',
      owner: 'gw-1',
      claimedUntil: '2030-01-02T03:09:05.678Z',
      claims: 2,
      message: null,
      postedAt: null,
      reminders: 0,
      outcome: null,
      updatedAt: '2030-01-02T03:04:05.678Z',
    };
    expect(Escalation.parse(old)).toEqual({ ...old, failures: 0, lastError: null });
    expect(Escalation.parse({ ...old, failures: 3, lastError: 'ratelimited' })).toMatchObject({ failures: 3, lastError: 'ratelimited' });
  });
});
