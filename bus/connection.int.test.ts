import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../shared/index.ts';
import { logSink } from '../test/helpers/env.ts';
import { startNatsServer } from '../test/helpers/nats.ts';
import { connectBus } from './connection.ts';

/** A throwaway CA, and a server and a client certificate it signed (openssl). */
function makeCertificates(dir: string): void {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca-key.pem', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=nightshift-test-ca');
  for (const name of ['server', 'client']) {
    writeFileSync(join(dir, `${name}.ext`), name === 'server' ? 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' : 'extendedKeyUsage=clientAuth\n');
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}-key.pem`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    ssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`);
  }
}

describe('connecting to the bus', () => {
  const sink = logSink();

  it('takes a comma-separated list of servers and connects to one that is up', async () => {
    await using nats = await startNatsServer();
    const url = `nats://127.0.0.1:${await freePort()}, ${nats.url}`;
    const bus = await connectBus({ url, name: 'list', log: sink.log });
    expect(bus.nc.getServer()).toBe(`127.0.0.1:${nats.port}`);
    await bus.close();
  });

  it('never puts a password into its error', async () => {
    const url = `nats://alice:s3cret-pw@127.0.0.1:${await freePort()}`;
    const err = await connectBus({ url, name: 'secret', log: sink.log, connectTimeoutMs: 500 }).then(
      () => new Error('connected to a port nothing listens on'),
      (e: unknown) => e as Error,
    );
    expect(err.message).toMatch(/cannot connect to NATS at nats:\/\/alice:\*\*\*@127\.0\.0\.1/);
    expect(err.message).not.toContain('s3cret-pw');
    expect(JSON.stringify(sink.lines)).not.toContain('s3cret-pw');
  });

  it.each([
    ['user and password', 'authorization { user: "ana", password: "pw-s3cret" }', { user: 'ana', password: 'pw-s3cret' }, { user: 'ana', password: 'wrong' }],
    ['a token', 'authorization { token: "tok-s3cret" }', { token: 'tok-s3cret' }, { token: 'wrong' }],
  ])('authenticates with %s, and is refused with a wrong one', async (_what, conf, good, bad) => {
    const dir = mkdtempSync(join(tmpdir(), 'nightshift-auth-'));
    try {
      writeFileSync(join(dir, 'auth.conf'), `${conf}\n`);
      await using nats = await startNatsServer({ config: join(dir, 'auth.conf') });
      const bus = await connectBus({ url: nats.url, name: 'good', auth: good, log: sink.log });
      await bus.nc.flush();
      await bus.close();
      const err = await connectBus({ url: nats.url, name: 'bad', auth: bad, log: sink.log, connectTimeoutMs: 5_000 }).then(
        () => new Error('connected with a wrong secret'),
        (e: unknown) => e as Error,
      );
      expect(err.message).toMatch(/Authorization Violation/);
      expect(JSON.stringify(sink.lines)).not.toMatch(/pw-s3cret|tok-s3cret/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('over TLS with a client certificate', () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'nightshift-tls-'));
      makeCertificates(dir);
      writeFileSync(
        join(dir, 'tls.conf'),
        `tls { cert_file: "${join(dir, 'server.pem')}", key_file: "${join(dir, 'server-key.pem')}", ca_file: "${join(dir, 'ca.pem')}", verify: true }\n`,
      );
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('connects with the CA and a client certificate, and is refused without the certificate', async () => {
      await using nats = await startNatsServer({ config: join(dir, 'tls.conf') });
      const url = `tls://127.0.0.1:${nats.port}`;
      const tls = { ca: join(dir, 'ca.pem'), cert: join(dir, 'client.pem'), key: join(dir, 'client-key.pem') };
      const bus = await connectBus({ url, name: 'tls', auth: { tls }, log: sink.log });
      await bus.nc.flush();
      expect(bus.nc.info?.tls_required).toBe(true);
      await bus.close();
      await expect(connectBus({ url, name: 'no-cert', auth: { tls: { ca: tls.ca } }, log: sink.log, connectTimeoutMs: 1_000 })).rejects.toThrow(/cannot connect to NATS/);
    });
  });
});
