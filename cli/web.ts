import { runWebConsole } from '../gateways/web/index.ts';
import type { Config, Logger } from '../shared/index.ts';
import { cliBusOptions } from './bus.ts';

/** `--port` and `--host` of `nightshift web`, as the configuration variables they override. */
export function webOverrides(values: { port?: string | undefined; host?: string | undefined }): Record<string, string | undefined> {
  return { NIGHTSHIFT_WEB_PORT: values.port, NIGHTSHIFT_WEB_HOST: values.host };
}

/**
 * `nightshift web`: the console until `signal` aborts, connected as the operator (with the seed `up`
 * wrote when no credentials are configured, as the CLI's other changing commands).
 */
export function runWeb({ config, log, signal }: { config: Config; log: Logger; signal: AbortSignal }): Promise<void> {
  return runWebConsole({ config, log, signal, busOptions: { ...cliBusOptions(config, 'write'), name: 'nightshift-web', log } });
}
