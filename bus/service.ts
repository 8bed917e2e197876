import { untilAborted, withHealth, type Config, type Logger, type ProcessState } from '../shared/index.ts';
import { connectBus, type Bus, type ConnectOptions } from './connection.ts';
import { awaitProvisioned, provision, provisionOptions } from './provision.ts';
import type { Names } from './subjects.ts';

/** A service started on a ready bus: `stop` stops taking work and finishes what is in hand. */
export interface StartedService {
  stop(): Promise<void>;
}

/** What a process of another kind than the coordinator needs provisioned before it starts. */
export interface Needs {
  buckets: string[];
  consumer?: { stream: string; name: string };
}

export interface BusServiceSpec {
  config: Config;
  log: Logger;
  /** Stops the service when it aborts. */
  signal: AbortSignal;
  connect: ConnectOptions;
  /**
   * How the bus gets ready: `provision` (the coordinator creates the streams, buckets and consumers)
   * or what this process waits for the coordinator to have provisioned.
   */
  ready: 'provision' | ((names: Names) => Needs);
  /** Starts the service on the ready bus; may set `state.phase` while it starts. */
  start(bus: Bus, state: ProcessState): Promise<StartedService>;
  /** Logged once it has stopped. */
  stopped?: string;
}

/**
 * The life of every long-running process on the bus (the coordinator, the agents, the gateways, the
 * console): health endpoint up, connect, provision the bus or wait until it is, start, serve until
 * `signal` aborts, stop, and drain the connection, however it ends. Its readiness follows each phase.
 */
export async function runBusService({ config, log, signal, connect, ready, start, stopped }: BusServiceSpec): Promise<void> {
  return withHealth(config, log, async (state) => {
    const bus = await connectBus(connect);
    state.connected = bus.connected;
    try {
      if (ready === 'provision') {
        state.phase = 'provisioning the bus';
        await provision(bus, { ...provisionOptions(config), log });
      } else {
        state.phase = 'waiting for the coordinator to provision the bus';
        await awaitProvisioned(bus, { ...ready(bus.names), log, signal });
      }
      state.phase = 'starting';
      const service = await start(bus, state);
      state.phase = null;
      await untilAborted(signal);
      state.phase = 'stopping';
      await service.stop();
      if (stopped) log.info(stopped);
    } finally {
      await bus.close();
    }
  });
}
