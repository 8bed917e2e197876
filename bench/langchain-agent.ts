/**
 * What `langchain`'s `createAgent` would cost an agent process (issue 16): resident memory and CPU time
 * of fresh Node 24 processes started with the agents' flags (cli/up.ts AGENT_NODE_FLAGS) that import
 * (a) what an agent imports today for its loop: `@langchain/openai` and shared/llm/{client,loop}.ts;
 * (b) that and `langchain` (createAgent and its middleware, all from the package's main entry);
 * (c) (a) and one loop run the way agents run it today: createLlm + runToolLoop, a tool, four model
 *     calls (two tool calls, an off-schema answer sent back, the answer) against an in-process mock-llm;
 * (d) (b) and the same loop run with createAgent: the same chat model (createChatModel), the tool, the
 *     answer by toolStrategy, modelRetryMiddleware and two small custom middleware (the token budget on
 *     TokenMeter, loop detection), steps bounded by recursionLimit. Not modelCallLimitMiddleware nor
 *     toolCallLimitMiddleware: with either, langchain 1.5.14 fails the run once an off-schema answer was
 *     sent back (InvalidUpdateError on the `jumpTo` or `structuredResponse` channel; langchainjs#10175).
 * Runs alternate (a, b, c, d, a, b…); the medians are printed. Not part of `npm run bench`: `langchain`
 * is not a dependency of nightshift, so it is installed in a scratch directory that shares nightshift's
 * own @langchain/core, @langchain/openai, openai, langsmith and zod (one copy of each in the process):
 *
 *   mkdir -p /tmp/lc-eval && cd /tmp/lc-eval && echo '{"private":true,"type":"module"}' > package.json
 *   <repo>/scripts/node24 npm install --ignore-scripts langchain@1.5.14 @langchain/core@1.4.0 @langchain/openai@1.6.0
 *   for p in @langchain/core @langchain/openai openai langsmith zod; do rm -rf node_modules/$p; ln -s <repo>/node_modules/$p node_modules/$p; done
 *   cd <repo> && scripts/node24 node bench/langchain-agent.ts --langchain /tmp/lc-eval [--runs 9]
 *
 * Without `--langchain` only (a) and (c) are measured. Linux only (/proc/self/status).
 */
import { spawn } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { AGENT_NODE_FLAGS } from '../cli/up.ts';
import { startMockLlm, type MockScriptInput, type ScriptEntryInput } from '../shared/llm/index.ts';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const argv = process.argv.slice(2);
const arg = (name: string) => {
  const at = argv.indexOf(name);
  return at >= 0 ? argv[at + 1] : undefined;
};
const lcDir = arg('--langchain');
const runs = Number(arg('--runs') ?? 9);

const SHARED = ['@langchain/core', '@langchain/openai', 'openai', 'langsmith', 'zod'];
if (lcDir) {
  for (const p of SHARED) {
    const theirs = realpathSync(join(lcDir, 'node_modules', p));
    const ours = realpathSync(join(REPO, 'node_modules', p));
    if (theirs !== ours) {
      process.stderr.write(`${p} in ${lcDir} is not nightshift's own (${theirs} ≠ ${ours}): link it (see this file's header)\n`);
      process.exit(2);
    }
  }
}

const loopUrl = pathToFileURL(join(REPO, 'shared/llm/loop.ts')).href;
const clientUrl = pathToFileURL(join(REPO, 'shared/llm/client.ts')).href;

type Variant = 'a' | 'b' | 'c' | 'd';

const usageUrl = pathToFileURL(join(REPO, 'shared/llm/usage.ts')).href;
const modelUrl = pathToFileURL(join(REPO, 'shared/llm/model.ts')).href;
const logUrl = pathToFileURL(join(REPO, 'shared/log.ts')).href;

