import { z } from 'zod';
import { CodingOutput, PR_FEEDBACK, PrFeedback, RefiningOutput, TriagingOutput, WritingTestsOutput, type Spec, type WorkItemData } from '../../bus/index.ts';
import { AgentError, type Stage } from '../../shared/index.ts';

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
