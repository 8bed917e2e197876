import { createVerify } from 'node:crypto';
import { BOT, type FakeState } from './state.ts';

/*
 * Authentication as GitHub checks it: the API wants `Authorization: token|bearer <token>` with the
 * configured token or an installation token the fake issued; the App endpoints want an RS256 JWT signed
 * with the App's key.
 */

/** Who a REST `Authorization` header is: the token's user, the App's installation bot, `app` for a valid App JWT, or null. */
export function whoIs(s: FakeState, header: string | undefined): string | null {
  const m = /^(token|bearer)\s+(\S+)$/i.exec(header ?? '');
  if (!m) return null;
  const credential = m[2]!;
  if (s.opts.token && credential === s.opts.token) return s.opts.user ?? BOT;
  const issued = s.installationTokens.get(credential);
  if (issued && issued.expiresAt > Date.now()) return `${BOT}[bot]`;
  if (s.appKey && credential.split('.').length === 3 && verifyJwt(s, credential)) return 'app';
  return null;
}

/** Whether GitHub would take `jwt` as the App's: RS256, signed with its key, issued by it, at most ten minutes long; one it would refuse is a violation. */
function verifyJwt(state: FakeState, jwt: string): boolean {
  const [h, p, s] = jwt.split('.') as [string, string, string];
  try {
    const header = JSON.parse(Buffer.from(h, 'base64url').toString()) as { alg?: string };
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString()) as { iss?: unknown; iat?: number; exp?: number };
    const ok = createVerify('RSA-SHA256').update(`${h}.${p}`).verify(state.appKey!, Buffer.from(s, 'base64url'));
    const t = Date.now() / 1000;
    const valid = ok && header.alg === 'RS256' && String(payload.iss) === String(state.opts.app!.id) && (payload.iat ?? Infinity) <= t + 60 && (payload.exp ?? 0) > t && (payload.exp ?? 0) - (payload.iat ?? 0) <= 600;
    if (!valid) state.violations.push(`an App JWT that GitHub would refuse: ${JSON.stringify({ header, payload, signatureOk: ok })}`);
    return valid;
  } catch {
    return false;
  }
}
