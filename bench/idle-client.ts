/**
 * The memory benchmark's baseline: a bare Node process that connects to NATS and idles, so that an
 * agent's RSS reads against what any Node process on the bus costs on this machine. Arguments: the
 * server URL(s), comma-separated, and optionally an nkey seed file. Prints `ready` once connected;
 * closes and exits on SIGTERM.
 */
import { readFileSync } from 'node:fs';
import { connect, nkeyAuthenticator } from '@nats-io/transport-node';

const [servers = '', seedFile] = process.argv.slice(2);
const nc = await connect({
  servers: servers.split(','),
  waitOnFirstConnect: true,
  maxReconnectAttempts: -1,
  ...(seedFile && { authenticator: nkeyAuthenticator(new TextEncoder().encode(readFileSync(seedFile, 'utf8').trim())) }),
});
process.stdout.write('ready\n');
process.once('SIGTERM', () => void nc.close().finally(() => process.exit(0)));
