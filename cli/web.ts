import { runWebConsole } from '../gateways/web/index.ts';
import type { Config, Logger } from '../shared/index.ts';
import { localBusOptions } from './bus.ts';

/** `--port` and `--host` of `nightshift web`, as the configuration variables they override. */
export function webOverrides(values: { port?: string | undefined; host?: string | undefined }): Record<string, string | undefined> {
  return { NIGHTSHIFT_WEB_PORT: values.port, NIGHTSHIFT_WEB_HOST: values.host };
}

/**
 * `nightshift web`: the console until `signal` aborts, on the console's own credentials (the `web`
 * kind: with the seed `up` wrote for it when no credentials are configured).
 */
export function runWeb({ config, log, signal }: { config: Config; log: Logger; signal: AbortSignal }): Promise<void> {
  return runWebConsole({ config, log, signal, busOptions: { ...localBusOptions(config, 'web'), name: 'nightshift-web', log } });
}
