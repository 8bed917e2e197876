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
