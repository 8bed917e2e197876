import { join, resolve } from 'node:path';
import { limitsFromConfig, storeBytesNeeded, writeNodeConfig, writeServerAuth, type Limits, type ServerAuth } from '../bus/index.ts';
import { UsageError } from '../shared/index.ts';
import { credentialsDir } from './bus.ts';
import { configFrom, parse, type Ctx } from './command.ts';

/** `nightshift nats config`: writes the configurations and prints where, or what, with --json. */
export function natsCommand(ctx: Ctx, argv: string[]): Promise<number> {
  const [sub, ...args] = argv;
  if (sub === 'config') return natsConfig(ctx, args);
  throw new UsageError('nats needs a subcommand: config');
}

async function natsConfig(ctx: Ctx, argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {
    dir: { type: 'string' },
    cluster: { type: 'string' },
    routes: { type: 'string' },
    listen: { type: 'string' },
    'store-dir': { type: 'string', default: '/var/lib/nats' },
  });
  if (positionals.length) throw new UsageError('nats config takes no arguments');
  const size = values.cluster === undefined ? undefined : Number(values.cluster);
  if (size !== undefined && (!Number.isInteger(size) || size < 3 || size > 9)) throw new UsageError(`--cluster ${values.cluster}: a number of nodes from 3 to 9`);
  const routes = values.routes?.split(',').map((r) => r.trim()).filter(Boolean);
  if (size !== undefined && routes?.length !== size) {
    throw new UsageError(`--cluster ${size} needs --routes with the route address (host:port) of each of the ${size} nodes, in order`);
  }
  if (size === undefined && routes) throw new UsageError('--routes goes with --cluster <nodes>');
  const config = configFrom(ctx, values, true);
  const dir = values.dir ? resolve(ctx.cwd, values.dir) : credentialsDir(config, ctx.cwd);
  const written = await writeNatsConfig({
    dir,
    prefix: config.NIGHTSHIFT_PREFIX,
    limits: limitsFromConfig(config),
    listen: (values.listen ?? '0.0.0.0:4222').split(',').map((l) => l.trim()),
    storeRoot: resolve(ctx.cwd, values['store-dir']),
    ...(routes && { routes }),
  });
  const { auth, nodes } = written;
  ctx.out(
    { config: auth.config, seeds: auth.seeds, nodes, replicas: size === undefined ? 1 : 3 },
    [
      `authorization (users and permissions): ${auth.config}`,
      ...(size === undefined
        ? [`server configuration: ${nodes[0]!.file}`, `  start it:  nats-server -c ${nodes[0]!.file}`]
        : [
            `a ${size}-node JetStream cluster, one file per node (each includes nats-server.conf: copy both to the node's host):`,
            ...nodes.map((n) => `  ${n.name}  ${n.file}  (clients ${n.listen}, data ${n.storeDir})`),
            `  start each:  nats-server -c <its file>`,
            `  every nightshift process: NATS_URL=<the nodes' client URLs, comma-separated> NIGHTSHIFT_JS_REPLICAS=3`,
          ]),
      `  or with the authorization only:  nats-server -c ${auth.config} -js -sd <data dir>`,
      'seed files (give each process its own as NATS_NKEY):',
      ...Object.entries(auth.seeds).map(([kind, file]) => `  ${kind.padEnd(12)} ${file}`),
    ].join('\n'),
  );
  return 0;
}

/** One node's configuration file as written, and where its clients connect. */
export interface WrittenNode {
  name: string;
  file: string;
  listen: string;
  storeDir: string;
}

export interface NatsConfigOptions {
  /** Where the files go: the authorization block, the seeds, and each node's configuration. */
  dir: string;
  prefix: string;
  /** The stream and bucket bounds (the JetStream file store is sized to hold them all). */
  limits: Limits;
  /** Client listen address of each node (host:port); one address is used for every node. */
  listen: readonly string[];
  /** JetStream store root: each node keeps its data in `<storeRoot>/<node name>`. */
  storeRoot: string;
  /** An N-node cluster: the route address (host:port) of each node, in order. */
  routes?: readonly string[];
  /** The cluster's name (the same on every node). */
  clusterName?: string;
}

/** The written configuration: the authorization (and seeds) and the nodes. */
export interface NatsConfig {
  auth: ServerAuth;
  nodes: WrittenNode[];
}

const MiB = 1024 ** 2;
/** The largest message a client may publish: nats-server's default, which nightshift's bounds assume. */
export const MAX_PAYLOAD = MiB;

/**
 * Writes nats-server configurations that match the code: `nats-server.conf` (the users and
 * permissions of every process kind, with their seeds), and one node file that includes it: one
 * `server.conf`, or `n1.conf … nN.conf` for an N-node cluster with its routes. Every node's
 * JetStream file store is sized for every stream and bucket at its bound (each node holds a copy).
 */
export async function writeNatsConfig(opts: NatsConfigOptions): Promise<NatsConfig> {
  const size = opts.routes?.length ?? 1;
  if (opts.routes && (size < 3 || size > 9)) {
    throw new UsageError(`a JetStream cluster here has 3 to 9 nodes (3 for NIGHTSHIFT_JS_REPLICAS=3), not ${size}`);
  }
  for (const addr of [...opts.listen, ...(opts.routes ?? [])]) hostPort(addr);
  if (opts.listen.length !== 1 && opts.listen.length !== size) {
    throw new UsageError(`give one client listen address for every node, or one for each of the ${size} nodes (got ${opts.listen.length})`);
  }
  const auth = await writeServerAuth(opts.dir, opts.prefix);
  const maxFileStore = Math.ceil((storeBytesNeeded(opts.limits) * 1.1) / MiB) * MiB;
  const nodes: WrittenNode[] = [];
  for (let i = 0; i < size; i++) {
    const name = opts.routes ? `n${i + 1}` : 'nightshift';
    const file = join(opts.dir, opts.routes ? `${name}.conf` : 'server.conf');
    const listen = opts.listen[opts.listen.length === 1 ? 0 : i]!;
    const storeDir = join(opts.storeRoot, name);
    await writeNodeConfig(
      file,
      {
        name,
        listen,
        storeDir,
        maxFileStore,
        maxPayload: MAX_PAYLOAD,
        ...(opts.routes && { cluster: { name: opts.clusterName ?? 'nightshift', listen: opts.routes[i]!, routes: opts.routes } }),
      },
      'nats-server.conf',
    );
    nodes.push({ name, file, listen, storeDir });
  }
  return { auth, nodes };
}

/** Checks a host:port address. */
export function hostPort(addr: string): { host: string; port: number } {
  const m = /^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):(\d{1,5})$/.exec(addr.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || port < 1 || port > 65_535) throw new UsageError(`"${addr}" is not host:port`);
  return { host: m[1]!, port };
}
