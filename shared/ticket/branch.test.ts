import { describe, expect, it } from 'vitest';
import { ticketBranch, ticketOfBranch } from './branch.ts';

describe('the ticket branch grammar', () => {
  it('names a ticket branch and reads the ticket back from it', () => {
    expect(ticketBranch('tk-0123456789')).toBe('nightshift/tk-0123456789');
    expect(ticketOfBranch(ticketBranch('tk-0123456789'))).toBe('tk-0123456789');
  });

  it.each(['main', 'nightshift/', 'nightshift/tk-012345678', 'nightshift/tk-0123456789/x', 'refs/heads/nightshift/tk-0123456789', 'nightshift/tk-0123456789:main', 'nightshift/TK-0123456789', 'x/nightshift/tk-0123456789'])(
    'reads no ticket from %j',
    (branch) => {
      expect(ticketOfBranch(branch)).toBeNull();
    },
  );
});
