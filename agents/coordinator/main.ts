import { busOptionsOf, connectBus, provision, provisionOptions } from '../../bus/index.ts';
import { untilAborted, type Config, type Logger } from '../../shared/index.ts';
import { createCoordinator } from './coordinator.ts';

/**
 * The coordinator process: connect, provision, serve until `signal` aborts, then stop taking work,
 * finish what is in hand and drain the connection.
 */
export async function runCoordinator({ config, log, signal }: { config: Config; log: Logger; signal: AbortSignal }): Promise<void> {
  const bus = await connectBus({ ...busOptionsOf(config, 'coordinator'), name: 'nightshift-coordinator', log });
  try {
    await provision(bus, { ...provisionOptions(config), log });
    const coordinator = createCoordinator({ bus, config, log });
    await coordinator.start();
    await untilAborted(signal);
    await coordinator.stop();
  } finally {
    await bus.close();
  }
}
