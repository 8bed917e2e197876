import { createServer, type Server } from 'node:http';
import { listenHttp } from './http.ts';
import type { Config } from './config.ts';
import type { Logger } from './log.ts';

/** Why a process is not ready, or null when it is. */
export type Readiness = () => string | null;

export interface HealthServer extends AsyncDisposable {
  /** `http://host:port`, the port the server listens on (an ephemeral one when 0 was asked for). */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * The health endpoints of a long-running process, for probes (Kubernetes, Compose, a load balancer):
 * - `GET /healthz`: 200 while the process runs (liveness; it does not depend on the bus, whose
 *   client reconnects by itself: restarting the process would not help);
 * - `GET /readyz`: 200 when `ready` says so, else 503 with the reason (readiness);
 * JSON bodies; any other path is 404, any other method 405.
 */
export async function startHealthServer({ host, port, ready, log }: { host: string; port: number; ready: Readiness; log: Logger }): Promise<HealthServer> {
  const server: Server = createServer((req, res) => {
    const reply = (status: number, body: Record<string, unknown>) => {
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(body));
    };
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/healthz' && path !== '/readyz') return reply(404, { ok: false, error: { code: 'not_found', message: 'GET /healthz or /readyz' } });
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(405, { ok: false, error: { code: 'method_not_allowed', message: `${req.method} is not allowed; use GET` } });
    if (path === '/healthz') return reply(200, { ok: true });
    const why = ready();
    return why === null ? reply(200, { ok: true, ready: true }) : reply(503, { ok: false, ready: false, reason: why });
  });
  const url = await listenHttp(server, host, port);
  log.info({ url }, 'health endpoints listening');
  let closed: Promise<void> | undefined;
  const close = () =>
    (closed ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }));
  return { url, close, [Symbol.asyncDispose]: close };
}

/**
 * The health server a process runs when NIGHTSHIFT_HEALTH_PORT is set, or null. A port that is
 * taken fails the process at start, with the port in the message.
 */
async function serveHealth(config: Config, log: Logger, ready: Readiness): Promise<HealthServer | null> {
  const port = config.NIGHTSHIFT_HEALTH_PORT;
  if (port === undefined) return null;
  try {
    return await startHealthServer({ host: config.NIGHTSHIFT_HEALTH_HOST, port, ready, log });
  } catch (err) {
    throw new Error(`cannot serve health endpoints on ${config.NIGHTSHIFT_HEALTH_HOST}:${port}: ${(err as Error).message}`);
  }
}

/** Told each phase a long-running process enters, and null once it serves (see `onPhaseChange`). */
export type PhaseListener = (phase: string | null) => void;

const phaseListeners = new Set<PhaseListener>();

/**
 * Registers a listener told every phase change of the process bodies `withHealth` runs (the same
 * phases `/readyz` reports): how a main passes readiness on to whoever started it (`nightshift up`,
 * over its IPC channel). Returns a function that removes the listener.
 */
export function onPhaseChange(listener: PhaseListener): () => void {
  phaseListeners.add(listener);
  return () => phaseListeners.delete(listener);
}

/**
 * Runs a long-running process's body with its health endpoints (when NIGHTSHIFT_HEALTH_PORT is set)
 * answering from the state the body keeps: `phase` starts at 'connecting to NATS'. Every change of
 * `phase` is told to the `onPhaseChange` listeners.
 */
export async function withHealth<T>(config: Config, log: Logger, body: (state: ProcessState) => Promise<T>): Promise<T> {
  let phase: string | null = 'connecting to NATS';
  const notify = (p: string | null) => {
    for (const listener of phaseListeners) listener(p);
  };
  const state: ProcessState = {
    get phase() {
      return phase;
    },
    set phase(next: string | null) {
      if (next === phase) return;
      phase = next;
      notify(next);
    },
  };
  notify(phase);
  const health = await serveHealth(config, log, readinessOf(state));
  try {
    return await body(state);
  } finally {
    await health?.close();
  }
}

/** Where a process is in its life, for its readiness: `phase` null once it serves. */
export interface ProcessState {
  phase: string | null;
  /** Whether its bus connection is up (set once connected). */
  connected?: () => boolean;
}

/** Ready when the process serves and its bus connection is up; else the phase it is in, or the lost connection. */
export function readinessOf(state: ProcessState): Readiness {
  return () => state.phase ?? (state.connected && !state.connected() ? 'disconnected from NATS; reconnecting' : null);
}
