import { connectBus, provision, provisionOptions } from '../../bus/index.ts';
import { untilAborted, type Config, type Logger } from '../../shared/index.ts';
import { createSlackService, slackSettings } from './service.ts';

/**
 * The Slack gateway process: check the Slack settings, connect, provision, post and follow escalations
 * and take answers until `signal` aborts, then disconnect from Slack and drain.
 */
export async function runSlackGateway({ config, log, signal }: { config: Config; log: Logger; signal: AbortSignal }): Promise<void> {
  slackSettings(config);
  const bus = await connectBus({ url: config.NATS_URL, prefix: config.NIGHTSHIFT_PREFIX, name: 'nightshift-slack', log });
  try {
    await provision(bus, provisionOptions(config));
    const service = createSlackService({ bus, config, log });
    await service.start(signal);
    await untilAborted(signal);
    await service.stop();
  } finally {
    await bus.close();
  }
}
