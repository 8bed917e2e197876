import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect, it } from 'vitest';
import { BodyTooLargeError, readBody } from './http.ts';

/** Posts `body` to a server that reads it with `readBody(req, maxBytes)`; resolves with what it read or the error's name. */
async function roundTrip(body: Buffer, maxBytes: number, declareLength = true): Promise<string> {
  let settle!: (s: string) => void;
  const result = new Promise<string>((r) => (settle = r));
  const server = createServer((req, res) => {
    void readBody(req, maxBytes).then(
      (b) => `read ${b.length}: ${b.subarray(0, 5).toString()}`,
      (err: unknown) => (err instanceof BodyTooLargeError ? `too large (${err.maxBytes})` : `error ${String(err)}`),
    ).then((s) => {
      settle(s);
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const { port } = server.address() as AddressInfo;
    const req = request({ host: '127.0.0.1', port, method: 'POST', ...(declareLength && { headers: { 'content-length': body.length } }) });
    req.on('error', () => undefined);
    if (declareLength) req.end(body);
    else {
      // Written in two parts, the body goes chunked, with no Content-Length.
      req.write(body.subarray(0, 10));
      req.end(body.subarray(10));
    }
    return await result;
  } finally {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
}

it('reads a whole body within the limit', async () => {
  expect(await roundTrip(Buffer.from('hello world'), 100)).toBe('read 11: hello');
});

it('refuses a body whose Content-Length is over the limit, and one that streams past it', async () => {
  expect(await roundTrip(Buffer.alloc(2_000, 'x'), 1_000)).toBe('too large (1000)');
  expect(await roundTrip(Buffer.alloc(200_000, 'x'), 1_000, false)).toBe('too large (1000)');
});
