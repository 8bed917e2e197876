import { describe, expect, it } from 'vitest';
import type { Role } from '../shared/index.ts';
import { createNames, createSubjects, Headers } from './subjects.ts';

const BAD_TOKENS = ['', 'a.b', 'a b', 'a*', '*', '>', 'a>', 'tk-01234.6789', 'x\ty', 'é'];

describe('createSubjects', () => {
  it('spells the grammar under the default prefix', () => {
    const s = createSubjects();
    expect(s.prefix).toBe('nightshift');
    expect(s.ticketIntake).toBe('nightshift.tickets.intake');
    expect(s.bugIntake).toBe('nightshift.bugs.intake');
    expect(s.work('coder', 'tk-0123456789')).toBe('nightshift.work.coder.tk-0123456789');
    expect(s.work('test-author', 'tk-abcdefghij')).toBe('nightshift.work.test-author.tk-abcdefghij');
    expect(s.workOf('reviewer')).toBe('nightshift.work.reviewer.*');
    expect(s.workAll).toBe('nightshift.work.>');
    expect(s.event('tk-0123456789', 'coder', 'stage.completed')).toBe('nightshift.events.tk-0123456789.coder.stage.completed');
    expect(s.eventsFrom('slack')).toBe('nightshift.events.*.slack.>');
    expect(s.eventsAll).toBe('nightshift.events.>');
    expect(s.rejected('events')).toBe('nightshift.rejected.events');
    expect(s.rejected('tickets')).toBe('nightshift.rejected.tickets');
    expect(s.rejected('bugs')).toBe('nightshift.rejected.bugs');
    expect(s.rejectedAll).toBe('nightshift.rejected.>');
    expect(s.maxDeliveriesAdvisories).toBe('$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.NIGHTSHIFT_WORK.*');
  });

  it('keeps the intake subjects of BRIEF §3', () => {
    expect(createSubjects('nightshift').ticketIntake).toBe('nightshift.tickets.intake');
    expect(createSubjects('nightshift').bugIntake).toBe('nightshift.bugs.intake');
  });

  it('puts everything under a custom prefix', () => {
    const s = createSubjects('ns-staging_2');
    expect(s.prefix).toBe('ns-staging_2');
    expect(s.ticketIntake).toBe('ns-staging_2.tickets.intake');
    expect(s.bugIntake).toBe('ns-staging_2.bugs.intake');
    expect(s.work('triager', 'tk-0123456789')).toBe('ns-staging_2.work.triager.tk-0123456789');
    expect(s.workOf('refiner')).toBe('ns-staging_2.work.refiner.*');
    expect(s.workAll).toBe('ns-staging_2.work.>');
    expect(s.event('tk-0123456789', 'cli', 'human.answered')).toBe('ns-staging_2.events.tk-0123456789.cli.human.answered');
    expect(s.eventsAll).toBe('ns-staging_2.events.>');
    expect(s.rejected('bugs')).toBe('ns-staging_2.rejected.bugs');
    expect(s.rejectedAll).toBe('ns-staging_2.rejected.>');
    expect(s.maxDeliveriesAdvisories).toBe('$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.NS-STAGING_2_WORK.*');
  });

  it('keeps two prefixes apart', () => {
    const a = createSubjects('alpha');
    const b = createSubjects('beta');
    for (const key of ['ticketIntake', 'bugIntake', 'workAll', 'eventsAll', 'rejectedAll'] as const) {
      expect(a[key].startsWith('alpha.'), key).toBe(true);
      expect(b[key].startsWith('beta.'), key).toBe(true);
    }
  });

  it('makes work subjects that the role filter matches and no other role filter does', () => {
    const s = createSubjects();
    const subject = s.work('coder', 'tk-0123456789').split('.');
    const matches = (filter: string) => {
      const f = filter.split('.');
      return f.length === subject.length && f.every((t, i) => t === '*' || t === subject[i]);
    };
    expect(matches(s.workOf('coder'))).toBe(true);
    expect(matches(s.workOf('reviewer'))).toBe(false);
  });

  it.each(BAD_TOKENS)('refuses the prefix %j', (prefix) => {
    expect(() => createSubjects(prefix)).toThrow(/prefix .* is not a single subject token/);
  });

  it.each(BAD_TOKENS)('refuses the ticket id %j in work and event subjects', (id) => {
    const s = createSubjects();
    expect(() => s.work('coder', id)).toThrow(/ticket id .* is not a single subject token/);
    expect(() => s.event(id, 'refiner', 'stage.completed')).toThrow(/ticket id .* is not a single subject token/);
  });

  it.each(['', 'a..b', 'a.*', '>', 'a b'])('refuses the event type %j', (type) => {
    expect(() => createSubjects().event('tk-0123456789', 'cli', type)).toThrow(/event type/);
  });

  it('parses an event subject back into ticket, origin and type, and nothing else', () => {
    const s = createSubjects('p');
    expect(s.parseEvent(s.event('tk-0123456789', 'test-author', 'stage.completed'))).toEqual({
      ticketId: 'tk-0123456789',
      origin: 'test-author',
      type: 'stage.completed',
    });
    expect(s.parseEvent('p.events.tk-0123456789.stage')).toBeNull();
    expect(s.parseEvent('q.events.tk-0123456789.cli.human.answered')).toBeNull();
    expect(s.parseEvent('p.work.coder.tk-0123456789')).toBeNull();
  });

  it('refuses a role that is not a single token', () => {
    const s = createSubjects();
    expect(() => s.work('co.der' as Role, 'tk-0123456789')).toThrow(/role "co.der"/);
    expect(() => s.workOf('*' as Role)).toThrow(/role "\*"/);
  });
});

