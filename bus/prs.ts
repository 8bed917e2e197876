import { createHash } from 'node:crypto';
import { Kvm, type KV } from '@nats-io/kv';
import { PullRequest, type PullRequestStore } from '../shared/index.ts';
import type { Bus } from './connection.ts';
import { isWrongLastSequence } from './records.ts';

/** Recorded pull requests in the `P-prs` KV bucket: `pr.<ticketId>`, and `seq.<repo hash>` counters. */
export async function createPullRequestStore(bus: Bus): Promise<PullRequestStore> {
  const kv: KV = await new Kvm(bus.js).open(bus.names.prsBucket);
  const key = (ticketId: string) => `pr.${ticketId}`;
  const encode = (pr: PullRequest) => new TextEncoder().encode(JSON.stringify(PullRequest.parse(pr)));
  const read = async (k: string) => {
    const e = await kv.get(k);
    return e && e.operation === 'PUT' ? PullRequest.parse(e.json()) : null;
  };
  return {
    get: (ticketId) => read(key(ticketId)),
    async create(pr) {
      try {
        await kv.create(key(pr.ticketId), encode(pr));
        return true;
      } catch (err) {
        if (isWrongLastSequence(err)) return false;
        throw err;
      }
    },
    async put(pr) {
      await kv.put(key(pr.ticketId), encode(pr));
    },
    async list() {
      const keys: string[] = [];
      for await (const k of await kv.keys('pr.*')) keys.push(k);
      const prs = (await Promise.all(keys.map(read))).filter((p): p is PullRequest => p !== null);
      return prs.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
    },
    async nextNumber(repo) {
      const k = `seq.${createHash('sha256').update(repo).digest('hex').slice(0, 16)}`;
      for (;;) {
        const e = await kv.get(k);
        const n = e && e.operation === 'PUT' ? Number(e.string()) + 1 : 1;
        try {
          if (e && e.operation === 'PUT') await kv.update(k, String(n), e.revision);
          else await kv.create(k, String(n));
          return n;
        } catch (err) {
          if (!isWrongLastSequence(err)) throw err;
        }
      }
    },
  };
}
