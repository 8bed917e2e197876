import { busOptionsOf, connectBus, provision, provisionOptions } from '../../bus/index.ts';
import { untilAborted, withHealth, type Config, type Logger } from '../../shared/index.ts';
import { createCoordinator } from './coordinator.ts';

/**
 * The coordinator process: connect, provision, serve until `signal` aborts, then stop taking work,
 * finish what is in hand and drain the connection.
 */
export async function runCoordinator({ config, log, signal }: { config: Config; log: Logger; signal: AbortSignal }): Promise<void> {
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