describe('createNames', () => {
  it('derives the names from the default prefix', () => {
    const n = createNames();
    expect(n.workStream).toBe('NIGHTSHIFT_WORK');
    expect(n.eventsStream).toBe('NIGHTSHIFT_EVENTS');
    expect(n.rejectedStream).toBe('NIGHTSHIFT_REJECTED');
    expect(n.advisoriesStream).toBe('NIGHTSHIFT_ADVISORIES');
    expect(n.ticketsBucket).toBe('nightshift-tickets');
    expect(n.roleConsumer('coder')).toBe('coder');
    expect(n.coordinatorConsumer).toBe('coordinator');
    expect(n.intakeQueue).toBe('coordinator');
  });

  it('derives the names from a custom prefix, streams upper-case', () => {
    const n = createNames('team-b');
    expect(n.workStream).toBe('TEAM-B_WORK');
    expect(n.eventsStream).toBe('TEAM-B_EVENTS');
    expect(n.rejectedStream).toBe('TEAM-B_REJECTED');
    expect(n.advisoriesStream).toBe('TEAM-B_ADVISORIES');
    expect(n.ticketsBucket).toBe('team-b-tickets');
  });

  it('names the work stream that the advisory subject watches', () => {
    for (const prefix of ['nightshift', 'Team_A']) {
      expect(createSubjects(prefix).maxDeliveriesAdvisories).toBe(
        `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${createNames(prefix).workStream}.*`,
      );
    }
  });

  it('gives names that are valid JetStream stream and bucket names', () => {
    const n = createNames('ns_1-x');
    for (const name of [n.workStream, n.eventsStream, n.rejectedStream, n.advisoriesStream, n.ticketsBucket]) {
      expect(name).toMatch(/^[A-Za-z0-9_-]+$/);
    }
  });

  it.each(BAD_TOKENS)('refuses the prefix %j', (prefix) => {
    expect(() => createNames(prefix)).toThrow(/prefix .* is not a single subject token/);
  });
});

describe('Headers', () => {
  it('uses the JetStream de-duplication header', () => {
    expect(Headers.MsgId).toBe('Nats-Msg-Id');
  });

  it('prefixes nightshift headers and keeps them distinct; the others are the standards\' own names', () => {
    const values = Object.values(Headers);
    expect(new Set(values).size).toBe(values.length);
    const standard: Record<string, string> = { MsgId: 'Nats-Msg-Id', TraceParent: 'traceparent', TraceState: 'tracestate' };
    for (const [key, value] of Object.entries(Headers)) {
      if (key in standard) expect(value, key).toBe(standard[key]);
      else expect(value, key).toMatch(/^Nightshift-[A-Za-z0-9-]+$/);
    }
  });
});
