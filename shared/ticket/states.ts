/**
 * The ticket state machine, written down once. Everything that moves a ticket checks `canTransition`;
 * the table is tested exhaustively in states.test.ts.
 */
export const STATES = [
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
] as const;
export type State = (typeof STATES)[number];

/** States in which an agent works on the ticket. */
export const STAGES = ['triaging', 'refining', 'writing_tests', 'coding', 'reviewing'] as const;
export type Stage = (typeof STAGES)[number];

export const ROLES = ['triager', 'refiner', 'test-author', 'coder', 'reviewer'] as const;
export type Role = (typeof ROLES)[number];

/** The agent role that does the work of each stage. */
export const ROLE_OF_STAGE: Readonly<Record<Stage, Role>> = {
  triaging: 'triager',
  refining: 'refiner',
  writing_tests: 'test-author',
  coding: 'coder',
  reviewing: 'reviewer',
};

export const TERMINAL_STATES = ['done', 'failed', 'cancelled', 'duplicate'] as const satisfies readonly State[];
export type TerminalState = (typeof TERMINAL_STATES)[number];

const ENDS = ['cancelled', 'failed'] as const;

/** Every legal transition. A state maps to the states it may move to; terminal states to none. */
export const TRANSITIONS: Readonly<Record<State, readonly State[]>> = {
  received: ['triaging', 'refining', ...ENDS],
  triaging: ['writing_tests', 'refining', 'duplicate', 'awaiting_human', ...ENDS],
  refining: ['writing_tests', 'awaiting_human', ...ENDS],
  // `done` from awaiting_human, coding and reviewing: the pull request was merged while nightshift
  // worked on feedback from it (the reducer allows it only then).
  awaiting_human: [...STAGES, 'done', ...ENDS],
  writing_tests: ['coding', 'awaiting_human', ...ENDS],
  coding: ['reviewing', 'awaiting_human', 'done', ...ENDS],
  reviewing: ['coding', 'pr_open', 'awaiting_human', 'done', ...ENDS],
  pr_open: ['coding', 'done', ...ENDS],
  done: [],
  failed: [],
  cancelled: [],
  duplicate: [],
};

/**
 * The stage that follows a completed stage on the happy path. An accepted bug goes from triage
 * straight to its reproduction test: the triager writes the spec the refiner would.
 */
export const NEXT_AFTER: Readonly<Record<Stage, State>> = {
  triaging: 'writing_tests',
  refining: 'writing_tests',
  writing_tests: 'coding',
  coding: 'reviewing',
  reviewing: 'pr_open',
};

export function canTransition(from: State, to: State): boolean {
  return TRANSITIONS[from].includes(to);
}

export function isTerminal(state: State): state is TerminalState {
  return (TERMINAL_STATES as readonly State[]).includes(state);
}

export function isStage(state: State): state is Stage {
  return (STAGES as readonly State[]).includes(state);
}
