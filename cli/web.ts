import { runWebConsole } from '../gateways/web/index.ts';
import { createLogger, labelProcess, loadConfig, UsageError, type Config, type Logger } from '../shared/index.ts';
import { localBusOptions } from './bus.ts';
import { parse, type Ctx } from './command.ts';

/** `nightshift web`: the console, until stopped. */
export async function webCommand(ctx: Ctx, argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { port: { type: 'string' }, host: { type: 'string' } });
  if (positionals.length) throw new UsageError('web takes no arguments');
  const config = loadConfig(ctx.env, {
    ...webOverrides(values),
    NATS_URL: values.nats,
    NIGHTSHIFT_PREFIX: values.prefix,
    NIGHTSHIFT_LOG_LEVEL: values['log-level'],
  });
  const log = createLogger({ level: config.NIGHTSHIFT_LOG_LEVEL, bindings: { agent: 'web' } });
  labelProcess('web');
  await runWeb({ config, log, signal: ctx.shutdown(log) });
  return 0;
}

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
