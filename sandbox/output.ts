/**
 * Collects stdout and stderr of one run up to a byte budget shared by both. The chunk that crosses the
 * budget is cut at it, `exceeded` becomes true, `onExceeded` is called once, and everything after is
 * dropped. Callers kill the command from `onExceeded`.
 */
export class OutputCapture {
  readonly #max: number;
  readonly #onExceeded: () => void;
  readonly #chunks: { stdout: Buffer[]; stderr: Buffer[] } = { stdout: [], stderr: [] };
  #total = 0;
  #exceeded = false;

  constructor(maxBytes: number, onExceeded: () => void) {
    this.#max = maxBytes;
    this.#onExceeded = onExceeded;
  }

  get exceeded(): boolean {
    return this.#exceeded;
  }

  push(stream: 'stdout' | 'stderr', chunk: Buffer): void {
    if (this.#exceeded || chunk.length === 0) return;
    const room = this.#max - this.#total;
    if (chunk.length > room) {
      if (room > 0) this.#chunks[stream].push(Buffer.from(chunk.subarray(0, room)));
      this.#total = this.#max;
      this.#exceeded = true;
      this.#onExceeded();
      return;
    }
    this.#chunks[stream].push(chunk);
    this.#total += chunk.length;
  }

  /** What was kept of `stream`, decoded as UTF-8 (invalid or cut sequences become U+FFFD). */
  text(stream: 'stdout' | 'stderr'): string {
    return Buffer.concat(this.#chunks[stream]).toString('utf8');
  }
}
