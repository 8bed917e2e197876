import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from './duration.ts';

describe('parseDuration', () => {
  it.each([
    ['250ms', 250],
    ['30s', 30_000],
    ['5m', 300_000],
    ['2h', 7_200_000],
    ['1d', 86_400_000],
    ['0', 0],
    ['0s', 0],
    ['1500', 1_500],
    ['1.5s', 1_500],
    ['0.5m', 30_000],
    ['1.25h', 4_500_000],
    ['1.4ms', 1],
    ['1.5ms', 2],
    ['0.0001s', 0],
    [' 30s ', 30_000],
    ['30 s', 30_000],
    ['007s', 7_000],
  ])('parses %j as %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each([
    '',
    '   ',
    's',
    'ms',
    '-5s',
    '+5s',
    '5x',
    '5sec',
    '5 minutes',
    '5S',
    '5M',
    '1h30m',
    '1e3',
    '1,5s',
    '.5s',
    '5.s',
    'Infinity',
    'NaN',
    '0x10',
    '5s5',
  ])('refuses %j', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });

  it('refuses a number too large to be finite', () => {
    expect(parseDuration(`${'9'.repeat(400)}d`)).toBeUndefined();
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0ms'],
    [1, '1ms'],
    [0.4, '0ms'],
    [850, '850ms'],
    [999, '999ms'],
    [999.4, '999ms'],
    [1_000, '1s'],
    [1_049, '1s'],
    [1_050, '1.1s'],
    [12_500, '12.5s'],
    [59_900, '59.9s'],
    [60_000, '1m 0s'],
    [200_000, '3m 20s'],
    [3_599_000, '59m 59s'],
    [3_600_000, '1h 0m'],
    [7_500_000, '2h 5m'],
    [86_400_000, '24h 0m'],
    [90_000_000, '25h 0m'],
    // Rounding up carries into the next unit instead of printing 1000ms, 60s or 60m.
    [999.6, '1s'],
    [59_949, '59.9s'],
    [59_950, '1m 0s'],
    [119_999, '2m 0s'],
    [3_599_499, '59m 59s'],
    [3_599_500, '1h 0m'],
    [7_199_999, '2h 0m'],
  ])('formats %d ms as %j', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it('never prints a part that should have carried into the next unit', () => {
    const samples = [0, 1, 499, 500, 999, 1_000, 9_999, 59_999, 60_000, 119_999, 3_599_999, 3_600_000, 86_399_999];
    for (let ms = 0; ms < 10_000_000; ms += 997) samples.push(ms);
    for (const ms of samples) {
      const text = formatDuration(ms);
      expect(text, `${ms}`).toMatch(/^(\d{1,3}ms|\d{1,2}(\.\d)?s|\d+m \d{1,2}s|\d+h \d{1,2}m)$/);
      expect(text, `${ms}`).not.toMatch(/^1000ms$|^60(\.0)?s$|^60m | 60[sm]$/);
    }
  });

  it('round-trips the whole-unit values it prints', () => {
    for (const text of ['850ms', '12s', '45s']) expect(formatDuration(parseDuration(text)!)).toBe(text);
  });
});