/** The child's program: imports, optionally runs a loop against mock-llm as `role`, then prints its RSS, peak RSS and CPU. */
function program(variant: Variant, baseURL: string, role: string): string {
  const v = JSON.stringify(variant);
  return `
const variant = ${v};
const t0 = performance.now();
const { ChatOpenAI } = await import('@langchain/openai');
const { createLlm } = await import(${JSON.stringify(clientUrl)});
const { runToolLoop } = await import(${JSON.stringify(loopUrl)});
const lc = variant === 'b' || variant === 'd' ? await import('langchain') : undefined;
const importMs = performance.now() - t0;
if (variant === 'c' || variant === 'd') {
  const { z } = await import('zod');
  const { HumanMessage } = await import('@langchain/core/messages');
  const { TokenMeter } = await import(${JSON.stringify(usageUrl)});
  const { createChatModel } = await import(${JSON.stringify(modelUrl)});
  const { createLogger } = await import(${JSON.stringify(logUrl)});
  const settings = { baseURL: ${JSON.stringify(baseURL)}, apiKey: 'k', model: 'm', timeoutMs: 60000, retries: 2, retryDelayMs: 100, retryDelayMaxMs: 1000 };
  const role = ${JSON.stringify(role)};
  const meter = new TokenMeter({ ticketId: 't', budget: 1000000 });
  const output = z.object({ summary: z.string(), files: z.array(z.string()) });
  const messages = [new HumanMessage('Add --verbose to the CLI.')];
  const read = async (args) => 'contents of ' + args.path;
  if (variant === 'c') {
    const tools = {
      definitions: [{ type: 'function', function: { name: 'read_file', description: 'read a file', parameters: { type: 'object', properties: { path: { type: 'string' } }, required: ['path'] } } }],
      run: async (_name, args) => ({ status: 'ok', content: await read(args) }),
    };
    const llm = createLlm({ settings, role, ticketId: 't', meter, log: createLogger({ level: 'silent' }) });
    await runToolLoop(llm, messages, { tools, output });
  } else {
    const readFile = lc.tool(read, { name: 'read_file', description: 'read a file', schema: z.object({ path: z.string() }) });
    const canonical = (x) => JSON.stringify(x);
    // Only wrap hooks: a beforeModel/afterModel hook (modelCallLimitMiddleware's, toolCallLimitMiddleware's or
    // one of ours) breaks the run after an off-schema answer is sent back (langchainjs#10175).
    const loopDetection = lc.createMiddleware({ name: 'LoopDetection', wrapModelCall: async (request, handler) => {
      const res = await handler(request);
      const seen = new Map();
      for (const m of [...request.messages, ...(res.messages ?? [res])]) for (const c of m.tool_calls ?? []) {
        const key = c.name + ' ' + canonical(c.args);
        seen.set(key, (seen.get(key) ?? 0) + 1);
        if (seen.get(key) >= 3) throw new Error('loop: ' + key);
      }
      return res;
    } });
    const budget = lc.createMiddleware({ name: 'TokenBudget', wrapModelCall: async (request, handler) => {
      meter.check(role);
      const res = await handler(request);
      const u = (res.messages ? res.messages[0] : res).usage_metadata;
      meter.record(role, { inputTokens: u?.input_tokens ?? 0, outputTokens: u?.output_tokens ?? 0, totalTokens: u?.total_tokens ?? 0 });
      return res;
    } });
    const agent = lc.createAgent({
      model: createChatModel(settings, { role, ticketId: 't' }),
      tools: [readFile],
      responseFormat: lc.toolStrategy(output.meta({ title: 'answer' })),
      middleware: [
        lc.modelRetryMiddleware({ maxRetries: 2 }),
        budget,
        loopDetection,
      ],
    });
    const out = await agent.invoke({ messages }, { recursionLimit: 2 * 25 + 1 });
    if (!out.structuredResponse) throw new Error('no structured answer');
  }
}
const status = (await import('node:fs')).readFileSync('/proc/self/status', 'utf8');
const kb = (f) => Number(new RegExp('^' + f + ':\\\\s+(\\\\d+) kB', 'm').exec(status)[1]);
const cpu = process.cpuUsage();
console.log(JSON.stringify({ rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024, cpuMs: (cpu.user + cpu.system) / 1000, ms: importMs }));
`;
}

