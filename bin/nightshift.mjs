#!/usr/bin/env node
// Launcher for the nightshift CLI (bin/nightshift.ts). The CLI is TypeScript run directly by
// Node.js 24. When the node running this file is older, it re-runs the CLI with the Node.js 24 that
// scripts/install provisioned into .toolchain/, passing signals and the exit code through.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const cli = join(here, 'nightshift.ts');
const major = Number(process.versions.node.split('.')[0]);

if (major >= 24) {
  await import(cli);
} else {
  const node = join(here, '..', '.toolchain', 'node_modules', '.bin', 'node');
  if (!existsSync(node)) {
    process.stderr.write(
      `nightshift: needs Node.js 24 (this is ${process.version}); run scripts/install once to provision it\n`,
    );
    process.exit(1);
  }
  const child = spawn(node, [cli, ...process.argv.slice(2)], { stdio: 'inherit' });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => child.kill(sig));
  }
  child.on('exit', (code, signal) => {
    if (signal) {
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
    }
    else process.exit(code ?? 1);
  });
}
