/**
 * IPv4 addresses and address ranges, and the setup step's allow-list (NIGHTSHIFT_SETUP_ALLOW).
 * Pure: no lookups, no I/O. IPv6 is not handled here because the setup network has none (the egress
 * gate disables it).
 */

/** An IPv4 range: `a.b.c.d/len`, normalised (host bits cleared). */
export interface Cidr {
  /** The network address, dotted quad. */
  address: string;
  /** Prefix length, 0–32. */
  prefix: number;
}

/** One entry of the setup allow-list: TCP to `cidr` on `port`. */
export interface AllowRule {
  cidr: Cidr;
  port: number;
}

const QUAD = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** The 32-bit value of a dotted-quad IPv4 address, or undefined when `text` is not one. */
export function ipv4ToInt(text: string): number | undefined {
  const m = QUAD.exec(text);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p, i) => p > 255 || (m[i + 1]!.length > 1 && m[i + 1]!.startsWith('0')))) return undefined;
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

/** The dotted quad of a 32-bit value. */
export function intToIpv4(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.');
}

/** Parses `a.b.c.d` (as /32) or `a.b.c.d/len`; undefined when it is neither. Host bits are cleared. */
export function parseCidr(text: string): Cidr | undefined {
  const [addr, len, extra] = text.trim().split('/');
  if (addr === undefined || extra !== undefined) return undefined;
  const value = ipv4ToInt(addr);
  if (value === undefined) return undefined;
  let prefix = 32;
  if (len !== undefined) {
    if (!/^\d{1,2}$/.test(len) || Number(len) > 32) return undefined;
    prefix = Number(len);
  }
  return { address: intToIpv4(maskOf(value, prefix)), prefix };
}

/** Whether `address` (dotted quad) lies in `cidr`. False for anything that is not an IPv4 address. */
export function cidrContains(cidr: Cidr, address: string): boolean {
  const value = ipv4ToInt(address);
  const network = ipv4ToInt(cidr.address);
  if (value === undefined || network === undefined) return false;
  return maskOf(value, cidr.prefix) === network;
}

/** `a.b.c.d/len` */
export function formatCidr(cidr: Cidr): string {
  return `${cidr.address}/${cidr.prefix}`;
}

function maskOf(value: number, prefix: number): number {
  return prefix === 0 ? 0 : (value & (~0 << (32 - prefix))) >>> 0;
}

/**
 * Parses the setup allow-list: comma-separated `<IPv4 address or CIDR>:<port>`, e.g.
 * `10.0.0.5:4873,192.168.1.0/24:3128`. Host names are refused on purpose: the rule must name exactly
 * what the sandbox may reach, not whatever a name resolves to later. Empty text is an empty list.
 */
export function parseAllowList(text: string): { ok: true; rules: AllowRule[] } | { ok: false; errors: string[] } {
  const rules: AllowRule[] = [];
  const errors: string[] = [];
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const colon = part.lastIndexOf(':');
    const cidr = colon > 0 ? parseCidr(part.slice(0, colon)) : undefined;
    const portText = colon > 0 ? part.slice(colon + 1) : '';
    const port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
    if (cidr === undefined || !(port >= 1 && port <= 65_535)) {
      errors.push(`"${part}" is not <IPv4 address or CIDR>:<port> (host names are not accepted: give the address)`);
      continue;
    }
    rules.push({ cidr, port });
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, rules };
}

/** `10.0.0.5/32:4873` */
export function formatAllowRule(rule: AllowRule): string {
  return `${formatCidr(rule.cidr)}:${rule.port}`;
}
