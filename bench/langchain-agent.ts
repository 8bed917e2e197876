/**
 * What `langchain`'s `createAgent` would cost an agent process (issue 16): resident memory and CPU time
 * of fresh Node 24 processes started with the agents' flags (cli/up.ts AGENT_NODE_FLAGS) that import
 * (a) what an agent imports today for its loop: `@langchain/openai` and shared/llm/{client,loop}.ts;
 * (b) that and `langchain` (createAgent and its middleware, all from the package's main entry);
 * (c) (b) and one agent built: createAgent with a tool, a structured answer (toolStrategy) and the
 *     model-call, tool-call and retry middleware plus one custom middleware — built, not run.
 * Runs alternate (a, b, c, a, b, c…); the medians are printed. Not part of `npm run bench`: `langchain`
 * is not a dependency of nightshift, so it is installed in a scratch directory that shares nightshift's
 * own @langchain/core, @langchain/openai, openai, langsmith and zod (one copy of each in the process):
 *
 *   mkdir -p /tmp/lc-eval && cd /tmp/lc-eval && echo '{"private":true,"type":"module"}' > package.json
 *   <repo>/scripts/node24 npm install --ignore-scripts langchain@1.5.14 @langchain/core@1.4.0 @langchain/openai@1.6.0
 *   for p in @langchain/core @langchain/openai openai langsmith zod; do rm -rf node_modules/$p; ln -s <repo>/node_modules/$p node_modules/$p; done
 *   cd <repo> && scripts/node24 node bench/langchain-agent.ts --langchain /tmp/lc-eval [--runs 9]
 *
 * Without `--langchain` only (a) is measured. Linux only (/proc/self/status).
 */
import { spawnSync } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { AGENT_NODE_FLAGS } from '../cli/up.ts';

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

/** The child's program: imports, optionally builds an agent, then prints its RSS, peak RSS and CPU. */
function program(variant: 'a' | 'b' | 'c'): string {
  return `
const t0 = performance.now();
await import('@langchain/openai');
await import(${JSON.stringify(clientUrl)});
await import(${JSON.stringify(loopUrl)});
if (${JSON.stringify(variant)} !== 'a') {
  const lc = await import('langchain');
  if (${JSON.stringify(variant)} === 'c') {
    const { z } = await import('zod');
    const { ChatOpenAI } = await import('@langchain/openai');
    const model = new ChatOpenAI({ model: 'm', apiKey: 'k', configuration: { baseURL: 'http://127.0.0.1:9/v1' } });
    const readFile = lc.tool(async ({ path }) => path, { name: 'read_file', description: 'read a file', schema: z.object({ path: z.string() }) });
    const seen = lc.createMiddleware({ name: 'LoopDetection', wrapToolCall: async (request, handler) => handler(request) });
    globalThis.agent = lc.createAgent({
      model,
      tools: [readFile],
      responseFormat: lc.toolStrategy(z.object({ summary: z.string(), files: z.array(z.string()) })),
      middleware: [
        lc.modelCallLimitMiddleware({ runLimit: 25, exitBehavior: 'error' }),
        lc.toolCallLimitMiddleware({ runLimit: 50, exitBehavior: 'error' }),
        lc.modelRetryMiddleware({ maxRetries: 2 }),
        seen,
      ],
    });
  }
}
const ms = performance.now() - t0;
const status = (await import('node:fs')).readFileSync('/proc/self/status', 'utf8');
const kb = (f) => Number(new RegExp('^' + f + ':\\\\s+(\\\\d+) kB', 'm').exec(status)[1]);
const cpu = process.cpuUsage();
console.log(JSON.stringify({ rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024, cpuMs: (cpu.user + cpu.system) / 1000, ms }));
`;
}

interface Sample {
  rss: number;
  peak: number;
  cpuMs: number;
  ms: number;
}

function once(variant: 'a' | 'b' | 'c'): Sample {
  const res = spawnSync(process.execPath, [...AGENT_NODE_FLAGS, '--input-type=module', '-e', program(variant)], {
    // Bare specifiers of `-e` code resolve from the working directory.
    cwd: lcDir ?? REPO,
    encoding: 'utf8',
  });
  if (res.status !== 0) throw new Error(`variant ${variant} failed (${res.status}): ${res.stderr}`);
  return JSON.parse(res.stdout.trim().split('\n').pop()!) as Sample;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const variants = (lcDir ? ['a', 'b', 'c'] : ['a']) as ('a' | 'b' | 'c')[];
const samples: Record<string, Sample[]> = { a: [], b: [], c: [] };
for (let i = 0; i < runs; i++) for (const v of variants) samples[v]!.push(once(v));

const label: Record<string, string> = {
  a: '@langchain/openai + shared/llm loop (today)',
  b: '+ langchain (createAgent, middleware)',
  c: '+ one agent built (tool, toolStrategy, 4 middleware)',
};
process.stdout.write(`Node ${process.versions.node}, flags ${AGENT_NODE_FLAGS.join(' ')}, ${runs} runs each, medians\n`);
const base = samples.a!;
for (const v of variants) {
  const s = samples[v]!;
  const rss = median(s.map((x) => x.rss));
  const peak = median(s.map((x) => x.peak));
  const cpu = median(s.map((x) => x.cpuMs));
  const ms = median(s.map((x) => x.ms));
  const d = v === 'a' ? '' : `  (Δ RSS +${(rss - median(base.map((x) => x.rss))).toFixed(1)} MB, Δ CPU +${Math.round(cpu - median(base.map((x) => x.cpuMs)))} ms)`;
  process.stdout.write(
    `${label[v]!.padEnd(52)} RSS ${rss.toFixed(1)} MB  peak ${peak.toFixed(1)} MB  CPU ${Math.round(cpu)} ms  import ${Math.round(ms)} ms${d}\n`,
  );
}
