import { describe, expect, it } from 'vitest';
import type { Embedder } from '../../shared/llm/index.ts';
import { lexicalScores, rankSimilar, stem, terms, type Candidate } from './similarity.ts';

const ACCENTS: Candidate = {
  id: 'tk-accents000',
  title: 'slugify mangles accented letters',
  text: "Titles with accents come out broken.\n\nslugify('Crème Brûlée')\n\ncreme-brulee\n\ncr-me-br-l-e",
};
const DIACRITICS = { title: 'Accented characters turn into dashes in slugs', text: "slugify('Déjà vu') returns 'd-j-vu': letters with accents should stay, as plain letters." };
const UNRELATED: Candidate[] = [
  {
    id: 'tk-maxlength0',
    title: 'slugify: add a maxLength option',
    text: 'Long titles make long URLs. slugify(text, { maxLength }) should cut the slug to at most maxLength characters, never ending it with a dash.',
  },
  { id: 'tk-deploy0000', title: 'deploy crashes on an empty config file', text: "TypeError: Cannot read properties of null (reading 'targets') at plan (src/plan.js:14:22)" },
  { id: 'tk-login00000', title: 'Login page times out behind the proxy', text: 'The SSO redirect never completes when HTTPS_PROXY is set.' },
];

describe('terms', () => {
  it('splits identifiers, folds accents, drops stop words and stems', () => {
    expect(terms('The parseConfig function CRASHED while reading snake_case_keys in Crème')).toEqual([
      'parse',
      'config',
      'function',
      'crash',
      'read',
      'snake',
      'case',
      'key',
      'creme',
    ]);
  });

  it('brings inflections of a word together', () => {
    expect(new Set(['crashes', 'crashed', 'crashing', 'crash'].map(stem))).toEqual(new Set(['crash']));
    expect(stem('entries')).toBe('entry');
    expect(stem('404')).toBe('404');
  });
});

describe('lexical similarity', () => {
  it('scores two reports of one bug in different words above unrelated tickets', () => {
    const scores = lexicalScores(DIACRITICS, [ACCENTS, ...UNRELATED]);
    const [best, ...rest] = [...scores].sort((a, b) => b.score - a.score);
    expect(best!.id).toBe(ACCENTS.id);
    expect(best!.score).toBeGreaterThanOrEqual(0.2);
    for (const r of rest) expect(r.score).toBeLessThan(best!.score);
  });

  it('gives identical texts a score of 1 and disjoint ones 0', () => {
    const [same, none] = lexicalScores(ACCENTS, [ACCENTS, { id: 'x', title: 'kubernetes manifests', text: 'helm chart' }]);
    expect(same!.score).toBeCloseTo(1, 10);
    expect(none!.score).toBe(0);
  });

  it('gives an empty query a score of 0 against everything', () => {
    expect(lexicalScores({ title: 'the', text: 'a an' }, UNRELATED).map((s) => s.score)).toEqual([0, 0, 0]);
  });
});

describe('rankSimilar', () => {
  it('keeps only candidates above the threshold, best first, at most `limit`', async () => {
    const { method, similar } = await rankSimilar(DIACRITICS, [...UNRELATED, ACCENTS], { embedder: null, limit: 5 });
    expect(method).toBe('lexical');
    expect(similar.map((s) => s.id)).toEqual([ACCENTS.id]);
    const all = await rankSimilar(DIACRITICS, [...UNRELATED, ACCENTS], { embedder: null, limit: 2, minScore: 0 });
    expect(all.similar).toHaveLength(2);
    expect(all.similar[0]!.score).toBeGreaterThanOrEqual(all.similar[1]!.score);
  });

  it('uses the embedder when there is one: one batch, the query first', async () => {
    const batches: string[][] = [];
    const embedder: Embedder = {
      model: 'test-embeddings',
      embed: async (texts) => {
        batches.push([...texts]);
        // The query points along x; candidates at decreasing angles from it.
        return texts.map((_, i) => (i === 0 ? [1, 0] : [Math.cos(i / 2), Math.sin(i / 2)]));
      },
    };
    const { method, similar } = await rankSimilar(DIACRITICS, UNRELATED, { embedder, limit: 5, minScore: 0.5 });
    expect(method).toBe('embeddings');
    expect(batches).toHaveLength(1);
    expect(batches[0]![0]).toContain('Accented characters');
    expect(batches[0]).toHaveLength(4);
    expect(similar.map((s) => s.id)).toEqual(['tk-maxlength0', 'tk-deploy0000']);
    expect(similar[0]!.score).toBeCloseTo(Math.cos(0.5), 3);
  });

  it('asks nothing of the embedder when there is nothing to compare', async () => {
    const embedder: Embedder = { model: 'm', embed: async () => Promise.reject(new Error('must not be called')) };
    expect(await rankSimilar(DIACRITICS, [], { embedder, limit: 5 })).toEqual({ method: 'embeddings', similar: [] });
  });
});
