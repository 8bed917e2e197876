import { formatCidr, parseCidr, type AllowRule, type Cidr } from '../shared/index.ts';

/**
 * The egress policy of a dependency-setup step, as iptables-restore input for the network namespace
 * of the egress gate (sandbox/gate.ts). Pure: the addresses come from the caller.
 *
 * In order, for packets leaving the namespace (OUTPUT):
 *   1. loopback: accepted (the namespace's own 127.0.0.1, not the host's; Docker's embedded DNS on
 *      user-defined networks listens there);
 *   2. the allow-list: TCP to each `<cidr>:<port>`, accepted;
 *   3. the container's resolvers (its /etc/resolv.conf): UDP and TCP port 53, accepted;
 *   4. the host's own addresses, the network's gateway(s) and subnet(s), and every non-public IPv4
 *      range (BLOCKED_RANGES): rejected (TCP with a reset, anything else with an ICMP error), so
 *      a blocked connection fails at once instead of hanging;
 *   5. everything else (the public internet, where package registries are): accepted.
 * Inbound (INPUT) is accepted: an answer can only come back on a connection step 5 let out.
 * IPv6: every packet but loopback is dropped (the gate also disables IPv6 on its interfaces).
 */

/**
 * IPv4 ranges a setup step may never reach unless allow-listed: "this network", RFC 1918 private
 * networks, carrier-grade NAT, loopback, link-local (cloud metadata services live at
 * 169.254.169.254), IETF protocol assignments, benchmarking, multicast, reserved and broadcast.
 */
export const BLOCKED_RANGES: readonly string[] = [
  '0.0.0.0/8',
  '10.0.0.0/8',
  '100.64.0.0/10',
  '127.0.0.0/8',
  '169.254.0.0/16',
  '172.16.0.0/12',
  '192.0.0.0/24',
  '192.168.0.0/16',
  '198.18.0.0/15',
  '224.0.0.0/4',
  '240.0.0.0/4',
];

/** What the rules are made of. */
export interface EgressPolicy {
  /** TCP destinations allowed although they are in a blocked range (NIGHTSHIFT_SETUP_ALLOW). */
  allow: readonly AllowRule[];
  /** The resolvers of the container (nameserver lines of its resolv.conf), reachable on port 53 only. */
  resolvers: readonly string[];
  /** The host's own addresses, the network's gateways and subnets: blocked like the private ranges. */
  deny: readonly Cidr[];
}

/** The chain a blocked packet jumps to. */
const DENY_CHAIN = 'NIGHTSHIFT-DENY';

/** iptables-restore input (filter table) for IPv4. */
export function ipv4Rules(policy: EgressPolicy): string {
  const lines = [
    '*filter',
    ':INPUT ACCEPT [0:0]',
    ':FORWARD DROP [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    `:${DENY_CHAIN} - [0:0]`,
    `-A ${DENY_CHAIN} -p tcp -j REJECT --reject-with tcp-reset`,
    `-A ${DENY_CHAIN} -j REJECT --reject-with icmp-admin-prohibited`,
    '-A OUTPUT -o lo -j ACCEPT',
  ];
  for (const rule of policy.allow) {
    lines.push(`-A OUTPUT -d ${formatCidr(rule.cidr)} -p tcp --dport ${rule.port} -j ACCEPT`);
  }
  for (const resolver of unique(policy.resolvers)) {
    lines.push(`-A OUTPUT -d ${resolver}/32 -p udp --dport 53 -j ACCEPT`);
    lines.push(`-A OUTPUT -d ${resolver}/32 -p tcp --dport 53 -j ACCEPT`);
  }
  const denied = unique([...policy.deny.map(formatCidr), ...BLOCKED_RANGES]);
  for (const cidr of denied) lines.push(`-A OUTPUT -d ${cidr} -j ${DENY_CHAIN}`);
  lines.push('COMMIT', '');
  return lines.join('\n');
}

/** ip6tables-restore input: nothing but loopback. */
export function ipv6Rules(): string {
  return ['*filter', ':INPUT DROP [0:0]', ':FORWARD DROP [0:0]', ':OUTPUT DROP [0:0]', '-A INPUT -i lo -j ACCEPT', '-A OUTPUT -o lo -j ACCEPT', 'COMMIT', ''].join('\n');
}

/** The IPv4 nameservers of a resolv.conf (IPv6 ones are dropped: the setup network has no IPv6). */
export function resolversOf(resolvConf: string): string[] {
  const out: string[] = [];
  for (const line of resolvConf.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    const cidr = m ? parseCidr(m[1]!) : undefined;
    if (cidr && cidr.prefix === 32 && !out.includes(cidr.address)) out.push(cidr.address);
  }
  return out;
}

/**
 * The local IPv4 addresses of a network namespace, from its /proc/net/fib_trie: every address
 * followed by a `/32 host LOCAL` leaf. Read in the engine host's namespace, these are all the
 * addresses the host answers on.
 */
export function localAddressesOf(fibTrie: string): string[] {
  const out: string[] = [];
  let last: string | undefined;
  for (const line of fibTrie.split('\n')) {
    const addr = /^[\s|+`-]*-- (\d+\.\d+\.\d+\.\d+)\s*$/.exec(line);
    if (addr) {
      last = addr[1];
      continue;
    }
    if (last !== undefined && /^\s*\/32 (host LOCAL|link BROADCAST)\s*$/.test(line) && !out.includes(last)) out.push(last);
  }
  return out;
}

function unique<T>(items: readonly T[]): T[] {
  return [...new Set(items)];
}
