import { STATES } from '../../shared/index.ts';
import type { BoardColumn, BoardFilter, TicketRow } from './board.ts';
import { html, type Html } from './html.ts';
import { age, page, tokens } from './layout.ts';

/** One ticket's card on the board (also sent alone over server-sent events when it changes). */
export function cardHtml(r: TicketRow, now: number): Html {
  const stage = r.stage ? html`<span class="stage">${r.stage}${r.attempt ? html` #${r.attempt}` : ''}</span>` : '';
  return html`<li class="card" id="t-${r.id}" data-state="${r.state}"><a href="/tickets/${r.id}">${r.title}</a>
<div class="meta"><span class="id">${r.id}</span> <span class="type">${r.type}</span>${r.triage ? html` <span class="triage triage-${r.triage}">${r.triage === 'duplicate' && r.duplicateOf ? `dup of ${r.duplicateOf}` : r.triage}</span>` : ''} ${stage}${
    r.questions ? html` <span class="asks">${r.questions} question${r.questions === 1 ? '' : 's'}</span>` : ''
  } <span class="tokens" title="tokens">${tokens(r.tokens)} tok</span> <time datetime="${r.createdAt}" title="${r.createdAt}">${age(r.createdAt, now)}</time></div></li>`;
}

function filterForm(f: BoardFilter, repos: readonly string[]): Html {
  return html`<form class="filters" method="get" action="/">
<label>state <select name="state" multiple size="4">${STATES.map((s) => html`<option value="${s}"${f.state.includes(s) ? html` selected` : ''}>${s}</option>`)}</select></label>
<label>repository <select name="repo"><option value="">any</option>${repos.slice(0, 500).map((r) => html`<option value="${r}"${f.repo === r ? html` selected` : ''}>${r}</option>`)}</select></label>
<label>text <input type="search" name="q" value="${f.q ?? ''}" maxlength="200" placeholder="title, id, requester, label"></label>
<label>per state <input type="number" name="limit" value="${f.limit}" min="1" max="500"></label>
<button>filter</button> <a href="/">clear</a>
</form>`;
}

/** The board: tickets by state, newest first, with the filter form; live over `/events` with the same query. */
export function boardPage(columns: readonly BoardColumn[], f: BoardFilter, ctx: { repos: readonly string[]; total: number; now: number; user: string | null; version: number }): Html {
  const cols = columns.map(
    (c) => html`<section class="col${c.total === 0 ? ' empty' : ''}" data-state="${c.state}"><h2>${c.state} <span class="count">${c.total}</span></h2>
<ol class="cards" id="col-${c.state}">${c.rows.map((r) => cardHtml(r, ctx.now))}</ol>${c.total > c.rows.length ? html`<p class="more">${c.total - c.rows.length} more: narrow the filter or raise the limit</p>` : ''}</section>`,
  );
  return page(
    'board',
    html`<main class="board-page"><h1>Board <small><span id="total">${ctx.total}</span> tickets</small></h1>${filterForm(f, ctx.repos)}<div class="board" id="board" data-version="${ctx.version}">${cols}</div></main>`,
    { user: ctx.user },
  );
}
