import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { UserInputError } from './errors.ts';

/** Starts `server` listening on `host:port`; resolves with its `http://host:port` URL (the actual port when 0 was asked for). */
export async function listenHttp(server: Server, host: string, port: number): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  return `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
}

/** A request body over the limit `readBody` was given. */
export class BodyTooLargeError extends UserInputError {
  readonly maxBytes: number;
  constructor(maxBytes: number) {
    super('body_too_large', `the request body is over ${maxBytes} bytes`);
    this.maxBytes = maxBytes;
  }
}

/**
 * The whole body of an HTTP request. Over `maxBytes` (by its Content-Length, or as it streams in) it
 * rejects with BodyTooLargeError and stops collecting.
 */
export function readBody(req: IncomingMessage, maxBytes = Number.POSITIVE_INFINITY): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    if (Number(req.headers['content-length'] ?? 0) > maxBytes) return reject(new BodyTooLargeError(maxBytes));
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        req.removeAllListeners('data');
        reject(new BodyTooLargeError(maxBytes));
      } else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
