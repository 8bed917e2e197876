/** The web console (`nightshift web`): the board, ticket pages, answers and cancellations over HTTP. */
export { createWebApp, type WebDeps } from './app.ts';
export { authenticate, isLoopback, safeEqual, sameOrigin, SESSION_COOKIE, type AuthSettings, type Principal } from './auth.ts';
export { BoardFilter, BoardIndex, rowOf, type BoardColumn, type TicketRow } from './board.ts';
export { escapeHtml, html, Html, raw, safeUrl } from './html.ts';
export { runWebConsole, startWebConsole, type WebConsole } from './main.ts';
