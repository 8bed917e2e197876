const UNITS = { s: 1_000, m: 60_000, h: 3_600_000 };

/**
 * Milliseconds in a duration like `90s`, `5m` or `2h`; undefined when the text is not one.
 */
export function parseDuration(text) {
  const m = /^(\d+)([smh])$/.exec(text.trim());
  if (!m) return undefined;
  return Number(m[1]) * UNITS[m[2]];
}
