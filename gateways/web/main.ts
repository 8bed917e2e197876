import type { Server } from 'node:http';
import { createAdaptorServer } from '@hono/node-server';
import { answerTicket, busOptionsOf, cancelTicket, createPullRequestStore, runBusService, showPullRequest, TicketStore, type Bus, type ConnectOptions } from '../../bus/index.ts';
import { listenHttp, UserInputError, type Config, type Logger } from '../../shared/index.ts';
import { createWebApp } from './app.ts';
import { isLoopback } from './auth.ts';
import { BoardIndex } from './board.ts';

/** How long an answer or a cancellation from the console waits for the coordinator to take it. */
const ACTION_TIMEOUT_MS = 30_000;

/** The running console. */
export interface WebConsole extends AsyncDisposable {
  url: string;
  index: BoardIndex;
  close(): Promise<void>;
}

/**
 * The web console on a connected bus (the `web` kind's permissions: read tickets and pull requests,
 * answer and cancel as the `web` origin): the board index fed by the tickets KV watch, and the HTTP server.
 */
export async function startWebConsole({ bus, config, log }: { bus: Bus; config: Config; log: Logger }): Promise<WebConsole> {
  const store = new TicketStore(await bus.tickets());
  const prs = await createPullRequestStore(bus);
  const index = new BoardIndex();
  const stop = new AbortController();
  const watching = (async () => {
    for await (const t of store.watch(stop.signal)) index.apply(t);
  })().catch((err: unknown) => {
    if (!stop.signal.aborted) log.error({ err }, 'the tickets watch ended');
  });
  const host = config.NIGHTSHIFT_WEB_HOST;
  const app = createWebApp({
    index,
    ticket: async (id) => (await store.get(id))?.ticket ?? null,
    pullRequest: async (id) => ((await prs.get(id)) ? showPullRequest(bus, id) : null),
    answer: (id, o) => answerTicket(bus, id, o.text, { by: o.by, origin: 'web', timeoutMs: ACTION_TIMEOUT_MS, ...(o.budget !== undefined && { budget: o.budget }) }),
    cancel: (id, o) => cancelTicket(bus, id, { by: o.by, origin: 'web', timeoutMs: ACTION_TIMEOUT_MS, ...(o.reason !== undefined && { reason: o.reason }) }),
    auth: { token: config.NIGHTSHIFT_WEB_TOKEN, proxyHeader: config.NIGHTSHIFT_WEB_PROXY_HEADER, readOpen: isLoopback(host) },
    log,
    signal: stop.signal,
  });
  const server = createAdaptorServer({ fetch: app.fetch, hostname: host }) as Server;
  let url: string;
  try {
    url = await listenHttp(server, host, config.NIGHTSHIFT_WEB_PORT);
  } catch (err) {
    stop.abort();
    await watching;
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new UserInputError('port_in_use', `the web console cannot listen on ${host}:${config.NIGHTSHIFT_WEB_PORT}: the port is in use (set NIGHTSHIFT_WEB_PORT or --port)`);
    }
    throw err;
  }
  if (!isLoopback(host) && !config.NIGHTSHIFT_WEB_TOKEN && !config.NIGHTSHIFT_WEB_PROXY_HEADER) {
    log.warn({ host }, 'the console listens beyond loopback with neither NIGHTSHIFT_WEB_TOKEN nor NIGHTSHIFT_WEB_PROXY_HEADER: nobody can read or change anything');
  }
  log.info({ url, writable: Boolean(config.NIGHTSHIFT_WEB_TOKEN || config.NIGHTSHIFT_WEB_PROXY_HEADER) }, 'web console listening');
  const close = async () => {
    stop.abort();
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    await watching;
  };
  return { url, index, close, [Symbol.asyncDispose]: close };
}

/** The web console process (`nightshift web`): connect with the console's own credentials (`web`), serve until `signal` aborts, then drain. */
export async function runWebConsole({ config, log, signal, busOptions }: { config: Config; log: Logger; signal: AbortSignal; busOptions?: ConnectOptions }): Promise<void> {
  return runBusService({
    config,
    log,
    signal,
    connect: busOptions ?? { ...busOptionsOf(config, 'web'), name: 'nightshift-web', log },
    ready: (names) => ({ buckets: [names.ticketsBucket, names.prsBucket] }),
    start: async (bus) => {
      const web = await startWebConsole({ bus, config, log });
      return { stop: web.close };
    },
    stopped: 'web console stopped',
  });
}
