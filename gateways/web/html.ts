/**
 * The one way the console writes HTML: `html` templates escape every interpolated value unless it is
 * already `Html` (the output of another template, or `raw` for the few constant fragments). Ticket
 * titles and bodies, model output, test names and diffs are all hostile text.
 */

/** A fragment of HTML that is safe to put in a page as it is. */
export class Html {
  readonly value: string;
  constructor(value: string) {
    this.value = value;
  }
  toString(): string {
    return this.value;
  }
}

const ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };

/** Text made safe for an HTML text node or a double- or single-quoted attribute value. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (c) => ESCAPES[c]!);
}

/** Trusted markup, as it is: only for constants written in this code, never for data. */
export function raw(markup: string): Html {
  return new Html(markup);
}

function part(value: unknown): string {
  if (value === null || value === undefined || value === false) return '';
  if (value instanceof Html) return value.value;
  if (Array.isArray(value)) return value.map(part).join('');
  return escapeHtml(String(value));
}

/** A template whose interpolations are escaped (arrays are joined; null, undefined and false are left out). */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += part(values[i]) + strings[i + 1]!;
  return new Html(out);
}

/** A link target from data, or null when it is not an http(s) URL (`javascript:` and the like are never links). */
export function safeUrl(url: string): string | null {
  try {
    const u = new URL(url);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
  } catch {
    return null;
  }
}
