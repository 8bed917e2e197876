import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** How the console decides who may read and who may change things. */
export interface AuthSettings {
  /** NIGHTSHIFT_WEB_TOKEN: a bearer token, or the login form's, allows changes. */
  token: string | undefined;
  /** NIGHTSHIFT_WEB_PROXY_HEADER: set by an authenticating reverse proxy, names the user. */
  proxyHeader: string | undefined;
  /** Pages and read APIs need no credentials (the console listens on loopback only). */
  readOpen: boolean;
}

/** The session cookie the login form sets (HttpOnly, SameSite=Strict). */
export const SESSION_COOKIE = 'nightshift_session';

/** Compares two secrets in time independent of where they differ (and of their lengths). */
export function safeEqual(a: string, b: string): boolean {
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db) && a.length === b.length;
}

function derive(token: string, purpose: string): string {
  return createHmac('sha256', token).update(`nightshift-web:${purpose}`).digest('base64url');
}

/** The session cookie's value: derived from the token, so the cookie never holds the token itself. */
export function sessionValue(token: string): string {
  return derive(token, 'session');
}

/** The anti-forgery value forms carry beside the session cookie. */
export function csrfValue(token: string): string {
  return derive(token, 'csrf');
}

/** Who a request acts for, and how it proved it. */
export interface Principal {
  /** Recorded on the ticket's timeline: `web`, or `web:<user>` behind a proxy. */
  by: string;
  via: 'bearer' | 'session' | 'proxy';
}

/** What a request carries that may prove who it is. */
export interface Credentials {
  authorization: string | undefined;
  session: string | undefined;
  proxyUser: string | undefined;
}

/** Why a request may not change anything; `status` is 401 (no or stale credentials) or 403. */
export interface Refusal {
  status: 401 | 403;
  code: string;
  message: string;
}

/** The credentials of a request: a valid principal, a refusal for credentials that are wrong, or null for none. */
export function authenticate(creds: Credentials, auth: AuthSettings): Principal | Refusal | null {
  const bearer = /^Bearer\s+(.+)$/i.exec(creds.authorization ?? '')?.[1]?.trim();
  if (bearer !== undefined) {
    if (auth.token !== undefined && safeEqual(bearer, auth.token)) return { by: 'web', via: 'bearer' };
    return { status: 403, code: 'invalid_token', message: auth.token === undefined ? noToken : 'the bearer token is not NIGHTSHIFT_WEB_TOKEN' };
  }
  const user = creds.proxyUser?.trim();
  if (auth.proxyHeader !== undefined && user) return { by: `web:${user.replace(/[\u0000-\u001f\u007f-\u009f]/g, '').slice(0, 150)}`, via: 'proxy' };
  if (creds.session !== undefined && auth.token !== undefined) {
    if (safeEqual(creds.session, sessionValue(auth.token))) return { by: 'web', via: 'session' };
    return { status: 401, code: 'session_invalid', message: 'the session is no longer valid (the token changed): log in again' };
  }
  return null;
}

const noToken =
  'changes from the web console are off: no NIGHTSHIFT_WEB_TOKEN is configured (set it, or NIGHTSHIFT_WEB_PROXY_HEADER behind an authenticating reverse proxy)';

/** Whether changes can be allowed at all: a token or a proxy header is configured. */
export function writesRefusal(auth: AuthSettings): Refusal | null {
  return auth.token === undefined && auth.proxyHeader === undefined ? { status: 403, code: 'writes_disabled', message: noToken } : null;
}

/**
 * Whether a state-changing request comes from the console's own pages: its Origin (which browsers
 * send on every POST) names the host it was sent to, or, without one, Sec-Fetch-Site does not say
 * another site sent it. Requests with a bearer token are not ambient and need no such check.
 */
export function sameOrigin(headers: { origin: string | undefined; host: string | undefined; fetchSite: string | undefined }): boolean {
  if (headers.origin !== undefined) {
    if (headers.origin === 'null' || headers.host === undefined) return false;
    try {
      return new URL(headers.origin).host === headers.host;
    } catch {
      return false;
    }
  }
  return headers.fetchSite === undefined || headers.fetchSite === 'same-origin' || headers.fetchSite === 'none';
}

/** Whether `host` is a loopback address (or localhost), where read-only pages may be open. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
