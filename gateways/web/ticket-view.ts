import { CodingOutput, RefiningOutput, ReviewingOutput, type Spec, type SuiteRun, TriagingOutput, WritingTestsOutput } from '../../bus/index.ts';
import { isTerminal, testLabel, type PullRequest, type Ticket } from '../../shared/index.ts';
import { html, safeUrl, type Html } from './html.ts';
import { age, page, tokens } from './layout.ts';

/** What a ticket page shows besides the ticket record. */
export interface TicketExtras {
  pr: { pr: PullRequest; diff: string | null } | null;
  /** Tickets marked duplicates of this one. */
  duplicates: readonly string[];
  now: number;
  /** Who is signed in (null: nobody), and the form's anti-forgery value for a session. */
  user: string | null;
  csrf: string | null;
  /** Whether changes are possible at all (a token or proxy header is configured). */
  writable: boolean;
  /** The board index's version the page was rendered at. */
  version: number;
}

const MAX_OUTPUT = 4_000;
const MAX_DIFF = 200_000;

function tail(text: string, max: number): string {
  return text.length <= max ? text : `…${text.slice(text.length - max)}`;
}

function ticketLink(id: string): Html {
  return html`<a href="/tickets/${id}">${id}</a>`;
}

function artifacts<T>(t: Ticket, stage: string, schema: { safeParse(v: unknown): { success: true; data: T } | { success: false } }): T | undefined {
  const r = schema.safeParse(t.artifacts[stage]);
  return r.success ? r.data : undefined;
}

function specHtml(spec: Spec): Html {
  return html`<section class="spec"><h2>Spec</h2><p>${spec.summary}</p>
<h3>Acceptance criteria</h3><ul class="criteria">${spec.acceptanceCriteria.map((c) => html`<li><b>${c.id}</b> ${c.text}</li>`)}</ul>
${spec.plan.length ? html`<h3>Plan</h3><ol>${spec.plan.map((p) => html`<li>${p}</li>`)}</ol>` : ''}
${spec.affectedFiles.length ? html`<h3>Affected files</h3><ul>${spec.affectedFiles.map((f) => html`<li><code>${f}</code></li>`)}</ul>` : ''}
${spec.openQuestions.length ? html`<h3>Open questions</h3><ul>${spec.openQuestions.map((q) => html`<li>${q.text}${q.blocking ? ' (blocking)' : ''}</li>`)}</ul>` : ''}</section>`;
}

function runHtml(name: string, run: SuiteRun): Html {
  const totals = run.tests?.totals;
  return html`<details class="run ${run.passed ? 'green' : 'red'}"><summary><b>${name}</b> <code>${run.command}</code> exit ${run.exitCode ?? '—'} · ${
    run.passed ? 'passed' : `failed${run.failure ? `: ${run.failure}` : ''}`
  }${totals ? ` · ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped of ${totals.total}` : ''} · ${Math.round(run.durationMs / 100) / 10}s · ${run.image}</summary>
<pre class="output">${tail(run.output, MAX_OUTPUT)}</pre></details>`;
}

/** Status of a test in a run: as named there, or `passed` in a run that passed as a whole. */
function statusIn(run: SuiteRun | undefined, label: string): { status: string; message?: string } | null {
  if (!run) return null;
  const t = run.tests?.tests.find((c) => testLabel(c) === label || c.name === label);
  if (t) return { status: t.status, ...(t.message && { message: t.message }) };
  return run.passed ? { status: 'passed' } : null;
}

function evidenceHtml(wt: WritingTestsOutput | undefined, green: SuiteRun | undefined): Html {
  if (!wt) return html``;
  const labels = [...new Set([...(wt.proof?.newTests ?? []), ...wt.coverage.flatMap((c) => c.tests)])];
  const criteria = (label: string) => wt.coverage.filter((c) => c.tests.includes(label)).map((c) => c.criterion);
  const cell = (s: { status: string; message?: string } | null) =>
    s ? html`<td class="st st-${s.status}" title="${s.message ?? ''}">${s.status}${s.message ? html`<div class="msg">${s.message}</div>` : ''}</td>` : html`<td class="st">—</td>`;
  return html`<section class="evidence"><h2>Test-first evidence</h2>
<table><thead><tr><th>test</th><th>criteria</th><th>red (unchanged code, ${wt.commit.slice(0, 12)})</th><th>green (with the change)</th></tr></thead><tbody>${labels.map(
    (l) => html`<tr><td><code>${l}</code></td><td>${criteria(l).join(', ')}</td>${cell(statusIn(wt.red, l))}${cell(statusIn(green, l))}</tr>`,
  )}</tbody></table></section>`;
}

