/**
 * What `langchain`'s `createAgent` covers of nightshift's tool loop (issue 16), checked against an
 * in-process mock-llm: each line says what was asked, how createAgent does it, and what came out.
 * Needs the scratch install described in bench/langchain-agent.ts (langchain is not a dependency):
 *
 *   scripts/node24 node bench/langchain-agent-fit.ts --langchain /tmp/lc-eval
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { HumanMessage } from '@langchain/core/messages';
import { ChatOpenAI } from '@langchain/openai';
import { z } from 'zod';
import { BudgetExceededError, ModelBehaviorError } from '../shared/llm/errors.ts';
import { startMockLlm, type ScriptEntryInput } from '../shared/llm/index.ts';
import { TokenMeter } from '../shared/llm/usage.ts';

const at = process.argv.indexOf('--langchain');
const lcDir = at >= 0 ? process.argv[at + 1] : undefined;
if (!lcDir) {
  process.stderr.write('usage: bench/langchain-agent-fit.ts --langchain <scratch dir with langchain installed>\n');
  process.exit(2);
}
// The package's ESM entry, loaded by path: it resolves @langchain/core and zod from the scratch
// directory, linked to nightshift's own (bench/langchain-agent.ts checks the links).
const pkgDir = join(lcDir, 'node_modules', 'langchain');
const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { version: string; exports: { '.': { import: { default: string } } } };
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- not a dependency: no types here
const lc: any = await import(pathToFileURL(join(pkgDir, pkg.exports['.'].import.default)).href);

type Msg = { tool_calls?: { name: string; args: unknown }[]; usage_metadata?: { input_tokens: number; output_tokens: number; total_tokens: number } };
type Handler = (r: unknown) => Promise<Msg & { messages?: Msg[] }>;
type Request = { messages: Msg[]; tools?: { name?: string }[] };

const tc = (name: string, args: unknown, extra: Partial<ScriptEntryInput> = {}): ScriptEntryInput => ({ toolCalls: [{ name, arguments: args as Record<string, unknown> }], ...extra });
const good = { summary: 'adds --verbose', files: ['src/a.ts'] };
const roles: Record<string, ScriptEntryInput[]> = {
  repair: [tc('read_file', { path: 'src/a.ts' }), tc('read_file', { path: '../../etc/passwd' }), tc('answer', { summary: 5 }), tc('answer', good)],
  zod: [tc('answer', { summary: 'ab', files: [] }), tc('answer', good)],
  loop: [tc('read_file', { path: 'x' }), tc('read_file', { path: 'x' }), tc('read_file', { path: 'x' })],
  budget: [tc('read_file', { path: 'a' }, { usage: { prompt_tokens: 500, completion_tokens: 100 } }), tc('read_file', { path: 'b' }, { usage: { prompt_tokens: 500, completion_tokens: 100 } })],
  retry: [{ httpStatus: 503, error: 'overloaded' }, { ...tc('answer', good), delayMs: 2_000 }, tc('answer', good)],
  abort: [{ ...tc('answer', good), delayMs: 5_000 }],
  provider: [{ json: { summary: 5 } }, { json: good }],
  limitRepair: [tc('answer', { summary: 5 }), tc('answer', good), { content: 'a call after the answer' }],
  limitsRepair: [tc('answer', { summary: 5 }), tc('answer', good), { content: 'a call after the answer' }],
};
const mock = await startMockLlm({ script: { version: 1, roles } });

const model = (role: string, extra: Record<string, unknown> = {}) => new ChatOpenAI({ model: role, apiKey: 'k', maxRetries: 0, configuration: { baseURL: mock.url }, ...extra });
const Answer = z.object({ summary: z.string(), files: z.array(z.string()) }).meta({ title: 'answer' });
const readFile = lc.tool(async ({ path }: { path: string }) => (path.includes('..') ? `refused: ${path} is outside the workspace` : `contents of ${path}`), {
  name: 'read_file',
  description: 'Read a file of the workspace',
  schema: z.object({ path: z.string() }),
});
const ask = { messages: [new HumanMessage('Add --verbose to the CLI.')] };
const agent = (role: string, opts: Record<string, unknown> = {}, modelOpts: Record<string, unknown> = {}) =>
  lc.createAgent({ model: model(role, modelOpts), tools: [readFile], responseFormat: lc.toolStrategy(Answer), ...opts });
const callsOf = (role: string) => mock.calls.filter((c) => c.role === role);
const errText = (err: unknown) => (err instanceof Error ? `${err.constructor.name}${err.cause instanceof Error ? ` (cause ${err.cause.constructor.name})` : ''}: ${err.message.split('\n')[0]!.slice(0, 110)}` : String(err));

const lines: [string, string][] = [];
async function check(what: string, run: () => Promise<string>): Promise<void> {
  let out: string;
  try {
    out = await run();
  } catch (err) {
    out = `threw ${errText(err)}`;
  }
  lines.push([what, out]);
  process.stdout.write(`- ${what}\n    ${out}\n`);
}

process.stdout.write(`langchain ${pkg.version}, against mock-llm\n`);
await check('tool calls, a refused one told to the model, an off-schema answer sent back (toolStrategy, no middleware)', async () => {
  const out = await agent('repair').invoke(ask);
  return `answer ${JSON.stringify(out.structuredResponse)} after ${callsOf('repair').length} model calls`;
});
await check('the answer validated with zod (a refine and a transform the JSON Schema cannot say)', async () => {
  const Strict = z.object({ summary: z.string().refine((s) => s.length >= 5, 'at least 5 characters').transform((s) => s.toUpperCase()), files: z.array(z.string()) }).meta({ title: 'answer' });
  const out = await lc.createAgent({ model: model('zod'), tools: [], responseFormat: lc.toolStrategy(Strict) }).invoke(ask);
  return `answer ${JSON.stringify(out.structuredResponse)} after ${callsOf('zod').length} model call(s): zod ${out.structuredResponse.summary === 'AB' ? 'applied' : 'not applied (JSON Schema only)'}`;
});
await check('loop detection (same call, same arguments, 3 times): custom wrapModelCall middleware', async () => {
  const seen = lc.createMiddleware({
    name: 'LoopDetection',
    wrapModelCall: async (request: Request, handler: Handler) => {
      const res = await handler(request);
      const counts = new Map<string, number>();
      for (const m of [...request.messages, ...(res.messages ?? [res])])
        for (const c of m.tool_calls ?? []) {
          const key = `${c.name} ${JSON.stringify(c.args)}`;
          counts.set(key, (counts.get(key) ?? 0) + 1);
          if (counts.get(key)! >= 3) throw new ModelBehaviorError('loop_detected', `called ${key} ${counts.get(key)} times`);
        }
      return res;
    },
  });
  await agent('loop', { middleware: [seen] }).invoke(ask);
  return 'not stopped';
});
await check('token budget (1,000; two calls of 600): custom wrapModelCall middleware on TokenMeter', async () => {
  const meter = new TokenMeter({ ticketId: 't', budget: 1_000 });
  const budget = lc.createMiddleware({
    name: 'TokenBudget',
    wrapModelCall: async (request: Request, handler: Handler) => {
      meter.check('budget');
      const res = await handler(request);
      // The answer step returns { structuredResponse, messages } instead of the model's message.
      const u = (res.messages?.[0] ?? res).usage_metadata;
      meter.record('budget', { inputTokens: u?.input_tokens ?? 0, outputTokens: u?.output_tokens ?? 0, totalTokens: u?.total_tokens ?? 0 });
      return res;
    },
  });
  try {
    await agent('budget', { middleware: [budget] }).invoke(ask);
    return 'not stopped';
  } catch (err) {
    return `stopped at ${meter.usedTokens} tokens: ${errText(err)}; BudgetExceededError as the cause: ${(err as Error).cause instanceof BudgetExceededError}`;
  }
});
await check('a 503 and a timeout retried (modelRetryMiddleware, ChatOpenAI timeout), each attempt seen by a transcript middleware', async () => {
  const seen: string[] = [];
  const transcript = lc.createMiddleware({
    name: 'Transcript',
    wrapModelCall: async (request: Request, handler: Handler) => {
      const tools = (request.tools ?? []).map((t) => t.name).join(',');
      try {
        const res = await handler(request);
        seen.push(`ok tools=[${tools}]`);
        return res;
      } catch (err) {
        seen.push(`${(err as Error).message.slice(0, 30)} tools=[${tools}]`);
        throw err;
      }
    },
  });
  const out = await agent('retry', { middleware: [lc.modelRetryMiddleware({ maxRetries: 2, initialDelayMs: 10 }), transcript] }, { timeout: 500 }).invoke(ask);
  const wire = callsOf('retry')
    .at(-1)!
    .request.tools?.map((t) => t.function?.name)
    .join(',');
  return `answer ${out.structuredResponse ? 'given' : 'missing'}; the middleware saw ${JSON.stringify(seen)}; the wire request had tools=[${wire}]`;
});
await check('abort signal mid-call', async () => {
  const ac = new AbortController();
  const a = agent('abort');
  const t0 = Date.now();
  setTimeout(() => ac.abort(new Error('shutdown')), 200);
  try {
    await a.invoke(ask, { signal: ac.signal });
    return 'not aborted';
  } catch (err) {
    return `rejected ${Date.now() - t0} ms after the start: ${errText(err)}`;
  }
});
await check('providerStrategy (response_format json_schema): an off-schema answer', async () => {
  const out = await lc.createAgent({ model: model('provider'), tools: [], responseFormat: lc.providerStrategy(Answer) }).invoke(ask);
  return `answer ${JSON.stringify(out.structuredResponse)} after ${callsOf('provider').length} calls`;
});
await check('off-schema answer sent back, with modelCallLimitMiddleware', async () => {
  const out = await agent('limitRepair', { middleware: [lc.modelCallLimitMiddleware({ runLimit: 25, exitBehavior: 'error' })] }).invoke(ask);
  return `answer ${JSON.stringify(out.structuredResponse)} after ${callsOf('limitRepair').length} calls`;
});
await check('off-schema answer sent back, with modelCallLimitMiddleware and toolCallLimitMiddleware', async () => {
  const out = await agent('limitsRepair', {
    middleware: [lc.modelCallLimitMiddleware({ runLimit: 25, exitBehavior: 'error' }), lc.toolCallLimitMiddleware({ runLimit: 50, exitBehavior: 'error' })],
  }).invoke(ask);
  return `answer ${JSON.stringify(out.structuredResponse)} after ${callsOf('limitsRepair').length} calls`;
});
await mock.close();
