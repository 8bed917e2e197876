import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.ts';
import { cidrContains, intToIpv4, ipv4ToInt, parseAllowList, parseCidr } from './net.ts';

describe('IPv4 helpers', () => {
  it('parses dotted quads and refuses anything else', () => {
    expect(ipv4ToInt('10.1.2.3')).toBe(0x0a010203);
    expect(intToIpv4(0xffffffff)).toBe('255.255.255.255');
    for (const bad of ['256.1.1.1', '1.2.3', '1.2.3.4.5', '01.2.3.4', 'a.b.c.d', '', ' 1.2.3.4']) {
      expect(ipv4ToInt(bad), bad).toBeUndefined();
    }
  });

  it('parses CIDRs, clearing host bits, and tells membership', () => {
    expect(parseCidr('172.17.0.1/16')).toEqual({ address: '172.17.0.0', prefix: 16 });
    expect(parseCidr('192.0.2.2')).toEqual({ address: '192.0.2.2', prefix: 32 });
    expect(parseCidr('0.0.0.0/0')).toEqual({ address: '0.0.0.0', prefix: 0 });
    expect(parseCidr('10.0.0.0/33')).toBeUndefined();
    expect(parseCidr('10.0.0.0/8/1')).toBeUndefined();
    expect(cidrContains(parseCidr('172.16.0.0/12')!, '172.31.255.255')).toBe(true);
    expect(cidrContains(parseCidr('172.16.0.0/12')!, '172.32.0.0')).toBe(false);
    expect(cidrContains(parseCidr('0.0.0.0/0')!, '8.8.8.8')).toBe(true);
  });
});

describe('the setup allow-list', () => {
  it('takes <address or CIDR>:<port>, comma-separated', () => {
    expect(parseAllowList(' 10.0.0.5:4873, 192.168.1.0/24:3128 ,')).toEqual({
      ok: true,
      rules: [
        { cidr: { address: '10.0.0.5', prefix: 32 }, port: 4873 },
        { cidr: { address: '192.168.1.0', prefix: 24 }, port: 3128 },
      ],
    });
    expect(parseAllowList('')).toEqual({ ok: true, rules: [] });
  });

  it('refuses host names, missing or bad ports, and names every bad entry', () => {
    const parsed = parseAllowList('registry.local:4873,10.0.0.5,10.0.0.5:0,10.0.0.5:70000,10.0.0.5:80');
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) {
      expect(parsed.errors).toHaveLength(4);
      expect(parsed.errors[0]).toMatch(/"registry.local:4873".*host names are not accepted/);
    }
  });

  it('is read by loadConfig as NIGHTSHIFT_SETUP_ALLOW, with NIGHTSHIFT_SETUP_NETWORK', () => {
    const config = loadConfig({ NIGHTSHIFT_SETUP_ALLOW: '10.0.0.5:4873', NIGHTSHIFT_SETUP_NETWORK: 'ns-setup' });
    expect(config.NIGHTSHIFT_SETUP_ALLOW).toEqual([{ cidr: { address: '10.0.0.5', prefix: 32 }, port: 4873 }]);
    expect(config.NIGHTSHIFT_SETUP_NETWORK).toBe('ns-setup');
    expect(loadConfig({})).toMatchObject({ NIGHTSHIFT_SETUP_ALLOW: [], NIGHTSHIFT_SETUP_NETWORK: 'bridge' });
    expect(() => loadConfig({ NIGHTSHIFT_SETUP_ALLOW: 'npm.local:4873' })).toThrow(/NIGHTSHIFT_SETUP_ALLOW/);
    expect(() => loadConfig({ NIGHTSHIFT_SETUP_NETWORK: 'bad name' })).toThrow(/NIGHTSHIFT_SETUP_NETWORK/);
  });
});
