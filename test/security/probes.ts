import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { createServer, type Server } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';

/**
 * Helpers of the sandbox security battery: a network probe that runs inside the sandbox, listeners on
 * this machine, and the tally printed per class. Probes target only this machine's own addresses
 * (loopback, gateways of Docker networks on this machine, its interface addresses), the link-local
 * metadata address (asserted refused, never answered) and the npm registry by name.
 */

/** One thing the probe tries from inside the sandbox. */
export type Target =
  | { label: string; kind: 'tcp'; host: string; port: number }
  | { label: string; kind: 'udp'; host: string; port: number }
  | { label: string; kind: 'dns'; name: string }
  | { label: string; kind: 'https'; url: string };

/**
 * What became of a target: `connected` (TCP), `resolved` (DNS), `http <status>` (HTTPS), or how it
 * failed: `refused` (ECONNREFUSED: a reset, what the egress gate answers), `timeout`, `error <code>`.
 * UDP gives `sent` whatever becomes of the datagram: the host's UDP listener tells whether it arrived.
 */
export type Outcome = string;

/** The probe, as a CommonJS script for the sandbox image's node: tries every target at once. */
const PROBE = String.raw`
const net = require('node:net'), dns = require('node:dns'), https = require('node:https'), dgram = require('node:dgram');
const targets = JSON.parse(process.argv[2]);
const LIMIT = 4000;
const fail = (e) => (e.code === 'ECONNREFUSED' ? 'refused' : 'error ' + (e.code || e.message));
function tcp(t) {
  return new Promise((done) => {
    const s = net.connect({ host: t.host, port: t.port });
    s.setTimeout(LIMIT, () => { s.destroy(); done('timeout'); });
    s.on('connect', () => { s.destroy(); done('connected'); });
    s.on('error', (e) => done(fail(e)));
  });
}
function udp(t) {
  return new Promise((done) => {
    const s = dgram.createSocket('udp4');
    s.on('error', (e) => { s.close(); done(fail(e)); });
    s.send('probe', t.port, t.host, (e) => { s.close(); done(e ? fail(e) : 'sent'); });
  });
}
function lookup(t) {
  return new Promise((done) => {
    const timer = setTimeout(() => done('timeout'), LIMIT);
    dns.lookup(t.name, (e) => { clearTimeout(timer); done(e ? fail(e) : 'resolved'); });
  });
}
function get(t) {
  return new Promise((done) => {
    const req = https.get(t.url, { timeout: 15000 }, (res) => { res.resume(); done('http ' + res.statusCode); });
    req.on('timeout', () => { req.destroy(); done('timeout'); });
    req.on('error', (e) => done(fail(e)));
  });
}
const run = { tcp, udp, dns: lookup, https: get };
Promise.all(targets.map((t) => run[t.kind](t).then((outcome) => [t.label, outcome]))).then((r) => {
  console.log('PROBE ' + JSON.stringify(Object.fromEntries(r)));
});
`;

/** Writes the probe into the workspace and returns the command that runs it with `targets`. */
export function probeCommand(workspace: string, targets: Target[]): string[] {
  writeFileSync(join(workspace, 'probe.cjs'), PROBE);
  return ['node', '/workspace/probe.cjs', JSON.stringify(targets)];
}

/** The outcomes the probe printed, by label. */
export function probeOutcomes(stdout: string): Record<string, Outcome> {
  const line = stdout.split('\n').find((l) => l.startsWith('PROBE '));
  if (line === undefined) throw new Error(`the probe printed no result:\n${stdout}`);
  return JSON.parse(line.slice('PROBE '.length)) as Record<string, Outcome>;
}

/** A TCP listener of this machine, on every address (0.0.0.0), counting who connects. */
export interface HostListener extends AsyncDisposable {
  port: number;
  /** Remote addresses of the connections it accepted, in order. */
  peers: string[];
}

/** A UDP socket of this machine on every address (0.0.0.0), on the same port number, recording senders. */
export async function hostUdpListener(port: number): Promise<HostListener> {
  const peers: string[] = [];
  const socket = createSocket('udp4');
  socket.on('message', (_msg, remote) => peers.push(remote.address));
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, '0.0.0.0', () => resolve());
  });
  return { port, peers, [Symbol.asyncDispose]: () => new Promise<void>((resolve) => socket.close(() => resolve())) };
}

export async function hostListener(): Promise<HostListener> {
  const peers: string[] = [];
  const server: Server = createServer((socket) => {
    // The probe closes at once (it may reset): that is not the listener's failure.
    socket.on('error', () => undefined);
    peers.push(socket.remoteAddress ?? '?');
    socket.end('hello from the host\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '0.0.0.0', resolve);
  });
  return {
    port: (server.address() as { port: number }).port,
    peers,
    [Symbol.asyncDispose]: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** This machine's own IPv4 interface addresses, loopback excluded (docker0, test bridges, eth0…). */
export function hostAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .filter((i) => i !== undefined && i.family === 'IPv4' && !i.internal)
    .map((i) => i!.address);
}

/** Host processes whose command line contains `marker`. */
export function hostProcessesWith(marker: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(marker)) found.push(Number(entry));
    } catch {
      // the process exited while we looked
    }
  }
  return found;
}

/** Counts attacks per class and prints `security: sandbox <class> — n/m blocked`. */
export class Tally {
  readonly #classes = new Map<string, { blocked: number; total: number; failed: string[] }>();

  record(cls: string, attack: string, blocked: boolean): void {
    const entry = this.#classes.get(cls) ?? { blocked: 0, total: 0, failed: [] };
    entry.total += 1;
    if (blocked) entry.blocked += 1;
    else entry.failed.push(attack);
    this.#classes.set(cls, entry);
  }

  print(): void {
    for (const [cls, { blocked, total, failed }] of this.#classes) {
      const not = failed.length > 0 ? ` (NOT blocked: ${failed.join(', ')})` : '';
      console.log(`security: sandbox ${cls} — ${blocked}/${total} blocked${not}`);
    }
  }
}
