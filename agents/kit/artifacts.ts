import { z } from 'zod';
import { PR_FEEDBACK, PrFeedback, type WorkItemData } from '../../bus/index.ts';
import { AgentError, type Stage } from '../../shared/index.ts';
import { InstructionPaths } from './instructions.ts';
import { SuiteRun } from './suite.ts';

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

/** The output an earlier stage left on the ticket, validated; a missing or malformed one is fatal. */
export function artifact<S extends z.ZodType>(work: WorkItemData, stage: Stage, schema: S): z.output<S> {
  const parsed = schema.safeParse(work.ticket.artifacts[stage]);
  if (!parsed.success) {
    throw new AgentError('missing_artifact', `the ${stage} stage left no usable output on ticket ${work.ticket.id}`, { retryable: false });
  }
  return parsed.data;
}

/**
 * The spec the later stages work from: the refiner's, or for an accepted bug the triager's (a bug
 * goes from triage straight to its reproduction test). A ticket with neither is fatal.
 */
export function specOf(work: WorkItemData): Spec {
  const spec = maybeArtifact(work, 'refining', RefiningOutput)?.spec ?? maybeArtifact(work, 'triaging', TriagingOutput)?.spec;
  if (!spec) {
    throw new AgentError('missing_artifact', `neither the refining nor the triaging stage left a spec on ticket ${work.ticket.id}`, { retryable: false });
  }
  return spec;
}

/** Like `artifact`, but undefined when the stage has not run (or left nothing usable). */
export function maybeArtifact<S extends z.ZodType>(work: WorkItemData, stage: Stage, schema: S): z.output<S> | undefined {
  const parsed = schema.safeParse(work.ticket.artifacts[stage]);
  return parsed.success ? parsed.data : undefined;
}

/**
 * The instruction files the stages of a ticket followed, from the artifacts they left, each once, in
 * the order of `collectInstructions` (root first, then by depth and name).
 */
export function instructionsFollowed(work: WorkItemData): string[] {
  const stages = [
    maybeArtifact(work, 'triaging', TriagingOutput),
    maybeArtifact(work, 'refining', RefiningOutput),
    maybeArtifact(work, 'writing_tests', WritingTestsOutput),
    maybeArtifact(work, 'coding', CodingOutput),
  ];
  return orderedPaths(stages.flatMap((a) => a?.instructions ?? []));
}

/** Paths once each, root first, then by depth and name. */
export function orderedPaths(paths: readonly string[]): string[] {
  const depth = (p: string) => p.split('/').length;
  return [...new Set(paths)].sort((a, b) => depth(a) - depth(b) || (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * What people asked for on the pull request that no updated pull request has answered yet, one line
 * per comment (`- who (path:line): text`); null when there is nothing pending.
 */
export function pendingFeedback(work: WorkItemData): string | null {
  const parsed = PrFeedback.safeParse(work.ticket.artifacts[PR_FEEDBACK]);
  if (!parsed.success || parsed.data.pending.length === 0) return null;
  return parsed.data.pending
    .map((c) => `- ${c.by}${c.path ? ` on ${c.path}${c.line ? ` line ${c.line}` : ''}` : ''}: ${c.text.trim()}`)
    .join('\n');
}
