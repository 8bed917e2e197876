import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { cancelTicket, connectBus, createTicketWhenServed, getTicket, listPullRequests, waitTicket, type BusAuth } from '../../bus/index.ts';
import type { Sandbox } from '../../sandbox/index.ts';
import { CommandError, parseDuration, ticketIdForExternalId, type Logger, type RoleUsage, type Ticket } from '../../shared/index.ts';
import type { LoadedCase } from './cases.ts';
import { CHECKS, judge, materialize, type Check, type Verdict } from './judge.ts';

/** Prices per million tokens, for the cost column. */
export interface Prices {
  inputPerMillion: number;
  outputPerMillion: number;
}

/** What became of one case. */
export interface CaseResult {
  name: string;
  language: string | null;
  /** The scripted model it ran with, or null for the configured endpoint. */
  script: string | null;
  ticketId: string;
  /** Where the ticket came to rest (or `timed_out`). */
  state: string;
  /** A pull request was opened and every check held. */
  resolved: boolean;
  checks: Verdict | null;
  pullRequest: { number: number; url: string } | null;
  /** Why the ticket failed or what it asked, when it did. */
  note: string | null;
  tokens: { total: number; input: number; output: number; byRole: Record<string, RoleUsage> };
  wallMs: number;
  costUsd: number | null;
}

export interface EvalRun {
  id: string;
  at: string;
  script: string | null;
  model: string;
  cases: CaseResult[];
  resolved: number;
  /**
   * With a scripted model: the calls no script planned (each failed loudly) and the scripted answers
   * no call used. A case whose script was not followed exactly says so here.
   */
  scriptUse?: { failures: { ticket?: string; role: string; call: number; message: string }[]; unused: { ticket?: string; role: string; index: number }[] };
}

export interface RunEvalOptions {
  runId: string;
  cases: readonly LoadedCase[];
  script: string | null;
  model: string;
  nats: { url: string; auth?: BusAuth };
  prefix: string;
  /** Where the cases' repositories and the judge's clones go. */
  dir: string;
  sandbox: Sandbox;
  prices: Prices | null;
  log: Logger;
  signal: AbortSignal;
  clock?: () => number;
  progress: (event: Record<string, unknown>, text: string) => void;
}

/** How long a case waits for the stack's coordinator to serve intake (it may still be starting). */
const INTAKE_WAIT_MS = 180_000;

/** The external id a case's ticket is posted with in one run, which names its ticket id. */
export function caseExternalId(runId: string, name: string): string {
  return `eval-${runId}-${name}`;
}

/** The ticket id of a case in one run, known before it is posted (`ticketIdForExternalId`). */
export function caseTicketId(runId: string, name: string): string {
  return ticketIdForExternalId(caseExternalId(runId, name));
}

/**
 * Runs the cases one after the other through the running stack: each case's repository made, its
 * ticket posted, followed until it rests (a ticket waiting for a person is then cancelled, after it is
 * recorded), and the branch judged on its own (`judge`).
 */
export async function runEval(opts: RunEvalOptions): Promise<EvalRun> {
  const clock = opts.clock ?? Date.now;
  const bus = await connectBus({ url: opts.nats.url, prefix: opts.prefix, kind: 'operator', ...(opts.nats.auth && { auth: opts.nats.auth }), name: 'nightshift-eval', log: opts.log });
  const results: CaseResult[] = [];
  try {
    for (const c of opts.cases) {
      const dir = join(opts.dir, c.spec.name);
      mkdirSync(dir, { recursive: true });
      const { origin, heldOut } = await materialize(c, dir);
      const started = clock();
      const posted = await createTicketWhenServed(bus, {
        title: c.spec.ticket.title,
        body: c.spec.ticket.body,
        type: c.spec.ticket.type,
        labels: c.spec.ticket.labels,
        repo: { path: origin, baseBranch: 'main' },
        externalId: caseExternalId(opts.runId, c.spec.name),
        requester: 'nightshift eval',
      }, opts.signal, INTAKE_WAIT_MS);
      if (!posted.ok) throw new CommandError('eval_refused', `case ${c.spec.name}: the ticket was refused: ${posted.error.message}`);
      opts.progress({ event: 'case', name: c.spec.name, ticketId: posted.id }, `${c.spec.name}: ticket ${posted.id}`);
      let ticket: Ticket;
      let state: string;
      try {
        ticket = await waitTicket(bus, posted.id, { timeoutMs: parseDuration(c.spec.timeout)! });
        state = ticket.state;
      } catch (err) {
        if (opts.signal.aborted) throw err;
        ticket = await getTicket(bus, posted.id);
        state = 'timed_out';
      }
      const wallMs = clock() - started;
      if (ticket.state === 'awaiting_human' || state === 'timed_out') {
        await cancelTicket(bus, posted.id, { by: 'nightshift eval', reason: 'evaluation case over', timeoutMs: 30_000 }).catch(() => undefined);
      }
      const pr = (await listPullRequests(bus)).find((p) => p.ticketId === posted.id) ?? null;
      const checks = await judge({
        origin,
        ticketId: posted.id,
        heldOut,
        heldOutCommand: c.spec.heldOutCommand,
        sandbox: opts.sandbox,
        workspaces: join(dir, 'judge'),
        log: opts.log,
      });
      const result = caseResult(c, opts, posted.id, state, ticket, checks, pr, wallMs);
      results.push(result);
      opts.progress({ event: 'result', ...result }, `${c.spec.name}: ${result.resolved ? 'resolved' : 'not resolved'} (${state})`);
    }
  } finally {
    await bus.close();
  }
  return { id: opts.runId, at: new Date(clock()).toISOString(), script: opts.script, model: opts.model, cases: results, resolved: results.filter((r) => r.resolved).length };
}

