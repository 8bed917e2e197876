/**
 * `npm run bench`: nightshift's speed and memory, each figure printed as a ratio against a baseline
 * measured in the same run on the same machine, so that the numbers compare across machines. A group
 * that needs a nats-server or a Docker engine prints why it was skipped when either is missing.
 *
 * Options: `--quick` (fewer iterations, for a smoke run), `--json` (one JSON object per line),
 * `--only <group>[,<group>…]`, `--list`.
 */
import type { BenchModule, BenchOptions } from './lib.ts';
import { memory } from './memory.ts';
import { orchestration } from './orchestration.ts';
import { pure } from './pure.ts';
import { sandbox } from './sandbox.ts';
import { tokensBench } from './tokens.ts';
import { web } from './web.ts';

const MODULES: BenchModule[] = [pure, orchestration, sandbox, memory, tokensBench, web];

const argv = process.argv.slice(2);
const opts: BenchOptions = { quick: argv.includes('--quick'), json: argv.includes('--json') };
const onlyAt = argv.indexOf('--only');
const only = onlyAt >= 0 ? (argv[onlyAt + 1] ?? '').split(',').filter(Boolean) : [];
const unknown = only.filter((n) => !MODULES.some((m) => m.name === n));
if (unknown.length > 0) {
  process.stderr.write(`unknown benchmark group: ${unknown.join(', ')} (groups: ${MODULES.map((m) => m.name).join(', ')})\n`);
  process.exit(2);
}
if (argv.includes('--list')) {
  for (const m of MODULES) process.stdout.write(`${m.name.padEnd(14)} ${m.what}\n`);
} else {
  for (const m of MODULES) if (only.length === 0 || only.includes(m.name)) await m.run(opts);
}
