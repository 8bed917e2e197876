/*
 * mock-llm's embeddings: computed from the text (feature hashing of its words), never scripted, so that
 * equal texts get equal vectors and texts sharing words similar ones.
 */

/** The length of mock-llm's embeddings. */
export const MOCK_EMBEDDING_DIMENSIONS = 256;

/**
 * mock-llm's embedding of `text`: feature hashing of its lowercased words (runs of letters and digits),
 * each word adding ±1 to one of 256 dimensions (by its FNV-1a hash, mixed: the bucket from the low
 * bits, the sign from the top bit), then scaled to length 1 (all zeros for a text without words).
 * Values are float32, so the plain and base64 answers agree. Equal texts get equal vectors; texts
 * sharing words get a positive cosine, unless hash collisions happen to cancel it.
 */
export function mockEmbedding(text: string): number[] {
  const vector = new Array<number>(MOCK_EMBEDDING_DIMENSIONS).fill(0);
  for (const word of text.toLowerCase().split(/[^\p{L}\p{N}]+/u)) {
    if (!word) continue;
    const h = wordHash(word);
    const at = h % MOCK_EMBEDDING_DIMENSIONS;
    vector[at] = vector[at]! + (h >= 0x8000_0000 ? -1 : 1);
  }
  const norm = Math.sqrt(vector.reduce((sum, x) => sum + x * x, 0));
  return vector.map((x) => (norm === 0 ? 0 : Math.fround(x / norm)));
}

/**
 * 32-bit FNV-1a of the UTF-8 bytes of `s`, unsigned, with murmur3's finalizer: FNV-1a's low bits alone
 * put too many short words in one bucket.
 */
function wordHash(s: string): number {
  let h = 0x811c_9dc5;
  for (const byte of Buffer.from(s, 'utf8')) h = Math.imul(h ^ byte, 0x0100_0193);
  h = Math.imul(h ^ (h >>> 16), 0x85eb_ca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2_ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Base64 of little-endian float32s, as OpenAI answers `encoding_format: "base64"`. */
export function float32Base64(vector: readonly number[]): string {
  const bytes = Buffer.alloc(vector.length * 4);
  vector.forEach((x, i) => bytes.writeFloatLE(x, i * 4));
  return bytes.toString('base64');
}
