import { z } from 'zod';
import { parseDuration } from './duration.ts';

/** A duration setting (`500ms`, `30s`, `5m`, `2h`, `1d`, or bare milliseconds), parsed to milliseconds. */
export const duration = z.string().transform((text, ctx) => {
  const ms = parseDuration(text);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not a duration (e.g. 500ms, 30s, 5m, 2h)` });
    return z.NEVER;
  }
  return ms;
});

/** A whole number above zero, from a string setting. */
export const positiveInt = z.coerce.number().int().positive();

const BYTE_UNITS: Readonly<Record<string, number>> = { '': 1, b: 1, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 };

/** A size setting (`65536`, `64KiB`, `64MiB`, `1GiB`), parsed to bytes. */
export const byteSize = z.string().transform((text, ctx) => {
  const m = /^\s*(\d+)\s*([A-Za-z]*)\s*$/.exec(text);
  const unit = m ? BYTE_UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined || Number(m[1]) <= 0) {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not a size (e.g. 65536, 64KiB, 64MiB, 1GiB)` });
    return z.NEVER;
  }
  return Number(m[1]) * unit;
});
