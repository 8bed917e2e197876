import { busOptionsOf, runBusService } from '../../bus/index.ts';
import type { Config, Logger } from '../../shared/index.ts';
import { createSlackService, slackSettings } from './service.ts';

/**
 * The Slack gateway process: check the Slack settings, connect, wait for the bus to be provisioned, post and follow escalations
 * and take answers until `signal` aborts, then disconnect from Slack and drain.
 */
export async function runSlackGateway({ config, log, signal }: { config: Config; log: Logger; signal: AbortSignal }): Promise<void> {
  slackSettings(config);
  return runBusService({
    config,
    log,
    signal,
    connect: { ...busOptionsOf(config, 'slack'), name: 'nightshift-slack', log },
    ready: (names) => ({ buckets: [names.ticketsBucket, names.escalationsBucket] }),
    start: async (bus, state) => {
      state.phase = 'connecting to Slack';
      const service = createSlackService({ bus, config, log });
      await service.start(signal);
      return service;
    },
  });
}
