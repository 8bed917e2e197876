import type Docker from 'dockerode';
import { parseCidr, type AllowRule, type Cidr } from '../shared/index.ts';
import { ipv4Rules, ipv6Rules, localAddressesOf, resolversOf } from './egress.ts';
import { engineError, errorText, execIn, runToEnd } from './engine.ts';
import { SandboxError } from './errors.ts';
import { GATE_IMAGE } from './images.ts';

/** Bound on each step of opening a gate (create, start, read, apply). */
const GATE_STEP_MS = 30_000;

/** Label on a gate container (besides the sandbox labels), so that leftovers are recognisable. */
export const GATE_LABEL = 'nightshift.gate';

/** Where and how a gate is opened. */
export interface GateOptions {
  /** The Docker network the setup step runs on; a `bridge`-driver network. */
  network: string;
  /** TCP destinations allowed although private (NIGHTSHIFT_SETUP_ALLOW). */
  allow: readonly AllowRule[];
  /** Labels for the gate's containers (the sandbox's run id and deadline). */
  labels: Record<string, string>;
  /** The gate image; default `GATE_IMAGE`. */
  image?: string;
}

/** An open gate: a running container whose network namespace holds the egress rules. */
export interface Gate {
  /** The gate container's id: a setup container joins it with `NetworkMode: container:<id>`. */
  readonly id: string;
  /** What the rules were made of, for logs and tests. */
  readonly policy: { resolvers: string[]; deny: string[]; allow: string[] };
  /** Removes the gate container. Never throws. */
  close(): Promise<void>;
}

/**
 * Opens the egress gate of one dependency-setup run:
 *
 * 1. reads the engine host's own IPv4 addresses and resolvers (a throwaway container of the gate
 *    image on the host's network reads /proc/net/fib_trie and /etc/resolv.conf; this is the host the
 *    engine runs on, wherever nightshift itself runs);
 * 2. reads the network's gateways and subnets (it must be a `bridge`-driver network);
 * 3. starts the gate container on that network as root with CAP_NET_ADMIN only, IPv6 disabled,
 *    a read-only root, and `sleep infinity` as its only process;
 * 4. reads the resolvers Docker gave it (/etc/resolv.conf; when that is Docker's embedded DNS at
 *    127.0.0.11, the host's resolvers it forwards to as well) and loads the rules of `ipv4Rules` /
 *    `ipv6Rules` with iptables-restore / ip6tables-restore.
 *
 * The setup container then joins the gate's namespace with no capabilities, so it cannot change the
 * rules. Any failure removes what was created and throws SandboxError (`image_missing` when the gate
 * image is not built, `invalid_spec` for an unusable network, `sandbox_failed` otherwise): a setup
 * step never runs without its gate.
 */
export async function openGate(docker: Docker, options: GateOptions): Promise<Gate> {
  const image = options.image ?? GATE_IMAGE;
  const subnets = await networkRanges(docker, options.network);
  const host = await engineHost(docker, image, options.labels);

  let container: Docker.Container;
  try {
    container = await docker.createContainer({
      Image: image,
      Entrypoint: ['sleep'],
      Cmd: ['infinity'],
      User: '0:0',
      // The setup container shares this namespace, and with it this hostname.
      Hostname: 'sandbox',
      Labels: { ...options.labels, [GATE_LABEL]: '1' },
      HostConfig: {
        NetworkMode: options.network,
        CapDrop: ['ALL'],
        CapAdd: ['NET_ADMIN'],
        SecurityOpt: ['no-new-privileges'],
        ReadonlyRootfs: true,
        Tmpfs: { '/run': 'rw,noexec,nosuid,nodev,size=1m', '/tmp': 'rw,noexec,nosuid,nodev,size=1m' },
        Sysctls: { 'net.ipv6.conf.all.disable_ipv6': '1', 'net.ipv6.conf.default.disable_ipv6': '1' },
        PidsLimit: 32,
        Memory: 64 * 1024 * 1024,
        MemorySwap: 64 * 1024 * 1024,
        IpcMode: 'private',
        LogConfig: { Type: 'none', Config: {} },
      },
    });
  } catch (err) {
    throw engineError(err, image, `create the egress gate on network ${options.network}`);
  }
  const close = () => container.remove({ force: true, v: true }).then(() => undefined, () => undefined);
  try {
    await container.start();
    const resolvConf = await execIn(docker, container, ['cat', '/etc/resolv.conf'], { timeoutMs: GATE_STEP_MS });
    if (resolvConf.exitCode !== 0) throw gateFailed(`could not read the gate's resolv.conf: ${resolvConf.stderr.trim()}`);
    const own = resolversOf(resolvConf.stdout);
    // On a user-defined network the container's resolver is Docker's embedded DNS at 127.0.0.11, which
    // forwards to the host's resolvers from the container's namespace: those must pass too.
    const resolvers = own.some((r) => r.startsWith('127.')) ? [...own, ...host.resolvers] : own;
    const deny: Cidr[] = [...subnets, ...host.addresses.map((a) => parseCidr(a)!)];
    const v4 = ipv4Rules({ allow: options.allow, resolvers, deny });
    const applied = await execIn(
      docker,
      container,
      ['sh', '-c', 'printf "%s" "$V4" | iptables-restore && printf "%s" "$V6" | ip6tables-restore && iptables -S OUTPUT'],
      { env: { V4: v4, V6: ipv6Rules() }, timeoutMs: GATE_STEP_MS },
    );
    if (applied.exitCode !== 0 || !applied.stdout.includes('NIGHTSHIFT-DENY')) {
      throw gateFailed(`could not load the egress rules (exit ${applied.exitCode}): ${applied.stderr.trim()}`);
    }
    return {
      id: container.id,
      policy: {
        resolvers,
        deny: deny.map((c) => `${c.address}/${c.prefix}`),
        allow: options.allow.map((r) => `${r.cidr.address}/${r.cidr.prefix}:${r.port}`),
      },
      close,
    };
  } catch (err) {
    await close();
    throw err instanceof SandboxError ? err : engineError(err, image, 'open the egress gate');
  }
}

