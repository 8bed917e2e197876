import { describe, expect, it } from 'vitest';
import {
  canTransition,
  isStage,
  isTerminal,
  NEXT_AFTER,
  ROLE_OF_STAGE,
  ROLES,
  STAGES,
  STATES,
  TERMINAL_STATES,
  TRANSITIONS,
  type State,
} from './states.ts';

/**
 * The allowed transitions, written out independently of TRANSITIONS. A change to the state machine
 * must be made here too, on purpose.
 */
const ALLOWED: readonly (readonly [State, State])[] = [
  ['received', 'triaging'],
  ['received', 'refining'],
  ['received', 'cancelled'],
  ['received', 'failed'],

  ['triaging', 'writing_tests'],
  ['triaging', 'refining'],
  ['triaging', 'duplicate'],
  ['triaging', 'awaiting_human'],
  ['triaging', 'cancelled'],
  ['triaging', 'failed'],

  ['refining', 'writing_tests'],
  ['refining', 'awaiting_human'],
  ['refining', 'cancelled'],
  ['refining', 'failed'],

  ['awaiting_human', 'triaging'],
  ['awaiting_human', 'refining'],
  ['awaiting_human', 'writing_tests'],
  ['awaiting_human', 'coding'],
  ['awaiting_human', 'reviewing'],
  ['awaiting_human', 'done'],
  ['awaiting_human', 'cancelled'],
  ['awaiting_human', 'failed'],

  ['writing_tests', 'coding'],
  ['writing_tests', 'awaiting_human'],
  ['writing_tests', 'cancelled'],
  ['writing_tests', 'failed'],

  ['coding', 'reviewing'],
  ['coding', 'awaiting_human'],
  ['coding', 'done'],
  ['coding', 'cancelled'],
  ['coding', 'failed'],

  ['reviewing', 'coding'],
  ['reviewing', 'pr_open'],
  ['reviewing', 'awaiting_human'],
  ['reviewing', 'done'],
  ['reviewing', 'cancelled'],
  ['reviewing', 'failed'],

  ['pr_open', 'coding'],
  ['pr_open', 'done'],
  ['pr_open', 'cancelled'],
  ['pr_open', 'failed'],
];

const allowed = new Set(ALLOWED.map(([from, to]) => `${from}->${to}`));

const ALL_PAIRS = STATES.flatMap((from) => STATES.map((to) => [from, to] as const));

/** States reachable from `start` by any number of legal transitions (including `start`). */
function reachableFrom(start: State): Set<State> {
  const seen = new Set<State>([start]);
  const queue: State[] = [start];
  for (let s = queue.shift(); s !== undefined; s = queue.shift()) {
    for (const next of TRANSITIONS[s]) {
      if (!seen.has(next)) {
        seen.add(next);
        queue.push(next);
      }
    }
  }
  return seen;
}

describe('the state list', () => {
  it('is the one of BRIEF §4', () => {
    expect([...STATES].sort()).toEqual(
      [
        'received',
        'triaging',
        'refining',
        'awaiting_human',
        'writing_tests',
        'coding',
        'reviewing',
        'pr_open',
        'done',
        'failed',
        'cancelled',
        'duplicate',
      ].sort(),
    );
    expect(new Set(STATES).size).toBe(STATES.length);
  });

  it('has a transition entry for every state and no other', () => {
    expect(Object.keys(TRANSITIONS).sort()).toEqual([...STATES].sort());
  });

  it('lists every target once and only known states', () => {
    for (const from of STATES) {
      const targets = TRANSITIONS[from];
      expect(new Set(targets).size, `duplicate target from ${from}`).toBe(targets.length);
      for (const to of targets) expect(STATES).toContain(to);
    }
  });

  it('names the expected table only with known states', () => {
    for (const [from, to] of ALLOWED) {
      expect(STATES).toContain(from);
      expect(STATES).toContain(to);
    }
    expect(allowed.size).toBe(ALLOWED.length);
  });
});

