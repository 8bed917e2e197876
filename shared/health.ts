import { createServer, type Server } from 'node:http';
import { listenHttp } from './http.ts';
import { ConfigError } from './errors.ts';
import type { Config } from './config.ts';
import type { Logger } from './log.ts';
import { metrics } from './metrics.ts';
import type { Registry } from 'prom-client';

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
 * - `GET /metrics`: the process's Prometheus figures (`registry`, default the process's own,
 *   shared/metrics.ts), in the text exposition format.
 * JSON bodies otherwise; any other path is 404, any other method 405.
 */
export async function startHealthServer({
  host,
  port,
  ready,
  log,
  registry = metrics.registry,
}: {
  host: string;
  port: number;
  ready: Readiness;
  log: Logger;
  registry?: Registry;
}): Promise<HealthServer> {
  const server: Server = createServer((req, res) => {
    const reply = (status: number, body: Record<string, unknown>) => {
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(body));
    };
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/healthz' && path !== '/readyz' && path !== '/metrics') return reply(404, { ok: false, error: { code: 'not_found', message: 'GET /healthz, /readyz or /metrics' } });
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(405, { ok: false, error: { code: 'method_not_allowed', message: `${req.method} is not allowed; use GET` } });
    if (path === '/healthz') return reply(200, { ok: true });
    if (path === '/metrics') {
      registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' });
          res.end(req.method === 'HEAD' ? undefined : text);
        },
        (err: unknown) => {
          log.error({ err }, 'could not collect the metrics');
          reply(500, { ok: false, error: { code: 'internal_error', message: 'could not collect the metrics' } });
        },
      );
      return;
    }
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
    throw new ConfigError([{ path: 'NIGHTSHIFT_HEALTH_PORT', message: `cannot serve health endpoints on ${config.NIGHTSHIFT_HEALTH_HOST}:${port}: ${(err as Error).message}` }]);
  }
}

/** Told the URL of the process's health server (its `/metrics` included) once it listens. */
export type HealthListener = (url: string) => void;

const healthListeners = new Set<HealthListener>();

/**
 * Registers a listener told where the health server of the process bodies `withHealth` runs
 * listens (`http://host:port`): how a main started by `nightshift up` with an ephemeral health port
 * tells it where its `/metrics` are. Returns a function that removes the listener.
 */
export function onHealthServing(listener: HealthListener): () => void {
  healthListeners.add(listener);
  return () => healthListeners.delete(listener);
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
  if (health) for (const listener of healthListeners) listener(health.url);
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
