/**
 * Free loopback TCP ports, for a server that has to be told its port before it starts (a child
 * process, a nats-server). Another process may take a port between the check and the bind; code that
 * binds the socket itself listens on port 0 instead.
 */
import { createServer } from 'node:net';
import { CommandError } from './errors.ts';

/** A loopback port nothing listens on now (bound, then released). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** The first of `count` consecutive free loopback ports (as `nightshift up --cluster` takes them from --port). */
export async function freePortRange(count: number, host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 30_000);
    let free = true;
    for (let p = base; p < base + count && free; p++) free = await portFree(p, host);
    if (free) return base;
  }
  throw new CommandError('no_free_ports', `no ${count} consecutive free ports found`);
}

function portFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}