/** The IPv4 gateways and subnets of a bridge-driver network. */
async function networkRanges(docker: Docker, network: string): Promise<Cidr[]> {
  let info: { Driver?: string; IPAM?: { Config?: { Subnet?: string; Gateway?: string }[] } };
  try {
    info = (await docker.getNetwork(network).inspect()) as typeof info;
  } catch (err) {
    const e = engineError(err, '', `inspect the setup network ${network}`);
    if (e.code === 'sandbox_failed') {
      throw new SandboxError('invalid_spec', `the setup network ${network} does not exist or cannot be inspected: ${errorText(err)}`, { cause: err });
    }
    throw e;
  }
  if (info.Driver !== 'bridge') {
    throw new SandboxError(
      'invalid_spec',
      `the setup network ${network} uses the ${info.Driver ?? 'unknown'} driver; a setup step runs only on a bridge-driver network (NIGHTSHIFT_SETUP_NETWORK)`,
    );
  }
  const out: Cidr[] = [];
  for (const c of info.IPAM?.Config ?? []) {
    for (const text of [c.Subnet, c.Gateway]) {
      const cidr = text === undefined ? undefined : parseCidr(text);
      if (cidr) out.push(cidr);
    }
  }
  return out;
}

/** What the gate needs to know of the engine's host, read on the host's own network. */
interface EngineHost {
  /** The host's own IPv4 addresses (and broadcast addresses). */
  addresses: string[];
  /** The host's resolvers: where Docker's embedded DNS (127.0.0.11) forwards queries, from the gate's namespace. */
  resolvers: string[];
}

const HOST_SPLIT = '--- nightshift resolv.conf ---';

/** Reads the engine host's addresses and resolvers in a throwaway container on the host's network. */
async function engineHost(docker: Docker, image: string, labels: Record<string, string>): Promise<EngineHost> {
  let run;
  try {
    run = await runToEnd(
      docker,
      {
        Image: image,
        Entrypoint: ['sh'],
        Cmd: ['-c', `cat /proc/net/fib_trie && echo '${HOST_SPLIT}' && cat /etc/resolv.conf`],
        User: '65534:65534',
        Labels: { ...labels, [GATE_LABEL]: '1' },
        HostConfig: {
          NetworkMode: 'host',
          CapDrop: ['ALL'],
          SecurityOpt: ['no-new-privileges'],
          ReadonlyRootfs: true,
          PidsLimit: 8,
          LogConfig: { Type: 'none', Config: {} },
        },
      },
      GATE_STEP_MS,
    );
  } catch (err) {
    throw engineError(err, image, "read the engine host's addresses");
  }
  const [fibTrie = '', resolvConf = ''] = run.stdout.split(HOST_SPLIT);
  const addresses = localAddressesOf(fibTrie);
  if (run.exitCode !== 0 || addresses.length === 0) {
    throw gateFailed(`could not read the engine host's addresses (exit ${run.exitCode}): ${run.stderr.trim()}`);
  }
  // Docker drops loopback resolvers of the host (they would be the container's own loopback).
  const resolvers = resolversOf(resolvConf).filter((r) => !r.startsWith('127.'));
  return { addresses, resolvers };
}

function gateFailed(message: string): SandboxError {
  return new SandboxError('sandbox_failed', `egress gate: ${message}`);
}