function triageHtml(t: Ticket, tri: TriagingOutput | undefined, duplicates: readonly string[]): Html {
  if (!tri && !t.duplicateOf && duplicates.length === 0) return html``;
  const tr = tri?.triage;
  return html`<section class="triage"><h2>Triage</h2>${
    tr ? html`<p><b class="triage-${tr.classification}">${tr.classification}</b> · ${tr.severity} · ${tr.component} (${tr.method})</p><p>${tr.reason}</p>` : ''
  }${t.duplicateOf ? html`<p>duplicate of ${ticketLink(t.duplicateOf)}</p>` : ''}${
    duplicates.length ? html`<p>duplicates of this ticket: ${duplicates.map((d, i) => html`${i ? ', ' : ''}${ticketLink(d)}`)}</p>` : ''
  }${
    tr?.similar.length ? html`<h3>Similar tickets</h3><ul>${tr.similar.map((s) => html`<li>${ticketLink(s.id)} ${s.title} <small>${s.score.toFixed(2)}</small></li>`)}</ul>` : ''
  }${tri?.questions?.length ? html`<h3>Asked of the reporter</h3><ul>${tri.questions.map((q) => html`<li>${q}</li>`)}</ul>` : ''}</section>`;
}

function escalationHtml(t: Ticket, x: TicketExtras): Html {
  if (t.state !== 'awaiting_human' || !t.parked) return html``;
  const p = t.parked;
  const form = !x.writable
    ? html`<p class="note">Answering from the console is off: no NIGHTSHIFT_WEB_TOKEN is configured. Use <code>nightshift answer ${t.id} …</code>.</p>`
    : x.user
      ? html`<form method="post" action="/tickets/${t.id}/answer" class="answer">${x.csrf ? html`<input type="hidden" name="csrf" value="${x.csrf}">` : ''}
<label>answer <textarea name="text" rows="4" maxlength="20000" required></textarea></label>
<label>your name (optional) <input name="by" maxlength="100" autocomplete="name"></label>
<label>token budget (optional) <input name="budget" inputmode="numeric" placeholder="e.g. 600000"></label>
<button>answer</button></form>`
      : html`<p><a href="/login?next=/tickets/${t.id}">Log in</a> to answer.</p>`;
  return html`<section class="escalation"><h2>Waiting for a human</h2><p>asked by ${p.from} ${age(p.askedAt, x.now)} ago · fails at ${p.deadline} unless answered</p>
<ol class="questions">${p.questions.map(
    (q) => html`<li>${q.text}${q.to ? html` <span class="to">for ${q.to}</span>` : ''}${q.options?.length ? html`<ul class="options">${q.options.map((o) => html`<li>${o}</li>`)}</ul>` : ''}</li>`,
  )}</ol>${form}</section>`;
}

function attemptsHtml(t: Ticket): Html {
  const groups = new Map<string, Ticket['timeline']>();
  for (const e of t.timeline) {
    if (!e.stage || !e.attempt) continue;
    const k = `${e.stage} #${e.attempt}`;
    groups.set(k, [...(groups.get(k) ?? []), e]);
  }
  if (groups.size === 0) return html``;
  return html`<section class="attempts"><h2>Stage attempts</h2><table><tbody>${[...groups].map(
    ([k, es]) => html`<tr><th>${k}</th><td>${es.map((e) => html`<div>${e.at} ${e.event}${e.reason ? html` — ${e.reason}` : ''}</div>`)}</td></tr>`,
  )}</tbody></table></section>`;
}

function prHtml(x: TicketExtras, review: ReviewingOutput | undefined): Html {
  if (!x.pr && !review) return html``;
  const pr = x.pr?.pr;
  const url = pr ? safeUrl(pr.url) : null;
  return html`<section class="pr"><h2>Pull request</h2>${
    pr ? html`<p>${url ? html`<a href="${url}" rel="noreferrer noopener">#${pr.number}</a>` : html`#${pr.number}`} ${pr.title} <b>[${pr.state}]</b> · <code>${pr.branch}</code> → <code>${pr.base}</code></p>` : ''
  }${review ? html`<p>review: <b>${review.verdict}</b> (round ${review.round})</p>${review.comments.length ? html`<ul>${review.comments.map((c) => html`<li>${c.path ? html`<code>${c.path}</code> ` : ''}${c.text}</li>`)}</ul>` : ''}` : ''}
<h3>Summary</h3><pre class="summary">${pr?.body ?? review?.summary ?? ''}</pre>${
    x.pr?.diff ? html`<details class="diff"><summary>diff</summary><pre>${x.pr.diff.length > MAX_DIFF ? `${x.pr.diff.slice(0, MAX_DIFF)}\n… (cut)` : x.pr.diff}</pre></details>` : ''
  }</section>`;
}

