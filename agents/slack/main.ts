import { awaitProvisioned, busOptionsOf, connectBus } from '../../bus/index.ts';
import { untilAborted, type Config, type Logger } from '../../shared/index.ts';
import { createSlackService, slackSettings } from './service.ts';

/**
 * The Slack gateway process: check the Slack settings, connect, wait for the bus to be provisioned, post and follow escalations
 * and take answers until `signal` aborts, then disconnect from Slack and drain.
 */
export async function runSlackGateway({ config, log, signal }: { config: Config; log: Logger; signal: AbortSignal }): Promise<void> {
  slackSettings(config);
  const bus = await connectBus({ ...busOptionsOf(config, 'slack'), name: 'nightshift-slack', log });
  try {
    await awaitProvisioned(bus, { buckets: [bus.names.ticketsBucket, bus.names.escalationsBucket], log, signal });
    const service = createSlackService({ bus, config, log });
    await service.start(signal);
    await untilAborted(signal);
    await service.stop();
  } finally {
    await bus.close();
  }
}
