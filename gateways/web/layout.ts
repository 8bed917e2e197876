import { html, type Html } from './html.ts';

/** A whole page: the console's stylesheet and client script, and `body`. */
export function page(title: string, body: Html, opts: { user?: string | null } = {}): Html {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · nightshift</title>
<link rel="stylesheet" href="/static/console.css">
<script src="/static/console.js" defer></script>
</head>
<body>
<header class="top"><a class="brand" href="/">nightshift</a><nav>${
    opts.user === undefined ? '' : opts.user ? html`<span class="who">signed in</span><form method="post" action="/logout" class="inline"><button>log out</button></form>` : html`<a href="/login">log in</a>`
  }</nav><span id="live" class="live" data-live="off">offline</span></header>
${body}
</body>
</html>`;
}

/** How long ago `iso` was, for people: `42s`, `5m`, `3h`, `2d`. */
export function age(iso: string, now: number): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}

/** A number of tokens, short: `950`, `12.3k`, `1.2M`. */
export function tokens(n: number): string {
  if (n < 1000) return String(n);
  if (n < 1_000_000) return `${(n / 1000).toFixed(1)}k`;
  return `${(n / 1_000_000).toFixed(1)}M`;
}
