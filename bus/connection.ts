import { readFile } from 'node:fs/promises';
import {
  AuthorizationError,
  connect,
  credsAuthenticator,
  nkeyAuthenticator,
  tokenAuthenticator,
  usernamePasswordAuthenticator,
  type Authenticator,
  type NatsConnection,
  type NodeConnectionOptions,
} from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { AgentError, redactUrl, UserInputError, type Config, type Logger } from '../shared/index.ts';
import { inboxPrefix, type ProcessKind } from './permissions.ts';
import { createNames, createSubjects, type Names, type Subjects } from './subjects.ts';

export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';

/** How a process authenticates to NATS (file paths are read at connect time) and its TLS files. */
export interface BusAuth {
  /** A `.creds` file: a user JWT and its nkey seed (decentralized auth). */
  creds?: string;
  /** A file holding an nkey user seed. */
  nkey?: string;
  user?: string;
  password?: string;
  token?: string;
  /** PEM files: the CA of the server's certificate, and a client certificate with its key. */
  tls?: { ca?: string; cert?: string; key?: string };
}

/** The first connection to NATS failed; the message never carries a password. */
export class BusConnectError extends AgentError {
  constructor(url: string, reason: string, opts?: { cause?: unknown }) {
    super('nats_unreachable', `cannot connect to NATS at ${url}: ${reason}`, { retryable: true, ...opts });
  }
}

async function connectionAuth(auth: BusAuth): Promise<Pick<NodeConnectionOptions, 'authenticator' | 'tls'>> {
  const read = async (what: string, path: string) => {
    try {
      return await readFile(path);
    } catch (err) {
      throw new UserInputError('nats_credentials_unreadable', `cannot read the ${what} ${path}: ${(err as Error).message}`);
    }
  };
  let authenticator: Authenticator | undefined;
  if (auth.creds) authenticator = credsAuthenticator(await read('NATS credentials file', auth.creds));
  else if (auth.nkey) {
    const seed = new TextDecoder().decode(await read('nkey seed file', auth.nkey)).trim();
    if (!/^SU[A-Z2-7]{56}$/.test(seed)) throw new UserInputError('nats_credentials_invalid', `${auth.nkey} does not hold an nkey user seed (SU…)`);
    authenticator = nkeyAuthenticator(new TextEncoder().encode(seed));
  } else if (auth.user !== undefined) authenticator = usernamePasswordAuthenticator(auth.user, auth.password);
  else if (auth.token !== undefined) authenticator = tokenAuthenticator(auth.token);
  const tls = auth.tls && (auth.tls.ca || auth.tls.cert)
    ? { ...(auth.tls.ca && { caFile: auth.tls.ca }), ...(auth.tls.cert && { certFile: auth.tls.cert }), ...(auth.tls.key && { keyFile: auth.tls.key }) }
    : undefined;
  return { ...(authenticator && { authenticator }), ...(tls && { tls }) };
}

/** The connection settings of `config` for one kind of process. */
export function busOptionsOf(
  config: Pick<Config, 'NATS_URL' | 'NIGHTSHIFT_PREFIX' | 'NATS_CREDS' | 'NATS_NKEY' | 'NATS_USER' | 'NATS_PASSWORD' | 'NATS_TOKEN' | 'NATS_CA' | 'NATS_CERT' | 'NATS_KEY'>,
  kind: ProcessKind,
): Pick<ConnectOptions, 'url' | 'prefix' | 'kind' | 'auth'> {
  const auth: BusAuth = {
    ...(config.NATS_CREDS && { creds: config.NATS_CREDS }),
    ...(config.NATS_NKEY && { nkey: config.NATS_NKEY }),
    ...(config.NATS_USER && { user: config.NATS_USER, password: config.NATS_PASSWORD }),
    ...(config.NATS_TOKEN && { token: config.NATS_TOKEN }),
    ...((config.NATS_CA || config.NATS_CERT) && { tls: { ca: config.NATS_CA, cert: config.NATS_CERT, key: config.NATS_KEY } }),
  };
  return { ...(config.NATS_URL && { url: config.NATS_URL }), prefix: config.NIGHTSHIFT_PREFIX, kind, auth };
}

