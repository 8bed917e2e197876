/**
 * A URL (or a comma-separated list of them) with any password in it replaced, for messages and logs:
 * `nats://user:secret@host:4222` → `nats://user:***@host:4222`; a lone userinfo (a token) is hidden too.
 */
export function redactUrl(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)([^/@\s,]*)@/gi, (_m, scheme: string, userinfo: string) => {
    const colon = userinfo.indexOf(':');
    return colon >= 0 ? `${scheme}${userinfo.slice(0, colon)}:***@` : `${scheme}***@`;
  });
}
