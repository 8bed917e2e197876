/**
 * `text` cut to at most `max` UTF-16 code units, ending with `marker` when it was cut, and never
 * between the two halves of a surrogate pair (an emoji is kept whole or left out whole).
 */
export function clip(text: string, max: number, marker = '…'): string {
  if (text.length <= max) return text;
  let end = Math.max(0, max - marker.length);
  if (end > 0 && isHighSurrogate(text.charCodeAt(end - 1))) end--;
  return `${text.slice(0, end)}${marker}`;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
