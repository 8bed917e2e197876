import { resolve } from 'node:path';
import { z } from 'zod';
import type { StageOutcome, WorkItemData } from '../../bus/index.ts';
import { createEmbedder, createRepoTools, HumanMessage, runToolLoop, SystemMessage } from '../../shared/llm/index.ts';
import { isTerminal, type RepoRef, type Ticket } from '../../shared/index.ts';
import { maybeArtifact } from '../kit/artifacts.ts';
import { stageLlm, type AgentDeps } from '../kit/deps.ts';
import { escalateToHuman } from '../kit/escalate.ts';
import { instructionPaths, workspaceInstructions } from '../kit/instructions.ts';
import { openTicketWorkspace } from '../kit/workspace.ts';
import type { AgentHandler } from '../runtime/runtime.ts';
import { describeSimilar, TRIAGER_SYSTEM, triagerRequest } from './prompt.ts';
import { rankSimilar, type Candidate } from './similarity.ts';
import { Classification, Severity, Spec, type Triage, TriagingOutput } from '../../bus/index.ts';

/** The tickets the triager compares a report with: every ticket, read from the tickets bucket. */
export interface TicketDirectory {
  list(): Promise<Ticket[]>;
}

export interface TriagerDeps extends AgentDeps {
  tickets: TicketDirectory;
}

/** The triager model's answer, before it is checked against the list of similar tickets it was shown. */
export const TriageAnswer = z.object({
  classification: Classification,
  severity: Severity,
  component: z.string().trim().min(1).max(100),
  reason: z.string().trim().min(1).max(2_000),
  duplicateOf: z.string().nullable(),
  questions: z.array(z.string().trim().min(1).max(2_000)).max(5),
  spec: Spec.nullable(),
});
export type TriageAnswer = z.infer<typeof TriageAnswer>;

/** The answer schema for one report: a duplicate must be one of the tickets shown, and each classification brings what it needs. */
export function triageAnswerFor(shown: readonly string[]) {
  return TriageAnswer.superRefine((a, ctx) => {
    if (a.duplicateOf !== null && !shown.includes(a.duplicateOf)) {
      ctx.addIssue({
        code: 'custom',
        path: ['duplicateOf'],
        message: shown.length ? `not one of the similar tickets listed (${shown.join(', ')}); use one of them or null` : 'no similar ticket was listed; use null',
      });
    }
    if (a.duplicateOf === null && a.classification === 'bug' && a.spec === null) {
      ctx.addIssue({ code: 'custom', path: ['spec'], message: 'a bug that is not a duplicate needs the spec of its reproduction test and fix' });
    }
    if (a.duplicateOf === null && a.classification === 'needs_info' && a.questions.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['questions'], message: 'needs_info needs at least one question for the reporter' });
    }
  });
}

/**
 * The triager: classifies a bug report (bug, not a bug, needs information) with severity and
 * component; finds the open tickets of the same repository most similar to it (embeddings when a
 * model is configured, lexical TF-IDF otherwise) and lets the model link the report to one of them
 * as a duplicate; asks the reporter what is missing; and turns an accepted bug into the spec of a
 * reproduction test, the ticket's next stage.
 *
 * Only tickets older than the report are compared with it, so two reports of one bug triaged in
 * any order end as one original and one duplicate, never as duplicates of each other.
 */