function usageHtml(t: Ticket): Html {
  const roles = Object.entries(t.usage);
  if (roles.length === 0) return html``;
  return html`<section class="usage"><h2>Tokens by role</h2><table><thead><tr><th>role</th><th>input</th><th>output</th><th>total</th><th>calls</th></tr></thead><tbody>${roles.map(
    ([r, u]) => html`<tr><td>${r}</td><td>${u.inputTokens}</td><td>${u.outputTokens}</td><td>${u.totalTokens}</td><td>${u.calls}</td></tr>`,
  )}</tbody></table>${t.budget ? html`<p>budget ${t.budget}</p>` : ''}</section>`;
}

/** The inside of a ticket page, re-sent whole over server-sent events when the ticket changes. */
export function ticketDetail(t: Ticket, x: TicketExtras): Html {
  const tri = artifacts(t, 'triaging', TriagingOutput);
  const spec = artifacts(t, 'refining', RefiningOutput)?.spec ?? tri?.spec;
  const wt = artifacts(t, 'writing_tests', WritingTestsOutput);
  const coding = artifacts(t, 'coding', CodingOutput);
  const review = artifacts(t, 'reviewing', ReviewingOutput);
  const total = Object.values(t.usage).reduce((n, u) => n + u.totalTokens, 0);
  const cancel = isTerminal(t.state) || !x.writable || !x.user
    ? ''
    : html`<form method="post" action="/tickets/${t.id}/cancel" class="cancel">${x.csrf ? html`<input type="hidden" name="csrf" value="${x.csrf}">` : ''}<input name="reason" placeholder="reason (optional)" maxlength="1000"><button>cancel ticket</button></form>`;
  const report = t.report ? Object.entries(t.report) : [];
  return html`<h1>${t.title}</h1>
<p class="head"><span class="id">${t.id}</span> <b class="state state-${t.state}" id="state">${t.state}</b> ${t.type} · ${t.repo.path ?? t.repo.url ?? ''}${t.repo.baseBranch ? html` (${t.repo.baseBranch})` : ''}${
    t.requester ? html` · from ${t.requester}` : ''
  } · created ${age(t.createdAt, x.now)} ago · ${tokens(total)} tokens${t.work ? html` · ${t.work.stage} #${t.work.attempt}` : ''}</p>
${t.failure ? html`<p class="failure">failed: <b>${t.failure.code}</b> ${t.failure.message}</p>` : ''}${cancel}
${escalationHtml(t, x)}
<section class="body"><h2>Description</h2><pre>${t.body}</pre>${report.map(([k, v]) => html`<h3>${k}</h3><pre>${String(v)}</pre>`)}</section>
${triageHtml(t, tri, x.duplicates)}${spec ? specHtml(spec) : ''}
${evidenceHtml(wt, review?.fresh ?? coding?.green)}
${prHtml(x, review)}
${t.answers.length ? html`<section class="answers"><h2>Answers</h2><ul>${t.answers.map((a) => html`<li><b>${a.by}</b> ${a.at}<pre>${a.text}</pre></li>`)}</ul></section>` : ''}
<section class="runs"><h2>Sandbox runs</h2>${wt ? [runHtml('baseline', wt.baseline), runHtml('red', wt.red)] : ''}${coding ? runHtml('green', coding.green) : ''}${review ? runHtml('review (fresh clone)', review.fresh) : ''}${
    !wt && !coding && !review ? html`<p>none yet</p>` : ''
  }</section>
${attemptsHtml(t)}${usageHtml(t)}
<section class="timeline"><h2>Timeline</h2><table><tbody>${t.timeline.map(
    (e) => html`<tr><td><time datetime="${e.at}">${e.at}</time></td><td>${e.by}</td><td>${e.event}</td><td>${e.from ? `${e.from} → ` : ''}${e.to ?? ''}${e.stage ? ` ${e.stage}` : ''}${e.attempt ? ` #${e.attempt}` : ''}</td><td>${e.reason ?? ''}</td></tr>`,
  )}</tbody></table></section>`;
}

/** A ticket's page; live over `/events?ticket=<id>`. */
export function ticketPage(t: Ticket, x: TicketExtras): Html {
  return page(t.title, html`<main class="ticket" id="ticket" data-ticket="${t.id}" data-version="${x.version}">${ticketDetail(t, x)}</main>`, { user: x.user });
}