/** A live connection to the bus and everything derived from it. */
export interface Bus {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly subjects: Subjects;
  readonly names: Names;
  /** The tickets KV bucket (provisioned by `provision`). */
  tickets(): Promise<KV>;
  /** Whether the connection is up now: false while it reconnects, and once it is closed. */
  connected(): boolean;
  /** Drains subscriptions and pending publishes, then closes. Safe to call twice. */
  close(): Promise<void>;
}

export interface ConnectOptions {
  /** One server URL, or a comma-separated list (a cluster). */
  url?: string;
  prefix?: string;
  /** Which kind of process connects: it names the inbox its replies come to (see permissions.ts). */
  kind?: ProcessKind;
  /** How to authenticate and whether to use TLS; nothing: an anonymous connection. */
  auth?: BusAuth;
  /** Connection name shown by the server (e.g. `nightshift-coordinator`). */
  name: string;
  log: Logger;
  /** Give up on the first connect after this long (the server may still be starting). */
  connectTimeoutMs?: number;
}

/**
 * Connects with reconnect forever (a restarted server is found again) and logs connection changes.
 * The first connect is retried until `connectTimeoutMs`, then fails with the server's error.
 */
export async function connectBus(opts: ConnectOptions): Promise<Bus> {
  const url = opts.url ?? DEFAULT_NATS_URL;
  const servers = url.split(',').map((u) => u.trim());
  const deadline = Date.now() + (opts.connectTimeoutMs ?? 10_000);
  const inbox = opts.kind ? inboxPrefix(opts.kind) : undefined;
  const auth = await connectionAuth(opts.auth ?? {});
  let nc: NatsConnection;
  for (;;) {
    try {
      nc = await connect({
        servers,
        name: opts.name,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
        pingInterval: 10_000,
        timeout: 2_000,
        // No Error object built (for its stack) on every request, JetStream publish and KV read
        // made: that was a fifth of the coordinator's CPU time under load. A failed request still
        // throws its error, with where the client found it.
        noAsyncTraces: true,
        ...auth,
        ...(inbox && { inboxPrefix: inbox }),
      });
      break;
    } catch (err) {
      // Refused credentials do not get better by retrying.
      if (Date.now() >= deadline || err instanceof AuthorizationError) {
        throw new BusConnectError(redactUrl(url), redactUrl(err instanceof Error ? err.message : String(err)), { cause: err });
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  let up = true;
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') up = false;
      if (s.type === 'reconnect') up = true;
      if (s.type === 'disconnect' || s.type === 'reconnect' || s.type === 'error') {
        const server = 'server' in s && typeof s.server === 'string' ? redactUrl(s.server) : undefined;
        opts.log.warn({ status: s.type, server, ...(s.type === 'error' && { error: redactUrl(String(s.error)) }) }, 'nats connection status');
      }
    }
  })();
  const js = jetstream(nc, inbox ? { watcherPrefix: inbox } : {});
  const jsm = await jetstreamManager(nc, { checkAPI: false, ...(inbox && { watcherPrefix: inbox }) });
  const subjects = createSubjects(opts.prefix);
  const names = createNames(opts.prefix);
  let kv: Promise<KV> | undefined;
  let closing: Promise<void> | undefined;
  return {
    nc,
    js,
    jsm,
    subjects,
    names,
    tickets: () => (kv ??= new Kvm(js).open(names.ticketsBucket)),
    connected: () => up && !nc.isClosed(),
    close: () =>
      (closing ??= (async () => {
        if (nc.isClosed()) return;
        try {
          await nc.drain();
        } catch {
          await nc.close();
        }
      })()),
  };
}