/** The mock-llm script: per run and loop variant a role with two tool calls, an off-schema answer and the answer. */
function loopScript(): MockScriptInput {
  const tc = (name: string, args: Record<string, unknown>) => ({ toolCalls: [{ name, arguments: args }] });
  const roles: Record<string, ScriptEntryInput[]> = {};
  for (let i = 0; i < runs; i++) {
    for (const v of ['c', 'd']) {
      roles[`${v}${i}`] = [
        tc('read_file', { path: 'src/a.ts' }),
        tc('read_file', { path: 'src/b.ts' }),
        tc('answer', { summary: 5 }),
        tc('answer', { summary: 'adds --verbose', files: ['src/a.ts'] }),
      ];
    }
  }
  return { version: 1, roles };
}

interface Sample {
  rss: number;
  peak: number;
  cpuMs: number;
  ms: number;
}

function once(variant: Variant, baseURL: string, run: number): Promise<Sample> {
  const child = spawn(process.execPath, [...AGENT_NODE_FLAGS, '--input-type=module', '-e', program(variant, baseURL, `${variant}${run}`)], {
    // Bare specifiers of `-e` code resolve from the working directory.
    cwd: lcDir ?? REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`variant ${variant} failed (${code}): ${err}`));
      else resolve(JSON.parse(out.trim().split('\n').pop()!) as Sample);
    });
  });
}

const median = (xs: number[]) => {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const variants: Variant[] = lcDir ? ['a', 'b', 'c', 'd'] : ['a', 'c'];
const samples: Record<string, Sample[]> = { a: [], b: [], c: [], d: [] };
const mock = await startMockLlm({ script: loopScript() });
try {
  for (let i = 0; i < runs; i++) for (const v of variants) samples[v]!.push(await once(v, mock.url, i));
  // Every loop run made its four calls, no more: the off-schema answer was sent back and the next one taken.
  const unused = mock.unused().filter((u) => variants.some((v) => u.role.startsWith(v)));
  if (unused.length > 0 || mock.failures.length > 0) throw new Error(`the loop runs did not follow the script: ${JSON.stringify({ unused, failures: mock.failures })}`);
} finally {
  await mock.close();
}

const label: Record<string, string> = {
  a: 'imports: @langchain/openai + shared/llm (today)',
  b: 'imports: + langchain',
  c: 'one loop run: runToolLoop (today)',
  d: 'one loop run: createAgent + middleware',
};
process.stdout.write(`Node ${process.versions.node}, flags ${AGENT_NODE_FLAGS.join(' ')}, ${runs} runs each, medians\n`);
for (const v of variants) {
  const s = samples[v]!;
  const rss = median(s.map((x) => x.rss));
  const peak = median(s.map((x) => x.peak));
  const cpu = median(s.map((x) => x.cpuMs));
  const ms = median(s.map((x) => x.ms));
  const ref = v === 'b' ? samples.a! : v === 'd' ? samples.c! : undefined;
  const sign = (x: number) => (x >= 0 ? '+' : '') ;
  const dr = ref ? rss - median(ref.map((x) => x.rss)) : 0;
  const dc = ref ? cpu - median(ref.map((x) => x.cpuMs)) : 0;
  const d = ref ? `  (Δ RSS ${sign(dr)}${dr.toFixed(1)} MB, Δ CPU ${sign(dc)}${Math.round(dc)} ms)` : '';
  process.stdout.write(
    `${label[v]!.padEnd(42)} RSS ${rss.toFixed(1)} MB  peak ${peak.toFixed(1)} MB  CPU ${Math.round(cpu)} ms  imports ${Math.round(ms)} ms${d}\n`,
  );
}