function caseResult(
  c: LoadedCase,
  opts: RunEvalOptions,
  ticketId: string,
  state: string,
  ticket: Ticket,
  checks: Verdict,
  pr: { number: number; url: string } | null,
  wallMs: number,
): CaseResult {
  const byRole = ticket.usage;
  const input = Object.values(byRole).reduce((n, u) => n + u.inputTokens, 0);
  const output = Object.values(byRole).reduce((n, u) => n + u.outputTokens, 0);
  const held = CHECKS.every((k) => checks[k].ok);
  const questions = ticket.parked?.questions.map((q) => q.text) ?? [];
  const note = ticket.failure ? `${ticket.failure.code}: ${ticket.failure.message}` : questions.length > 0 ? questions.join('\n') : null;
  return {
    name: c.spec.name,
    language: c.spec.language ?? null,
    script: opts.script,
    ticketId,
    state,
    resolved: state === 'pr_open' && pr !== null && held,
    checks,
    pullRequest: pr && { number: pr.number, url: pr.url },
    note: note && note.slice(0, 2_000),
    tokens: { total: input + output, input, output, byRole },
    wallMs,
    costUsd: opts.prices ? (input * opts.prices.inputPerMillion + output * opts.prices.outputPerMillion) / 1_000_000 : null,
  };
}

const mark = (c: Check | undefined) => (c === undefined ? '-' : c.ok ? 'yes' : 'NO');

/** The run as a table for a terminal. */
export function renderTable(run: EvalRun): string {
  const head = ['case', 'state', 'resolved', 'tests first', 'red', 'green', 'tests untouched', 'held-out', 'tokens', 'time', 'cost'];
  const rows = run.cases.map((r) => [
    r.name,
    r.state,
    r.resolved ? 'yes' : 'no',
    mark(r.checks?.testsFirst),
    mark(r.checks?.redAtTests),
    mark(r.checks?.greenAtHead),
    mark(r.checks?.testsUntouched),
    mark(r.checks?.heldOut),
    String(r.tokens.total),
    `${(r.wallMs / 1000).toFixed(1)}s`,
    r.costUsd === null ? '-' : `$${r.costUsd.toFixed(4)}`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(head), ...rows.map(line), '', `${run.resolved} of ${run.cases.length} resolved (${run.script ? `script ${run.script}` : `model ${run.model}`})`].join('\n');
}

/** The run as a Markdown report: the table, then each case's checks with what the judge saw. */
export function renderMarkdown(run: EvalRun): string {
  const cell = (t: string) => t.replaceAll('|', '\\|').replaceAll('\n', ' ');
  const lines = [
    `# nightshift eval ${run.id}`,
    '',
    `${run.at} · ${run.script ? `scripted model \`${run.script}\`` : `model \`${run.model}\``} · **${run.resolved} of ${run.cases.length} resolved**`,
    '',
    '| Case | Language | State | Resolved | Tests first | Red at tests | Green at head | Tests untouched | Held-out | Tokens | Time | Cost |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | ---: | ---: | ---: |',
    ...run.cases.map(
      (r) =>
        `| ${r.name} | ${r.language ?? ''} | ${r.state} | ${r.resolved ? '✅' : '❌'} | ${[r.checks?.testsFirst, r.checks?.redAtTests, r.checks?.greenAtHead, r.checks?.testsUntouched, r.checks?.heldOut].map((c) => (c?.ok ? '✅' : '❌')).join(' | ')} | ${r.tokens.total} | ${(r.wallMs / 1000).toFixed(1)}s | ${r.costUsd === null ? '' : `$${r.costUsd.toFixed(4)}`} |`,
    ),
    '',
  ];
  for (const r of run.cases) {
    lines.push(`## ${r.name}`, '', `Ticket \`${r.ticketId}\`, ${r.state}${r.pullRequest ? `, pull request #${r.pullRequest.number}` : ''}.`, '');
    if (r.note) lines.push(`> ${cell(r.note).slice(0, 500)}`, '');
    for (const k of CHECKS) lines.push(`- ${r.checks?.[k].ok ? '✅' : '❌'} **${k}**: ${cell(r.checks?.[k].detail ?? '')}`);
    lines.push('', `Tokens by role: ${Object.entries(r.tokens.byRole).map(([role, u]) => `${role} ${u.totalTokens}`).join(', ') || 'none'}.`, '');
  }
  return lines.join('\n');
}
