import { parseGitHubUrl, type GitHubRepo } from '../../shared/forge/index.ts';
import type { Question, Ticket } from '../../shared/index.ts';

/**
 * A parked ticket's questions as a comment on the GitHub issue it came from: what the comment says,
 * the hidden marker that identifies it, and which tickets have an issue to ask on. Pure; asker.ts posts.
 */

/** Every hidden marker nightshift writes on GitHub (the summary review, the description, questions) starts so. */
export const NIGHTSHIFT_MARK = '<!-- nightshift:';

const ASK_MARK = `${NIGHTSHIFT_MARK}ask `;

/** The hidden line that identifies the comment asking one parking's questions: the ticket and when it parked. */
export function askMarker(ticketId: string, askedAt: string): string {
  return `${ASK_MARK}${ticketId} ${askedAt} -->`;
}

/** Whether a comment carries any of nightshift's markers (so it is nightshift's, or quotes it): never an answer. */
export function hasNightshiftMarker(body: string | null | undefined): boolean {
  return typeof body === 'string' && body.includes(NIGHTSHIFT_MARK);
}

/** An issue on GitHub: its repository and number. */
export interface IssueRef extends GitHubRepo {
  number: number;
}

const ISSUE_EXTERNAL_ID = /^github:([A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))\/([A-Za-z0-9._-]{1,100})#([1-9][0-9]{0,9})$/;

/** The issue an external id `github:OWNER/REPO#NUMBER` names (what the webhook receiver gives issues), or null. */
export function issueOfExternalId(externalId: string | undefined): IssueRef | null {
  const m = ISSUE_EXTERNAL_ID.exec(externalId ?? '');
  if (!m || m[2] === '.' || m[2] === '..') return null;
  return { owner: m[1]!, name: m[2]!, number: Number(m[3]) };
}

/** The external id of an issue: the same string the receiver gives the ticket or bug report it becomes. */
export function issueExternalId(fullName: string, number: number): string {
  return `github:${fullName}#${number}`;
}

/**
 * The issue to ask a ticket's questions on: its external id names an issue, and its `repo.url` is that
 * same repository on one of `hosts` (GitHub's). Anything else (a local path, another forge, an external
 * id pointing elsewhere than the code) is not asked on GitHub.
 */
export function issueOfTicket(t: Pick<Ticket, 'externalId' | 'repo'>, hosts: readonly string[]): IssueRef | null {
  const issue = issueOfExternalId(t.externalId);
  const repo = t.repo.url === undefined ? null : parseGitHubUrl(t.repo.url, hosts);
  if (!issue || !repo) return null;
  const same = `${repo.owner}/${repo.name}`.toLowerCase() === `${issue.owner}/${issue.name}`.toLowerCase();
  return same ? issue : null;
}

const LOGIN = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$/;

/** The GitHub login an actor `github:<login>` names (a person nightshift can @mention), or null. */
export function gitHubLogin(actor: string | undefined): string | null {
  if (!actor?.startsWith('github:')) return null;
  const login = actor.slice('github:'.length);
  return LOGIN.test(login) ? login : null;
}

/** What a question comment is made of: one parking of a ticket. */
export interface Asking {
  ticketId: string;
  /** The stage that asked (`parked.from`). */
  from: string;
  questions: readonly Question[];
  askedAt: string;
  deadline: string;
}

/** GitHub refuses comment bodies above 65,536 characters. */
const MAX_BODY = 60_000;

const STAGE_WORDS: Record<string, string> = {
  triaging: 'triaging this report',
  refining: 'refining this ticket',
  writing_tests: 'writing the tests',
  coding: 'writing the code',
  reviewing: 'reviewing the change',
};

/**
 * The comment asking a parking's questions: whom it asks (an @mention for each question put to
 * `github:<login>`), the questions, how to answer (reply on the issue; who may), the deadline, and the
 * hidden marker.
 */
export function askComment(a: Asking): string {
  const logins = [...new Set(a.questions.map((q) => gitHubLogin(q.to)).filter((l): l is string => l !== null))];
  const mentions = logins.map((l) => `@${l}`).join(' ');
  const doing = STAGE_WORDS[a.from] ?? a.from;
  const many = a.questions.length > 1;
  const head = `${mentions ? `${mentions}: ` : ''}nightshift needs ${many ? 'answers' : 'an answer'} before it can go on ${doing} (ticket \`${a.ticketId}\`).`;
  const marker = askMarker(a.ticketId, a.askedAt);
  const who = logins.length
    ? `A comment from ${logins.map((l) => `@${l}`).join(' or ')}, or from anyone with write access to this repository, is taken as the answer`
    : 'A comment from anyone with write access to this repository is taken as the answer';
  const howTo = [
    `**To answer, reply on this issue.** ${who} to ${many ? 'the questions (answer them all in one comment)' : 'the question'}, and the work resumes.`,
    `Without an answer by ${readableDate(a.deadline)}, the ticket fails.`,
  ].join(' ');
  const tail = ['', howTo, '', marker].join('\n');
  let questions = a.questions.map((q, i) => questionItem(q, i)).join('\n');
  const room = MAX_BODY - head.length - tail.length - 10;
  if (questions.length > room) questions = `${questions.slice(0, room - 120)}\n\n… (cut at GitHub's size limit: \`nightshift ticket show ${a.ticketId}\` has every question)`;
  return [head, '', questions, tail].join('\n');
}

function questionItem(q: Question, i: number): string {
  const login = gitHubLogin(q.to);
  const who = login ? `@${login}: ` : q.to ? `(for ${q.to}) ` : '';
  // Continuation lines are indented to stay inside the list item.
  const text = q.text.trim().replace(/\r?\n/g, '\n   ');
  const lines = [`${i + 1}. ${who}${text}${q.blocking === false ? ' _(optional)_' : ''}`];
  if (q.options?.length) lines.push(`   Choices: ${q.options.map((o) => o.replace(/\s+/g, ' ')).join(' · ')}`);
  return lines.join('\n');
}

/** `2030-01-02T03:04:05.678Z` → `2030-01-02 03:04 UTC`. */
function readableDate(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}
