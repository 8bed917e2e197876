import { describe, expect, it } from 'vitest';
import { clip } from './text.ts';

describe('clip', () => {
  it('leaves a text that fits as it is', () => {
    expect(clip('short', 5)).toBe('short');
    expect(clip('', 0)).toBe('');
  });

  it('cuts to the bound, the marker included', () => {
    expect(clip('abcdefghij', 5)).toBe('abcd…');
    expect(clip('abcdefghij', 5)).toHaveLength(5);
    expect(clip('x'.repeat(100), 30, ' … (cut)')).toBe(`${'x'.repeat(22)} … (cut)`);
  });

  it('never splits a surrogate pair: the character is left out whole', () => {
    const text = `abc😀def`; // the emoji is two code units, at 3 and 4
    expect(clip(text, 5)).toBe('abc…');
    expect(clip(text, 6)).toBe('abc😀…');
    for (let max = 1; max < text.length; max++) {
      const cut = clip(text, max);
      expect(cut.length).toBeLessThanOrEqual(max);
      expect(cut.isWellFormed()).toBe(true);
    }
  });

  it('gives the marker alone when the bound leaves no room for text', () => {
    expect(clip('abcdef', 1)).toBe('…');
  });
});
