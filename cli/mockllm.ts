import { createLogger, untilAborted, UsageError } from '../shared/index.ts';
import { configFrom, parse, type Ctx } from './command.ts';

/** `nightshift mock-llm --script <file>`: serves until stopped, then logs how the script was used. */
export async function mockLlmCommand(ctx: Ctx, argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { script: { type: 'string' }, port: { type: 'string', default: '0' }, host: { type: 'string', default: '127.0.0.1' } });
  if (positionals.length) throw new UsageError('mock-llm takes no arguments');
  if (!values.script) throw new UsageError('mock-llm needs --script <file>');
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new UsageError(`--port ${values.port}: not a port`);
  const config = configFrom(ctx, values, false);
  const log = createLogger({ level: config.NIGHTSHIFT_LOG_LEVEL, bindings: { agent: 'mock-llm' } });
  const { loadMockScript, startMockLlm } = await import('../shared/llm/index.ts');
  const script = await loadMockScript(values.script);
  const signal = ctx.shutdown(log);
  const server = await startMockLlm({ script, port, host: values.host, log });
  const roles = Object.fromEntries(Object.entries(script.roles).map(([r, entries]) => [r, entries.length]));
  ctx.out({ ok: true, url: server.url, roles }, server.url);
  log.info({ url: server.url, roles }, 'mock-llm listening');
  await untilAborted(signal);
  await server.close();
  const unused = server.unused();
  const summary = { calls: server.calls.length, failures: server.failures.length, unused: unused.map((u) => `${u.role}#${u.index + 1}`) };
  if (server.failures.length || unused.length) log.warn(summary, 'mock-llm stopped: the script did not match the calls');
  else log.info(summary, 'mock-llm stopped');
  return 0;
}
