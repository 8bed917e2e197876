import { basename } from 'node:path';
import { triageOf, triageOutcome } from '../bus/index.ts';
import { formatDuration, stripTerminalCodes, usedTokens, type PullRequest, type Ticket, type TimelineEntry } from '../shared/index.ts';

/** One timeline entry as a line for a person. */
export function renderEntry(e: TimelineEntry): string {
  const time = e.at.slice(11, 23);
  let what: string;
  switch (e.event) {
    case 'received':
      what = 'received';
      break;
    case 'transition':
      what = `${e.from} → ${e.to}`;
      break;
    case 'dispatched':
      what = `dispatched ${e.stage} (attempt ${e.attempt})`;
      break;
    case 'started':
      what = `started ${e.stage} (attempt ${e.attempt})`;
      break;
    case 'retry':
      what = `${e.stage} attempt ${e.attempt} failed; retrying`;
      break;
    case 'timeout':
      what = `${e.stage} attempt ${e.attempt} timed out`;
      break;
    default:
      what = e.event.replace(/_/g, ' ');
  }
  const reason = e.reason && e.event !== 'transition' ? `  — ${e.reason}` : e.reason ? `  (${firstLine(e.reason)})` : '';
  return stripTerminalCodes(`${time}  ${e.by.padEnd(22)} ${what}${reason}`);
}

/** A ticket's triage in a few words for the list: `bug high · parser`, `dup of tk-…`, `needs info`. */
export function triageCell(t: Ticket): string {
  const outcome = triageOutcome(t);
  if (outcome === undefined) return '-';
  if (outcome === 'duplicate') return `dup of ${t.duplicateOf ?? '?'}`;
  if (outcome === 'pending') return 'untriaged';
  const triage = triageOf(t)!;
  const what = outcome === 'bug' ? 'bug' : outcome === 'not_bug' ? 'not a bug' : 'needs info';
  return `${what} ${triage.severity} · ${triage.component}`;
}

/**
 * A ticket as `nightshift ticket show` prints it for a person; `duplicates` are the tickets marked
 * duplicates of it. Terminal escape codes in what it stores (runner output in a failure or a question,
 * stored before runs were cleaned, or in what people posted) are not passed on to the terminal.
 * `pr` is the ticket's pull request, when it has one.
 */
export function renderTicket(t: Ticket, now = new Date(), duplicates: readonly string[] = [], pr?: PullRequest | null): string {
  const lines = [`${t.id}  ${t.title}  [${t.state}]`];
  const repo = t.repo.path ?? t.repo.url ?? '';
  lines.push(`type ${t.type} · repo ${repo}${t.repo.baseBranch ? ` (${t.repo.baseBranch})` : ''}`);
  const extra = [
    t.requester && `requester ${t.requester}`,
    t.externalId && `external id ${t.externalId}`,
    t.labels.length > 0 && `labels ${t.labels.join(', ')}`,
  ].filter(Boolean);
  if (extra.length) lines.push(extra.join(' · '));
  lines.push(`created ${t.createdAt} · updated ${t.updatedAt}`);
  const used = usedTokens(t.usage);
  if (used > 0 || t.budget !== undefined) lines.push(`tokens ${used} used${t.budget !== undefined ? ` of this ticket's budget of ${t.budget}` : ''}`);
  if (t.work) {
    const left = Date.parse(t.work.deadline) - now.getTime();
    const phase = t.work.startedAt ? 'started' : 'queued, not started yet';
    lines.push(`working: ${t.work.stage}, attempt ${t.work.attempt}, ${phase}, ${left > 0 ? `times out in ${formatDuration(left)}` : 'timed out'}`);
  }
  const triage = triageOf(t);
  if (triage) {
    lines.push(`triage: ${triage.classification.replace('_', ' ')} · severity ${triage.severity} · component ${triage.component}`);
    lines.push(`  ${firstLine(triage.reason)}`);
    if (triage.similar.length > 0) {
      lines.push(`  similar (${triage.method}): ${triage.similar.map((x) => `${x.id} ${x.score.toFixed(2)}`).join(', ')}`);
    }
  }
  if (t.parked) {
    lines.push(`waiting for a human (asked by ${t.parked.from}):`);
    for (const q of t.parked.questions) {
      lines.push(`  ? ${q.to ? `(for ${q.to}) ` : ''}${q.text}${q.options ? `  [${q.options.join(' | ')}]` : ''}`);
    }
    lines.push(`  answer with: nightshift answer ${t.id} "<text>"`);
  }
  if (pr) lines.push(`pull request: ${repoLabel(pr.repo)}#${pr.number} [${pr.state}] ${pr.url}  (nightshift pr show ${t.id})`);
  if (t.failure) lines.push(`failed: ${t.failure.code}: ${t.failure.message}`);
  if (t.duplicateOf) lines.push(`duplicate of ${t.duplicateOf}  (nightshift ticket show ${t.duplicateOf})`);
  if (duplicates.length > 0) lines.push(`duplicates: ${duplicates.join(', ')}`);
  if (t.body.trim()) lines.push('', ...t.body.trim().split('\n').map((l) => `  ${l}`));
  if (t.report) {
    const r = t.report;
    for (const [name, text] of [['steps', r.steps], ['expected', r.expected], ['actual', r.actual], ['environment', r.environment], ['logs', r.logs]] as const) {
      if (text) lines.push('', `${name}:`, ...text.trim().split('\n').slice(0, 40).map((l) => `  ${l}`));
    }
  }
  lines.push('', 'timeline:', ...t.timeline.map((e) => `  ${renderEntry(e)}`));
  return stripTerminalCodes(lines.join('\n'));
}

/** Tickets as a table, one line each. */
export function renderList(tickets: readonly Ticket[]): string {
  if (tickets.length === 0) return 'no tickets';
  const rows = tickets.map((t) => [t.id, t.state, t.type, t.updatedAt.slice(0, 19).replace('T', ' '), triageCell(t), t.title]);
  const widths = [13, 14, 7, 19, Math.max(6, ...rows.map((r) => r[4]!.length))];
  const head = ['ID', 'STATE', 'TYPE', 'UPDATED', 'TRIAGE', 'TITLE'];
  return stripTerminalCodes([head, ...rows].map((r) => r.map((c, i) => (i < widths.length ? c.padEnd(widths[i]!) : c)).join('  ')).join('\n'));
}

function firstLine(text: string): string {
  const line = text.split('\n')[0] ?? '';
  return line.length > 120 ? `${line.slice(0, 117)}...` : line;
}

/** The short name of a recorded repository for a listing: its last path segment, without `.git`. */
export function repoLabel(repo: string): string {
  return basename(repo.replace(/\/+$/, '').replace(/\.git$/, '').replace(/^[^/]*:/, '/'));
}
