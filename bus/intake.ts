import { NoRespondersError, RequestError } from '@nats-io/transport-node';
import { IntakeReply } from '../shared/index.ts';
import type { Bus } from './connection.ts';

/** Whether a request failed because nothing serves its subject (no coordinator is running). */
export function isNoResponders(err: unknown): boolean {
  return err instanceof NoRespondersError || (err instanceof RequestError && err.isNoResponders());
}

/**
 * Posts a payload (JSON-encoded, or bytes sent as they are) on an intake subject — tickets or bugs —
 * and returns the validated reply. Rejects with the NATS error when nothing answers: `isNoResponders`
 * tells the case where no coordinator serves the subject.
 */
export async function requestIntake(bus: Bus, subject: string, payload: unknown, timeoutMs: number): Promise<IntakeReply> {
  const data = payload instanceof Uint8Array ? payload : JSON.stringify(payload);
  const msg = await bus.nc.request(subject, data, { timeout: timeoutMs });
  return IntakeReply.parse(msg.json());
}
