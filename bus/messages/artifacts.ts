import { z } from 'zod';
import { RunError, Runner, TestCase, Totals, type Ticket } from '../../shared/index.ts';

/*
 * What each stage leaves on its ticket (`ticket.artifacts[stage]`): the messages the agents hand along
 * the chain through the ticket record, read by the next agents, the coordinator's readers (the CLI, the
 * console, the gateways) and the pull request's summary. Validated wherever they are read.
 */

/** The paths of the instruction files a stage followed, as its artifact records them (root first). */
export const InstructionPaths = z.array(z.string().min(1).max(500)).max(50);
export type InstructionPaths = z.infer<typeof InstructionPaths>;

/** At most this many tests are named in a run's evidence; the others are counted and indexed. */
export const MAX_NAMED = 300;
export const MAX_ERRORS = 20;

/**
 * A run's per-test evidence as the ticket keeps it: the totals, the tests worth naming (every failed
 * and skipped test, and the ones a stage asked to keep: the new tests, the covered ones), what failed
 * outside tests and, on the red run, an index of every test (`indexOf`) later runs are checked against.
 */
export const TestEvidence = z.object({
  runners: z.array(Runner),
  totals: Totals,
  tests: z.array(TestCase).max(MAX_NAMED),
  errors: z.array(RunError).max(MAX_ERRORS),
  index: z.string().optional(),
});
export type TestEvidence = z.infer<typeof TestEvidence>;

/** One run of the test suite, as evidence for the pull request. */
export const SuiteRun = z.object({
  /** Exit 0 within the limits. */
  passed: z.boolean(),
  exitCode: z.number().int().nullable(),
  /** Why it did not pass (timeout, OOM, runaway output, exit code), or null. */
  failure: z.string().nullable(),
  durationMs: z.number().int().min(0),
  /** The end of stdout and stderr, without terminal escape codes (see `runOutput`). */
  output: z.string(),
  command: z.string(),
  image: z.string(),
  at: z.iso.datetime(),
  /**
   * Per-test results from the runners' own reports (`sandbox/results`); null when no runner
   * reported, which proves nothing. Absent on runs recorded before per-test evidence existed.
   */
  tests: TestEvidence.nullable().optional(),
});
export type SuiteRun = z.infer<typeof SuiteRun>;

/** One acceptance criterion of a spec: `AC1`, `AC2`… */
export const Criterion = z.object({
  id: z.string().regex(/^AC\d{1,2}$/, 'AC and a number, e.g. AC1'),
  text: z.string().min(1).max(1_000),
});

/** What the refiner makes of a ticket. */
export const Spec = z.object({
  summary: z.string().min(1).max(2_000),
  acceptanceCriteria: z.array(Criterion).min(1).max(20),
  plan: z.array(z.string().min(1).max(1_000)).max(30),
  affectedFiles: z.array(z.string().min(1).max(500)).max(50),
  openQuestions: z
    .array(
      z.object({
        id: z.string().min(1).max(64),
        text: z.string().min(1).max(2_000),
        options: z.array(z.string().min(1).max(200)).max(10).optional(),
        /** A blocking question parks the ticket until a human answers it. */
        blocking: z.boolean(),
      }),
    )
    .max(10),
});
export type Spec = z.infer<typeof Spec>;

export const RefiningOutput = z.object({
  spec: Spec,
  /** The repository's instruction files shown to the model (`AGENTS.md`…), root first; absent when none. */
  instructions: InstructionPaths.optional(),
});
export type RefiningOutput = z.infer<typeof RefiningOutput>;

/** How the triager classifies a bug report. */
export const Classification = z.enum(['bug', 'not_bug', 'needs_info']);
export type Classification = z.infer<typeof Classification>;
export const Severity = z.enum(['critical', 'high', 'medium', 'low']);
export type Severity = z.infer<typeof Severity>;

/** What the triager decided about a report, and the open tickets it compared it with. */
export const Triage = z.object({
  classification: Classification,
  severity: Severity,
  component: z.string().min(1).max(100),
  reason: z.string().min(1).max(2_000),
  duplicateOf: z.string().optional(),
  /** The most similar open tickets of the repository, best first, as the similarity method scored them. */
  similar: z.array(z.object({ id: z.string(), title: z.string(), score: z.number() })),
  method: z.enum(['lexical', 'embeddings']),
});
export type Triage = z.infer<typeof Triage>;

