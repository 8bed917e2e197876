import { cosine, type Embedder } from '../../shared/llm/index.ts';

/** A text to compare a report with: an open ticket or report, by id. */
export interface Candidate {
  id: string;
  title: string;
  /** Everything else the ticket says (description, steps, logs…). */
  text: string;
}

export interface Scored {
  id: string;
  title: string;
  /** Cosine similarity in [0, 1] for the lexical method; the embedding model's cosine otherwise. */
  score: number;
}

export type SimilarityMethod = 'lexical' | 'embeddings';

// Words that say nothing about which bug a report is about.
const STOPWORDS = new Set(
  `a about above after again against all am an and any are as at be because been before being below between both but by
  can could did do does doing down during each few for from further had has have having he her here hers him his how i if
  in into is it its itself just me more most my no nor not now of off on once only or other our out over own same she
  should so some such than that the their them then there these they this those through to too under until up very was we
  were what when where which while who whom why will with would you your yours also get gets got instead still when
  whenever happens happen happened bug bugs issue problem please thanks hi hello`.split(/\s+/),
);

/** A crude English stemmer: enough that "crashes", "crashed" and "crashing" meet at "crash". */
export function stem(word: string): string {
  if (/^\d+$/.test(word) || word.length <= 3) return word;
  const rules: [RegExp, string][] = [
    [/ies$/, 'y'],
    [/ied$/, 'y'],
    [/(ss)es$/, '$1'],
    [/([sxz]|ch|sh)es$/, '$1'],
    [/ing$/, ''],
    [/ed$/, ''],
    [/ly$/, ''],
    [/([^s])s$/, '$1'],
  ];
  for (const [re, to] of rules) {
    if (!re.test(word)) continue;
    const out = word.replace(re, to);
    if (out.length >= 3) return out.replace(/(.)\1$/, '$1');
  }
  return word;
}

/**
 * The terms of a text: identifiers split at camelCase and snake_case, accents folded, lower case,
 * stop words dropped, stemmed.
 */
export function terms(text: string): string[] {
  const words = text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .match(/[a-z0-9]+/g);
  return (words ?? []).filter((w) => w.length >= 2 && !STOPWORDS.has(w)).map(stem);
}

/** A title counts twice: it is what the reporter thought the bug was. */
function documentTerms(c: { title: string; text: string }): string[] {
  const title = terms(c.title);
  return [...title, ...title, ...terms(c.text)];
}

/**
 * Lexical similarity: TF-IDF vectors (log term frequency, smoothed inverse document frequency over
 * the query and the candidates) compared by cosine. Deterministic, needs no model, and good at what
 * bug reports share when they describe the same fault: identifiers, error messages, stack frames.
 */
export function lexicalScores(query: { title: string; text: string }, candidates: readonly Candidate[]): Scored[] {
  const docs = [query, ...candidates].map((d) => counts(documentTerms(d)));
  const df = new Map<string, number>();
  for (const doc of docs) for (const term of doc.keys()) df.set(term, (df.get(term) ?? 0) + 1);
  const n = docs.length;
  const vector = (doc: Map<string, number>) => {
    const v = new Map<string, number>();
    for (const [term, count] of doc) v.set(term, (1 + Math.log(count)) * (Math.log((n + 1) / ((df.get(term) ?? 0) + 1)) + 1));
    return v;
  };
  const [q, ...rest] = docs.map(vector);
  return candidates.map((c, i) => ({ id: c.id, title: c.title, score: sparseCosine(q!, rest[i]!) }));
}

function counts(words: readonly string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const w of words) m.set(w, (m.get(w) ?? 0) + 1);
  return m;
}

function sparseCosine(a: Map<string, number>, b: Map<string, number>): number {
  let dot = 0;
  for (const [term, x] of a) dot += x * (b.get(term) ?? 0);
  const norm = (v: Map<string, number>) => Math.sqrt([...v.values()].reduce((s, x) => s + x * x, 0));
  const d = norm(a) * norm(b);
  return d === 0 ? 0 : dot / d;
}

export interface RankOptions {
  /** Set when an embeddings model is configured; otherwise the lexical method is used. */
  embedder: Embedder | null;
  /** Scores below this are not similar enough to show; by default 0.2 (lexical) or 0.5 (embeddings). */
  minScore?: number | undefined;
  /** At most this many, best first. */
  limit: number;
  signal?: AbortSignal;
}

export const DEFAULT_MIN_SCORE: Readonly<Record<SimilarityMethod, number>> = { lexical: 0.2, embeddings: 0.5 };

/** The candidates most similar to the query, best first, above the threshold; ties go to the older id order given. */
export async function rankSimilar(
  query: { title: string; text: string },
  candidates: readonly Candidate[],
  opts: RankOptions,
): Promise<{ method: SimilarityMethod; similar: Scored[] }> {
  const method: SimilarityMethod = opts.embedder ? 'embeddings' : 'lexical';
  let scored: Scored[];
  if (candidates.length === 0) scored = [];
  else if (opts.embedder) {
    const texts = [query, ...candidates].map((c) => `${c.title}\n\n${c.text}`.slice(0, 8_000));
    const [q, ...vectors] = await opts.embedder.embed(texts, opts.signal);
    scored = candidates.map((c, i) => ({ id: c.id, title: c.title, score: cosine(q!, vectors[i]!) }));
  } else {
    scored = lexicalScores(query, candidates);
  }
  const min = opts.minScore ?? DEFAULT_MIN_SCORE[method];
  const similar = scored
    .map((s, i) => ({ s, i }))
    .filter(({ s }) => s.score >= min)
    .sort((a, b) => b.s.score - a.s.score || a.i - b.i)
    .slice(0, opts.limit)
    .map(({ s }) => ({ ...s, score: Math.round(s.score * 1000) / 1000 }));
  return { method, similar };
}
