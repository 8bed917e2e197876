import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { nkeys } from '@nats-io/transport-node';
import { ConfigError } from '../shared/index.ts';
import { permissionsFor, PROCESS_KINDS, type ProcessKind } from './permissions.ts';

/** What `writeServerAuth` wrote: the server's configuration and each process kind's nkey seed file. */
export interface ServerAuth {
  /** The nats-server configuration file (its `authorization` block). */
  config: string;
  /** Each process kind's seed file, to give as NATS_NKEY. */
  seeds: Readonly<Record<ProcessKind, string>>;
}

/** The file a process kind's nkey seed is kept in, inside the credentials directory. */
export function seedFile(dir: string, kind: ProcessKind): string {
  return join(dir, `${kind}.nk`);
}

/**
 * Writes into `dir` a nats-server configuration with one nkey user per process kind, each with only
 * the permissions of its kind (bus/permissions.ts), and each kind's seed file (mode 0600). Seeds that
 * exist are kept, so processes keep their credentials; the configuration is written anew every time,
 * so that the permissions follow the code. The server holds public keys only.
 */
export async function writeServerAuth(dir: string, prefix = 'nightshift'): Promise<ServerAuth> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const users: string[] = [];
  const seeds = {} as Record<ProcessKind, string>;
  for (const kind of PROCESS_KINDS) {
    const file = seedFile(dir, kind);
    const pair = await readOrCreateSeed(file);
    seeds[kind] = file;
    const p = permissionsFor(kind, prefix);
    users.push(
      [
        `    # ${kind}`,
        `    { nkey: ${q(pair.getPublicKey())}, permissions: {`,
        `        publish: { allow: ${list(p.publish)} }`,
        `        subscribe: { allow: ${list(p.subscribe)} }`,
        ...(p.allowResponses ? ['        allow_responses: true'] : []),
        '    } }',
      ].join('\n'),
    );
  }
  const config = join(dir, 'nats-server.conf');
  const text = [
    `# Written by \`nightshift nats config\` for the subject prefix "${prefix}"; written anew each time, edits are lost.`,
    '# One nkey user per kind of nightshift process, each allowed only what its kind needs (bus/permissions.ts).',
    '# Start a server with it, e.g.: nats-server -c nats-server.conf -js -sd /var/lib/nats',
    '# Every process gets its kind\'s seed file as NATS_NKEY (coordinator.nk, refiner.nk, …, operator.nk, viewer.nk).',
    'authorization {',
    '  users = [',
    users.join('\n'),
    '  ]',
    '}',
    '',
  ].join('\n');
  await writeFile(`${config}.tmp`, text, { mode: 0o600 });
  await rename(`${config}.tmp`, config);
  return { config, seeds };
}

async function readOrCreateSeed(file: string): Promise<ReturnType<typeof nkeys.fromSeed>> {
  try {
    return nkeys.fromSeed(new TextEncoder().encode((await readFile(file, 'utf8')).trim()));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new ConfigError([{ path: file, message: `does not hold an nkey seed: ${(err as Error).message}` }]);
  }
  const pair = nkeys.createUser();
  await writeFile(file, `${new TextDecoder().decode(pair.getSeed())}\n`, { mode: 0o600, flag: 'wx' });
  return pair;
}

function q(s: string): string {
  return JSON.stringify(s);
}

function list(items: readonly string[]): string {
  return `[${items.map(q).join(', ')}]`;
}

/** One nats-server of a deployment: its name, where it listens, where it keeps JetStream data. */
export interface NodeSpec {
  /** server_name: unique in a cluster (JetStream needs it). */
  name: string;
  /** Client listen address, host:port. */
  listen: string;
  /** JetStream store directory (JetStream keeps it under `jetstream/` in there). */
  storeDir: string;
  /** The cluster this node is part of, absent for a single server. */
  cluster?: {
    name: string;
    /** Route listen address of this node, host:port. */
    listen: string;
    /** Route addresses (host:port) of every node of the cluster, this one's included. */
    routes: readonly string[];
  };
  /** JetStream file storage this node may use, in bytes (all streams at their bounds fit in it). */
  maxFileStore: number;
  /** Largest message a client may publish, in bytes. */
  maxPayload: number;
}

/**
 * The text of one node's nats-server configuration: server_name, listen, JetStream (store dir, file
 * store limit), cluster routes when it is part of a cluster, and the authorization block that
 * `writeServerAuth` wrote (included from `authFile`, relative to the node's file; none
 * without it: a server anyone may use, for tests).
 */
export function nodeConfigText(node: NodeSpec, authFile?: string): string {
  const lines = [
    `# nightshift nats-server node "${node.name}" (written by nightshift; edits are lost when it is written again)`,
    `server_name: ${q(node.name)}`,
    `listen: ${q(node.listen)}`,
    `max_payload: ${node.maxPayload}`,
    'jetstream {',
    `  store_dir: ${q(node.storeDir)}`,
    `  max_file_store: ${node.maxFileStore}`,
    '  max_memory_store: 268435456',
    '  # An acknowledged write is on a node\'s disk only once fsync\'d (every 2 minutes by default). To',
    '  # survive the power loss of a node, not only its process, trade throughput for it (nats-server',
    '  # 2.10 or later; docs/deploy.md):',
    '  # sync_interval: always',
    '}',
  ];
  if (node.cluster) {
    lines.push(
      'cluster {',
      `  name: ${q(node.cluster.name)}`,
      `  listen: ${q(node.cluster.listen)}`,
      '  # Routes carry every message between the nodes: keep them on a private network, or add TLS.',
      `  routes: [${node.cluster.routes.map((r) => q(`nats-route://${r}`)).join(', ')}]`,
      '}',
    );
  }
  if (authFile !== undefined) lines.push(`include ${q(authFile)}`);
  lines.push('');
  return lines.join('\n');
}

/**
 * Writes a node's configuration into `file` (mode 0600, atomically). nats-server resolves an include
 * relative to the including file, absolute paths too: `authFile` is written relative to `file`.
 */
export async function writeNodeConfig(file: string, node: NodeSpec, authFile?: string): Promise<void> {
  const include = authFile === undefined ? undefined : relative(dirname(file), resolve(dirname(file), authFile));
  await writeFile(`${file}.tmp`, nodeConfigText(node, include), { mode: 0o600 });
  await rename(`${file}.tmp`, file);
}
