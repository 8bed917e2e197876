import { busOptionsOf, runBusService } from '../../bus/index.ts';
import { withTracing, type Config, type Logger } from '../../shared/index.ts';
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
  return runBusService({
    config,
    log,
    signal,
    connect: { ...busOptionsOf(config, 'coordinator'), name: 'nightshift-coordinator', log },
    ready: 'provision',
    start: async (bus) => {
      const coordinator = createCoordinator({ bus, config, log });
      await coordinator.start();
      return coordinator;
    },
  });
}
