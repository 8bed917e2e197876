import { awaitProvisioned, busOptionsOf, connectBus } from '../../bus/index.ts';
import { untilAborted, withHealth, type Config, type Logger } from '../../shared/index.ts';
import { createSlackService, slackSettings } from './service.ts';

/**
 * The Slack gateway process: check the Slack settings, connect, wait for the bus to be provisioned, post and follow escalations
 * and take answers until `signal` aborts, then disconnect from Slack and drain.
 */
export async function runSlackGateway({ config, log, signal }: { config: Config; log: Logger; signal: AbortSignal }): Promise<void> {
  slackSettings(config);
  return withHealth(config, log, async (state) => {
    const bus = await connectBus({ ...busOptionsOf(config, 'slack'), name: 'nightshift-slack', log });
    state.connected = bus.connected;
    try {
      state.phase = 'waiting for the coordinator to provision the bus';
      await awaitProvisioned(bus, { buckets: [bus.names.ticketsBucket, bus.names.escalationsBucket], log, signal });
      state.phase = 'connecting to Slack';
      const service = createSlackService({ bus, config, log });
      await service.start(signal);
      state.phase = null;
      await untilAborted(signal);
      state.phase = 'stopping';
      await service.stop();
    } finally {
      await bus.close();
    }
  });
}
