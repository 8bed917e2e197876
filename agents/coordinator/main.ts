import { busOptionsOf, connectBus, provision, provisionOptions } from '../../bus/index.ts';
import { untilAborted, withHealth, withTracing, type Config, type Logger } from '../../shared/index.ts';
import { createCoordinator } from './coordinator.ts';

/**
 * The coordinator process: connect, provision, serve until `signal` aborts, then stop taking work,
 * finish what is in hand and drain the connection; its spans exported when configured, the last ones
 * once it has stopped.
 */
export async function runCoordinator({ config, log, signal }: { config: Config; log: Logger; signal: AbortSignal }): Promise<void> {
  return withTracing(config, log, 'nightshift-coordinator', () => serve({ config, log, signal }));
}

async function serve({ config, log, signal }: { config: Config; log: Logger; signal: AbortSignal }): Promise<void> {
  return withHealth(config, log, async (state) => {
    const bus = await connectBus({ ...busOptionsOf(config, 'coordinator'), name: 'nightshift-coordinator', log });
    state.connected = bus.connected;
    try {
      state.phase = 'provisioning the bus';
      await provision(bus, { ...provisionOptions(config), log });
      const coordinator = createCoordinator({ bus, config, log });
      await coordinator.start();
      state.phase = null;
      await untilAborted(signal);
      state.phase = 'stopping';
      await coordinator.stop();
    } finally {
      await bus.close();
    }
  });
}
