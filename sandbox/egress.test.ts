import { describe, expect, it } from 'vitest';
import { parseCidr } from '../shared/index.ts';
import { BLOCKED_RANGES, ipv4Rules, ipv6Rules, localAddressesOf, resolversOf } from './egress.ts';

describe('egress rules of the setup step', () => {
  const rules = ipv4Rules({
    allow: [{ cidr: parseCidr('10.0.0.5')!, port: 4873 }],
    resolvers: ['10.255.255.53', '10.255.255.53'],
    deny: [parseCidr('192.0.2.2')!, parseCidr('172.17.0.0/16')!],
  });
  const lines = rules.split('\n');
  const index = (line: string) => {
    const i = lines.indexOf(line);
    expect(i, line).toBeGreaterThan(-1);
    return i;
  };

  it('accepts loopback, then the allow-list, then DNS to the resolvers, before any reject', () => {
    const firstDeny = lines.findIndex((l) => / -j NIGHTSHIFT-DENY$/.test(l));
    expect(index('-A OUTPUT -o lo -j ACCEPT')).toBeLessThan(firstDeny);
    expect(index('-A OUTPUT -d 10.0.0.5/32 -p tcp --dport 4873 -j ACCEPT')).toBeLessThan(firstDeny);
    expect(index('-A OUTPUT -d 10.255.255.53/32 -p udp --dport 53 -j ACCEPT')).toBeLessThan(firstDeny);
    expect(index('-A OUTPUT -d 10.255.255.53/32 -p tcp --dport 53 -j ACCEPT')).toBeLessThan(firstDeny);
    expect(lines.filter((l) => l.includes('10.255.255.53'))).toHaveLength(2);
  });

  it('rejects the host, the network, and every private, loopback, link-local, CGNAT and multicast range', () => {
    for (const cidr of ['192.0.2.2/32', '172.17.0.0/16', ...BLOCKED_RANGES]) index(`-A OUTPUT -d ${cidr} -j NIGHTSHIFT-DENY`);
    for (const cidr of ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '169.254.0.0/16', '224.0.0.0/4', '127.0.0.0/8']) {
      expect(BLOCKED_RANGES).toContain(cidr);
    }
    index('-A NIGHTSHIFT-DENY -p tcp -j REJECT --reject-with tcp-reset');
    expect(rules).toContain(':OUTPUT ACCEPT');
    expect(rules.trimEnd().endsWith('COMMIT')).toBe(true);
  });

  it('lets nothing but loopback through on IPv6', () => {
    expect(ipv6Rules()).toContain(':OUTPUT DROP');
    expect(ipv6Rules()).toContain(':INPUT DROP');
  });

  it('reads the IPv4 resolvers of a resolv.conf', () => {
    expect(resolversOf('# x\nnameserver 10.255.255.53\nnameserver ::1\nsearch lan\n nameserver 127.0.0.11\nnameserver 10.255.255.53\n')).toEqual([
      '10.255.255.53',
      '127.0.0.11',
    ]);
  });

  it("reads a host's local and broadcast addresses from /proc/net/fib_trie", () => {
    const trie = [
      'Main:',
      '  +-- 0.0.0.0/0 3 0 4',
      '     |-- 0.0.0.0',
      '        /0 universe UNICAST',
      '     +-- 127.0.0.0/8 2 0 2',
      '           |-- 127.0.0.0',
      '              /8 host LOCAL',
      '           |-- 127.0.0.1',
      '              /32 host LOCAL',
      '     +-- 192.0.2.0/24 2 0 2',
      '           |-- 192.0.2.0',
      '              /24 link UNICAST',
      '           |-- 192.0.2.2',
      '              /32 host LOCAL',
      '        |-- 192.0.2.255',
      '           /32 link BROADCAST',
      'Local:',
      '           |-- 127.0.0.1',
      '              /32 host LOCAL',
    ].join('\n');
    expect(localAddressesOf(trie)).toEqual(['127.0.0.1', '192.0.2.2', '192.0.2.255']);
  });
});