export function createTriager(deps: TriagerDeps): AgentHandler {
  return escalateToHuman(async (work, ctx) => {
    const all = await deps.tickets.list();
    const self = all.find((t) => t.id === work.ticket.id);
    const candidates = all.filter((t) => t.id !== work.ticket.id && !isTerminal(t.state) && sameRepo(t.repo, work.ticket.repo) && (!self || olderThan(t, self)));
    const llm = stageLlm(deps, 'triager', work, ctx);
    // Embedding tokens count on the ticket like chat tokens: the same meter, the same budget.
    const embedder = createEmbedder(deps.config, { log: ctx.log, role: 'triager', ticketId: work.ticket.id, meter: llm.meter });
    const { method, similar } = await rankSimilar(
      { title: work.ticket.title, text: ticketText(work.ticket) },
      candidates.map(toCandidate),
      { embedder, minScore: deps.config.NIGHTSHIFT_TRIAGE_MIN_SIMILARITY, limit: deps.config.NIGHTSHIFT_TRIAGE_CANDIDATES, signal: ctx.signal },
    );
    ctx.log.info({ method, compared: candidates.length, similar: similar.map((s) => `${s.id}:${s.score}`) }, 'similar tickets ranked');

    await using ws = await openTicketWorkspace(deps, work);
    const byId = new Map(all.map((t) => [t.id, t]));
    const before = maybeArtifact(work, 'triaging', TriagingOutput);
    const earlier = before?.questions ?? [];
    const instructions = await workspaceInstructions(ws, before?.spec?.affectedFiles ?? [], ctx.log);
    const request = triagerRequest(work, similar.map((s) => describeSimilar(s, byId.get(s.id))), earlier, instructions);
    const { value: a } = await runToolLoop(llm, [new SystemMessage(TRIAGER_SYSTEM), new HumanMessage(request)], {
      tools: await createRepoTools({ root: ws.dir, log: ctx.log }),
      output: triageAnswerFor(similar.map((s) => s.id)),
    });

    const triage: Triage = {
      classification: a.classification,
      severity: a.severity,
      component: a.component,
      reason: a.reason,
      ...(a.duplicateOf !== null && { duplicateOf: a.duplicateOf }),
      similar,
      method,
    };
    ctx.log.info({ classification: triage.classification, severity: triage.severity, component: triage.component, duplicateOf: triage.duplicateOf }, 'report triaged');
    return outcomeOf(work, triage, a, instructionPaths(instructions));
  });
}

function outcomeOf(work: WorkItemData, triage: Triage, a: TriageAnswer, instructions: string[] | undefined): StageOutcome {
  const followed = instructions && { instructions };
  if (a.duplicateOf !== null) {
    return { kind: 'duplicate', of: a.duplicateOf, reason: `duplicate of ${a.duplicateOf}: ${a.reason}`.slice(0, 4_000), output: { triage, ...followed } };
  }
  switch (a.classification) {
    case 'not_bug':
      return { kind: 'close', reason: `not a bug: ${a.reason}`.slice(0, 4_000), output: { triage, ...followed } };
    case 'needs_info': {
      const to = work.ticket.requester;
      return {
        kind: 'escalate',
        questions: a.questions.map((text, i) => ({ id: `triage-${i + 1}`, text, blocking: true, ...(to !== undefined && { to }) })),
        output: { triage, questions: a.questions, ...followed },
      };
    }
    case 'bug':
      return { kind: 'advance', output: { triage, spec: a.spec, ...followed } };
  }
}

/** Whether `a` came in before `b` (ids break ties), so that only one of two reports can be the other's duplicate. */
function olderThan(a: Ticket, b: Ticket): boolean {
  return a.createdAt < b.createdAt || (a.createdAt === b.createdAt && a.id < b.id);
}

/** Whether two tickets are about the same repository: the same path, or the same clone URL up to form. */
export function sameRepo(a: RepoRef, b: RepoRef): boolean {
  if (a.path !== undefined && b.path !== undefined) return resolve(a.path) === resolve(b.path);
  if (a.url !== undefined && b.url !== undefined) return normalizeUrl(a.url) === normalizeUrl(b.url);
  return false;
}

/** `git@github.com:Acme/App.git`, `https://github.com/acme/app/` and `ssh://git@github.com/acme/app` are one repository. */
export function normalizeUrl(url: string): string {
  let u = url.trim().toLowerCase();
  const scp = /^[^/@\s]+@([^/:\s]+):(.+)$/.exec(u);
  if (scp) u = `${scp[1]}/${scp[2]}`;
  else u = u.replace(/^[a-z][a-z0-9+.-]*:\/\//, '').replace(/^[^/@]+@/, '');
  return u.replace(/\/+$/, '').replace(/\.git$/, '');
}

function ticketText(t: { body: string; report?: Ticket['report'] | undefined }): string {
  const r = t.report ?? {};
  return [t.body, r.steps, r.expected, r.actual, r.logs?.slice(0, 8_000), r.environment].filter(Boolean).join('\n\n');
}

function toCandidate(t: Ticket): Candidate {
  return { id: t.id, title: t.title, text: ticketText(t) };
}
