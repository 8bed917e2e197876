import { describe, expect, it } from 'vitest';
import { cosine } from './embeddings.ts';
import { MOCK_EMBEDDING_DIMENSIONS, mockEmbedding } from './mock-server.ts';

describe('cosine', () => {
  it('is 1 for vectors pointing the same way, whatever their length', () => {
    expect(cosine([1, 2, 3], [2, 4, 6])).toBeCloseTo(1, 12);
    expect(cosine([0.3, 0.4], [0.3, 0.4])).toBeLessThanOrEqual(1);
  });

  it('is 0 for orthogonal vectors and -1 for opposite ones', () => {
    expect(cosine([1, 0], [0, 5])).toBe(0);
    expect(cosine([1, -2], [-1, 2])).toBeCloseTo(-1, 12);
  });

  it('measures the angle', () => {
    expect(cosine([1, 0], [1, 1])).toBeCloseTo(Math.SQRT1_2, 12);
  });

  it('is 0 when either vector is all zeros, and for empty vectors', () => {
    expect(cosine([0, 0, 0], [1, 2, 3])).toBe(0);
    expect(cosine([1, 2, 3], [0, 0, 0])).toBe(0);
    expect(cosine([], [])).toBe(0);
  });

  it('refuses vectors of different lengths', () => {
    expect(() => cosine([1, 2], [1, 2, 3])).toThrow(RangeError);
    expect(() => cosine([1, 2], [1, 2, 3])).toThrow('different lengths (2 and 3)');
  });
});

describe("mock-llm's embedding", () => {
  it('is deterministic, of length 1, and ignores case and punctuation', () => {
    const v = mockEmbedding('Login fails: token expired!');
    expect(v).toHaveLength(MOCK_EMBEDDING_DIMENSIONS);
    expect(Math.hypot(...v)).toBeCloseTo(1, 5);
    expect(mockEmbedding('login FAILS token, expired')).toEqual(v);
    expect(v.every((x) => Math.fround(x) === x)).toBe(true);
  });

  it('gives texts sharing words a positive cosine, and a text without words zeros', () => {
    expect(cosine(mockEmbedding('login fails with expired token'), mockEmbedding('expired token breaks login'))).toBeGreaterThan(0.5);
    expect(mockEmbedding('?! …')).toEqual(new Array(MOCK_EMBEDDING_DIMENSIONS).fill(0));
    expect(mockEmbedding('')).toEqual(new Array(MOCK_EMBEDDING_DIMENSIONS).fill(0));
  });
});
