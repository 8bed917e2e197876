// The transcript schemas alone: the LLM layer's entry would load the model client into every process.
import { Exchange, type TranscriptSink } from '../shared/llm/transcript.ts';
import type { Logger } from '../shared/index.ts';
import type { Bus } from './connection.ts';

/** Stay well under the server's message size limit. */
const MAX_BYTES = 3 * 1024 * 1024;

/**
 * Records model exchanges on the transcripts stream, one message per exchange, under
 * `P.transcripts.<ticketId>.<role>`. An exchange too large for one message keeps its response and
 * only the last messages of its request (replay needs the responses, not the whole prompt).
 */
export function createTranscriptSink(bus: Bus, log: Logger): TranscriptSink {
  return {
    async record(exchange) {
      let bytes = encode(exchange);
      if (bytes.byteLength > MAX_BYTES) {
        const messages = exchange.request.messages.slice(-2);
        bytes = encode({ ...exchange, request: { ...exchange.request, messages } });
        log.warn({ ticketId: exchange.ticketId, role: exchange.role }, 'transcript exchange too large: prompt shortened');
      }
      await bus.js.publish(bus.subjects.transcript(exchange.ticketId, exchange.role as never), bytes, { msgID: exchange.id });
    },
  };
}

/** Every recorded exchange of a ticket, in the order they were recorded. */
export async function readTranscript(bus: Bus, ticketId: string): Promise<Exchange[]> {
  const consumer = await bus.js.consumers.get(bus.names.transcriptsStream, { filter_subjects: bus.subjects.transcriptsOf(ticketId) });
  const { num_pending: pending } = await consumer.info(true);
  const out: Exchange[] = [];
  // Batches of what is still pending rather than one pull per exchange; a batch that brings
  // nothing within its expiry ends the read.
  while (out.length < pending) {
    const before = out.length;
    const batch = await consumer.fetch({ max_messages: Math.min(pending - out.length, 100), expires: 5_000 });
    for await (const m of batch) out.push(Exchange.parse(m.json()));
    if (out.length === before) break;
  }
  return out;
}

function encode(e: Exchange): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(e));
}
