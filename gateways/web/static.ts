/** The console's client script: live updates over server-sent events, no reload. Served as /static/console.js. */
export const CONSOLE_JS = `'use strict';
(function () {
  var live = document.getElementById('live');
  function setLive(on) { if (live) { live.dataset.live = on ? 'on' : 'off'; live.textContent = on ? 'live' : 'offline'; } }
  function bump(section, by) {
    if (!section) return;
    var c = section.querySelector('.count');
    if (!c) return;
    var n = Number(c.textContent) + by;
    c.textContent = String(n);
    section.classList.toggle('empty', n === 0);
  }
  // What was missed (a change between the page's render and the stream's start, or while the stream
  // was down) is caught up by fetching the page again and replacing its live part, without a reload.
  function resync(el) {
    fetch(location.href, { credentials: 'same-origin' }).then(function (r) { return r.text(); }).then(function (text) {
      var fresh = new DOMParser().parseFromString(text, 'text/html').getElementById(el.id);
      if (fresh) { el.innerHTML = fresh.innerHTML; el.dataset.version = fresh.dataset.version; }
    });
  }
  function listen(url, el, handlers) {
    var es = new EventSource(url);
    es.onopen = function () { setLive(true); };
    es.onerror = function () { setLive(false); };
    es.addEventListener('hello', function (e) {
      if (String(JSON.parse(e.data).version) !== el.dataset.version) resync(el);
    });
    Object.keys(handlers).forEach(function (k) {
      es.addEventListener(k, function (e) { handlers[k](JSON.parse(e.data)); });
    });
  }
  var board = document.getElementById('board');
  if (board) {
    listen('/events' + location.search, board, {
      row: function (m) {
        var total = document.getElementById('total');
        if (total && typeof m.total === 'number') total.textContent = String(m.total);
        var old = document.getElementById('t-' + m.id);
        if (old) { var from = old.closest('section'); old.remove(); bump(from, -1); }
        if (m.html) {
          var list = document.getElementById('col-' + m.state);
          if (list) { list.insertAdjacentHTML('afterbegin', m.html); bump(list.closest('section'), 1); }
        }
      }
    });
  }
  var ticket = document.getElementById('ticket');
  if (ticket) {
    var pending = null;
    function busy() {
      var a = document.activeElement;
      return a && ticket.contains(a) && (a.tagName === 'TEXTAREA' || a.tagName === 'INPUT') && a.value !== '';
    }
    function apply() { if (pending !== null && !busy()) { ticket.innerHTML = pending; pending = null; } }
    document.addEventListener('focusout', function () { setTimeout(apply, 0); });
    listen('/events?ticket=' + encodeURIComponent(ticket.dataset.ticket), ticket, {
      ticket: function (m) { pending = m.html; apply(); }
    });
  }
})();
`;

/** The console's stylesheet. Served as /static/console.css. */
export const CONSOLE_CSS = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1d1d1f; background: #f6f6f7; }
header.top { display: flex; gap: 1rem; align-items: center; padding: .5rem 1rem; background: #1d1d1f; color: #fff; }
header.top a { color: #fff; } .brand { font-weight: 700; text-decoration: none; } header.top nav { flex: 1; }
.live { font-size: 12px; padding: 0 .4rem; border-radius: 3px; background: #a33; } .live[data-live=on] { background: #2a7; }
main { padding: 1rem; } h1 small { font-weight: normal; color: #666; font-size: 14px; }
.filters { display: flex; gap: 1rem; align-items: end; flex-wrap: wrap; margin-bottom: 1rem; } .filters label { display: flex; flex-direction: column; font-size: 12px; }
.board { display: flex; gap: .75rem; overflow-x: auto; align-items: flex-start; }
.col { min-width: 15rem; max-width: 18rem; background: #ececef; border-radius: 6px; padding: .5rem; } .col.empty { min-width: 6rem; opacity: .6; }
.col h2 { font-size: 13px; margin: 0 0 .5rem; text-transform: uppercase; } .count { background: #fff; border-radius: 8px; padding: 0 .4rem; }
.cards { list-style: none; margin: 0; padding: 0; } .card { background: #fff; border-radius: 4px; padding: .4rem; margin-bottom: .4rem; box-shadow: 0 1px 1px #0002; }
.meta { font-size: 12px; color: #555; } .meta span, .meta time { margin-right: .3rem; } .id { font-family: monospace; }
.triage-bug { color: #b40; } .triage-duplicate { color: #666; } .triage-needs_info, .asks { color: #a60; font-weight: 600; }
.state { padding: 0 .4rem; border-radius: 3px; background: #dde; } .failure { color: #a00; }
section { background: #fff; border-radius: 6px; padding: .5rem 1rem; margin: .75rem 0; }
.escalation { border-left: 4px solid #e90; } textarea { width: 100%; max-width: 50rem; display: block; } form.answer label { display: block; margin: .3rem 0; }
form.inline { display: inline; } pre { white-space: pre-wrap; word-break: break-word; background: #f3f3f5; padding: .5rem; max-height: 30rem; overflow: auto; }
table { border-collapse: collapse; } td, th { border-bottom: 1px solid #eee; padding: .2rem .5rem; text-align: left; vertical-align: top; }
.st-failed { color: #b00; font-weight: 600; } .st-passed { color: #070; font-weight: 600; } .msg { font-weight: normal; font-size: 12px; color: #555; white-space: pre-wrap; }
details.run.red > summary { color: #b00; } details.run.green > summary { color: #070; }
.error { border-left: 4px solid #c00; }
`;