describe('canTransition', () => {
  it.each(ALL_PAIRS)('%s -> %s matches the expected table', (from, to) => {
    expect(canTransition(from, to)).toBe(allowed.has(`${from}->${to}`));
  });

  it('allows exactly as many transitions as the expected table lists', () => {
    expect(ALL_PAIRS.filter(([from, to]) => canTransition(from, to))).toHaveLength(ALLOWED.length);
  });

  it('never allows a state to move to itself', () => {
    for (const s of STATES) expect(canTransition(s, s), s).toBe(false);
  });

  it('never moves back to received', () => {
    for (const s of STATES) expect(canTransition(s, 'received'), s).toBe(false);
  });

  it('only lets triaging declare a duplicate', () => {
    expect(STATES.filter((s) => canTransition(s, 'duplicate'))).toEqual(['triaging']);
  });

  it('only reaches done from an open pull request, or from work on feedback from it', () => {
    expect(STATES.filter((s) => canTransition(s, 'done'))).toEqual(['awaiting_human', 'coding', 'reviewing', 'pr_open']);
  });

  it('resumes a parked ticket only into a stage or an end', () => {
    for (const to of TRANSITIONS.awaiting_human) {
      expect(isStage(to) || isTerminal(to), to).toBe(true);
    }
  });
});

describe('terminal states', () => {
  it('are done, failed, cancelled and duplicate', () => {
    expect([...TERMINAL_STATES].sort()).toEqual(['cancelled', 'done', 'duplicate', 'failed']);
  });

  it.each(TERMINAL_STATES)('%s has no outgoing transition', (s) => {
    expect(TRANSITIONS[s]).toEqual([]);
    for (const to of STATES) expect(canTransition(s, to)).toBe(false);
  });

  it('are exactly the states without outgoing transitions', () => {
    for (const s of STATES) expect(isTerminal(s), s).toBe(TRANSITIONS[s].length === 0);
  });
});

describe('non-terminal states', () => {
  const open = STATES.filter((s) => !isTerminal(s));

  it('are the eight working states', () => {
    expect(open).toHaveLength(8);
  });

  it.each(open)('%s can be cancelled and can fail', (s) => {
    expect(canTransition(s, 'cancelled')).toBe(true);
    expect(canTransition(s, 'failed')).toBe(true);
  });

  it.each(open)('%s can still reach done', (s) => {
    expect(reachableFrom(s).has('done')).toBe(true);
  });
});

describe('reachability', () => {
  it('reaches every state from received', () => {
    expect([...reachableFrom('received')].sort()).toEqual([...STATES].sort());
  });

  it('reaches done from received along the happy path', () => {
    const path: State[] = ['received'];
    let at: State = 'triaging';
    path.push(at);
    while (isStage(at)) {
      at = NEXT_AFTER[at];
      path.push(at);
    }
    path.push('done');
    expect(path).toEqual([
      'received',
      'triaging',
      'writing_tests',
      'coding',
      'reviewing',
      'pr_open',
      'done',
    ]);
    for (let i = 1; i < path.length; i++) {
      expect(canTransition(path[i - 1]!, path[i]!), `${path[i - 1]} -> ${path[i]}`).toBe(true);
    }
  });
});

describe('stages', () => {
  it('are the states in which an agent works', () => {
    expect([...STAGES]).toEqual(['triaging', 'refining', 'writing_tests', 'coding', 'reviewing']);
    for (const s of STATES) expect(isStage(s), s).toBe((STAGES as readonly State[]).includes(s));
  });

  it('are neither terminal nor the parking states', () => {
    for (const s of STAGES) expect(isTerminal(s), s).toBe(false);
    expect(isStage('received')).toBe(false);
    expect(isStage('awaiting_human')).toBe(false);
    expect(isStage('pr_open')).toBe(false);
  });

  it.each(STAGES)('%s has a role', (stage) => {
    expect(ROLES).toContain(ROLE_OF_STAGE[stage]);
  });

  it('gives each role exactly one stage', () => {
    expect(Object.keys(ROLE_OF_STAGE).sort()).toEqual([...STAGES].sort());
    expect(Object.values(ROLE_OF_STAGE).sort()).toEqual([...ROLES].sort());
  });

  it.each(STAGES)('%s moves on to NEXT_AFTER by a legal transition', (stage) => {
    expect(canTransition(stage, NEXT_AFTER[stage])).toBe(true);
  });

  it.each(STAGES)('%s can park in awaiting_human, which can resume it', (stage) => {
    expect(canTransition(stage, 'awaiting_human')).toBe(true);
    expect(canTransition('awaiting_human', stage)).toBe(true);
  });
});