/** The triaging artifact; an accepted bug carries the spec of its reproduction test and fix. */
export const TriagingOutput = z.object({
  triage: Triage,
  spec: Spec.optional(),
  /** What the reporter was asked, when the report lacked information. */
  questions: z.array(z.string()).optional(),
  /** The repository's instruction files shown to the model (`AGENTS.md`…), root first; absent when none. */
  instructions: InstructionPaths.optional(),
});
export type TriagingOutput = z.infer<typeof TriagingOutput>;

/** Which tests cover which acceptance criterion. */
export const Coverage = z.array(z.object({ criterion: z.string(), tests: z.array(z.string().min(1).max(300)).min(1) }));

export const WritingTestsOutput = z.object({
  commit: z.string(),
  files: z.array(z.string()),
  /** Existing test files the test author changed, each with why (the ticket changes what it pins). */
  changedExisting: z.array(z.object({ path: z.string(), reason: z.string() })),
  coverage: Coverage,
  /** The suite on the unchanged code: green. */
  baseline: SuiteRun,
  /** The suite with the new tests on the unchanged code: red, with every test indexed (`TestEvidence.index`). */
  red: SuiteRun,
  /** The new tests by name, and those of them that already passed on the unchanged code. */
  proof: z.object({ newTests: z.array(z.string()).max(300), alreadyPassing: z.array(z.string()).max(300) }).optional(),
  attempts: z.number().int().positive(),
  /** The repository's instruction files shown to the model (`AGENTS.md`…), root first; absent when none. */
  instructions: InstructionPaths.optional(),
});
export type WritingTestsOutput = z.infer<typeof WritingTestsOutput>;

export const CodingOutput = z.object({
  commit: z.string(),
  files: z.array(z.string()),
  /** The suite with the change: green. */
  green: SuiteRun,
  attempts: z.number().int().positive(),
  notes: z.string(),
  /** The repository's instruction files shown to the model (`AGENTS.md`…), root first; absent when none. */
  instructions: InstructionPaths.optional(),
});
export type CodingOutput = z.infer<typeof CodingOutput>;

export const ReviewComment = z.object({ path: z.string().max(500).optional(), text: z.string().min(1).max(4_000) });

export const ReviewingOutput = z.object({
  verdict: z.enum(['approve', 'changes_requested']),
  comments: z.array(ReviewComment),
  /** The suite re-run in a fresh sandbox on a fresh clone. */
  fresh: SuiteRun,
  pullRequest: z.object({ number: z.number().int(), url: z.string(), forge: z.string() }).optional(),
  summary: z.string(),
  /** Review rounds so far, this one included; counting starts again after a human answers. */
  round: z.number().int().positive(),
  /** How many human answers the ticket had at this review. */
  answersSeen: z.number().int().min(0).default(0),
  /** The repository's instruction files shown to the model (`AGENTS.md`…), root first; absent when none. */
  instructions: InstructionPaths.optional(),
});
export type ReviewingOutput = z.infer<typeof ReviewingOutput>;

/** How triage ended for a ticket: its classification, `duplicate`, or `pending` while a bug is not yet triaged. */
export type TriageOutcome = Classification | 'duplicate' | 'pending';

/** The triage result a ticket carries, if any. */
export function triageOf(t: Ticket): Triage | undefined {
  const parsed = TriagingOutput.safeParse(t.artifacts.triaging);
  return parsed.success ? parsed.data.triage : undefined;
}

/** A ticket's triage outcome; undefined for a ticket that was never a bug report. */
export function triageOutcome(t: Ticket): TriageOutcome | undefined {
  if (t.state === 'duplicate') return 'duplicate';
  const triage = triageOf(t);
  if (triage) return triage.classification;
  return t.type === 'bug' ? 'pending' : undefined;
}

/** Counts of triage outcomes over tickets, every outcome named (zero included). */
export function triageCounts(tickets: readonly Ticket[]): Record<TriageOutcome, number> {
  const counts: Record<TriageOutcome, number> = { bug: 0, not_bug: 0, needs_info: 0, duplicate: 0, pending: 0 };
  for (const t of tickets) {
    const o = triageOutcome(t);
    if (o) counts[o] += 1;
  }
  return counts;
}

/** Ids of the tickets marked duplicates of `id`, oldest first. */
export function duplicatesOf(tickets: readonly Ticket[], id: string): string[] {
  return tickets.filter((t) => t.duplicateOf === id).map((t) => t.id);
}
