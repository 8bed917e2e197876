const UNITS = ['B', 'KB', 'MB', 'GB'] as const;

/** A byte count for people: `1.5 KB`, `20 MB`, with one decimal when the value has one. */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  const text = Number.isInteger(value) ? String(value) : value.toFixed(1);
  return `${text} ${UNITS[unit]}`;
}
