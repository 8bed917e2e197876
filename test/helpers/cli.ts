import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { scaled, waitFor } from './wait.ts';

/** The CLI entry, run with the Node.js running the tests (24). */
export const CLI = fileURLToPath(new URL('../../bin/nightshift.ts', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `nightshift <args>` to completion (bounded by `timeoutMs`, scaled for this run), with `env` added to the environment. */
export function runCli(args: string[], env: Record<string, string>, { timeoutMs = 60_000, input }: { timeoutMs?: number; input?: string | Uint8Array } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, ...env },
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    proc.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    if (input !== undefined) proc.stdin!.end(input);
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`nightshift ${args.join(' ')} did not finish within ${scaled(timeoutMs)}ms\nstdout: ${stdout}\nstderr: ${stderr.slice(-3000)}`));
    }, scaled(timeoutMs));
    proc.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A long-running nightshift process (coordinator, agent, up) with its output collected. */
export interface CliProcess extends AsyncDisposable {
  proc: ChildProcess;
  readonly pid: number;
  stdout(): string;
  stderr(): string;
  /** Log lines (JSON on stderr) parsed so far. */
  logs(): Record<string, unknown>[];
  /** Resolves with the exit code (or signal name) once the process has exited. */
  exited: Promise<number | string>;
  /** Waits until a log line matches. */
  waitForLog(what: string, match: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
}

export function spawnCli(args: string[], env: Record<string, string>): CliProcess {
  const proc = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
    if (process.env.NIGHTSHIFT_TEST_LOGS === '1') process.stderr.write(d);
  });
  const exited = new Promise<number | string>((resolve) => proc.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  const logs = () =>
    err
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .flatMap((l) => {
        try {
          return [JSON.parse(l) as Record<string, unknown>];
        } catch {
          return [];
        }
      });
  return {
    proc,
    pid: proc.pid!,
    stdout: () => out,
    stderr: () => err,
    logs,
    exited,
    waitForLog: (what, match, timeoutMs = 20_000) =>
      waitFor(what, () => {
        if (proc.exitCode !== null) throw new Error(`process exited ${proc.exitCode}: ${err.slice(-2000)}`);
        return logs().find(match);
      }, { timeoutMs }),
    async [Symbol.asyncDispose]() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGKILL');
        await exited;
      }
    },
  };
}
