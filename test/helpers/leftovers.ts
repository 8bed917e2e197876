/**
 * How the suite finds what it started. Every test process carries `NIGHTSHIFT_TEST_RUN` (one id per
 * `vitest run`, set in vitest.config.ts or by whoever runs it, e.g. .ci/run) and `NIGHTSHIFT_TEST_FILE`
 * (one id per test file, set by test/setup/processes.ts) in its environment, and every process it starts
 * inherits both: processes are found by reading `/proc/<pid>/environ`, never by name. Sandbox containers
 * carry the same two ids as labels (`testLabels()` for a sandbox made in a test; `NIGHTSHIFT_SANDBOX_LABELS`
 * for one made by a child process). Also run as a script by .ci/run after the suite (see the bottom).
 */
import { readdirSync, readFileSync } from 'node:fs';

export const TEST_RUN_ENV = 'NIGHTSHIFT_TEST_RUN';
export const TEST_FILE_ENV = 'NIGHTSHIFT_TEST_FILE';
export const TEST_RUN_LABEL = 'nightshift.test-run';
export const TEST_FILE_LABEL = 'nightshift.test-file';

/** The labels a sandbox made in this test file puts on its containers. */
export function testLabels(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  return {
    ...(env[TEST_RUN_ENV] && { [TEST_RUN_LABEL]: env[TEST_RUN_ENV] }),
    ...(env[TEST_FILE_ENV] && { [TEST_FILE_LABEL]: env[TEST_FILE_ENV] }),
  };
}

/** `NIGHTSHIFT_SANDBOX_LABELS` text of `testLabels()`. */
export function testLabelsSetting(env: NodeJS.ProcessEnv = process.env): string {
  return Object.entries(testLabels(env))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

/** A live process: its pid and command line. */
export interface Leftover {
  pid: number;
  command: string;
}

/** Every live process (zombies aside) whose environment has `name=value`, except `exclude`. */
export function processesWith(name: string, value: string, exclude: ReadonlySet<number> = new Set([process.pid])): Leftover[] {
  const needle = Buffer.from(`\0${name}=${value}\0`);
  const found: Leftover[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (exclude.has(pid)) continue;
    try {
      const environ = Buffer.concat([Buffer.from('\0'), readFileSync(`/proc/${pid}/environ`)]);
      if (!environ.includes(needle)) continue;
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z') continue;
      found.push({ pid, command: readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ').slice(0, 300) });
    } catch {
      // gone, or not ours to read
    }
  }
  return found;
}

/** Containers (running or not) with `label=value`: id, image and status. */
export async function containersWith(label: string, value: string): Promise<string[]> {
  const { default: Docker } = await import('dockerode');
  const list = await new Docker().listContainers({ all: true, filters: { label: [`${label}=${value}`] } });
  return list.map((c) => `${c.Id.slice(0, 12)} ${c.Image} ${c.Status}`);
}

/*
 * `node test/helpers/leftovers.ts <run id>`: lists every process and sandbox container the suite run
 * `<run id>` left behind, and exits 1 when there is any. Kills and removes nothing: it only reports.
 */
if (import.meta.main) {
  const run = process.argv[2];
  if (!run) {
    console.error('usage: node test/helpers/leftovers.ts <test run id>');
    process.exit(2);
  }
  // A process sent SIGTERM by the last test may still be on its way out: it gets 10 s.
  const exclude = new Set([process.pid, process.ppid]);
  let processes = processesWith(TEST_RUN_ENV, run, exclude);
  for (const deadline = Date.now() + 10_000; processes.length > 0 && Date.now() < deadline; processes = processesWith(TEST_RUN_ENV, run, exclude)) {
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  let containers: string[] = [];
  let dockerError: string | undefined;
  try {
    containers = await containersWith(TEST_RUN_LABEL, run);
  } catch (err) {
    dockerError = (err as Error).message;
  }
  for (const p of processes) console.log(`left running: pid ${p.pid}: ${p.command}`);
  for (const c of containers) console.log(`left behind: container ${c}`);
  if (dockerError) console.log(`leftovers: could not list containers (${dockerError})`);
  if (processes.length + containers.length === 0) console.log(`leftovers: no process or container of test run ${run} is left`);
  process.exit(processes.length + containers.length > 0 ? 1 : 0);
}
