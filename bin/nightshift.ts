#!/usr/bin/env node
// The nightshift CLI's process: reads the command, hands it to its module in cli/, and turns the
// outcome into an exit code (cli/exit.ts). It owns the process — output, signals, the IPC channel to
// `up`, the exit code — and gives commands what they need of it through a context (cli/command.ts).
import { fileURLToPath } from 'node:url';
import { reportError, type Command, type Ctx } from '../cli/command.ts';
import type { ChildHealth, ChildPhase } from '../cli/up.ts';
import { USAGE } from '../cli/usage.ts';
import { onHealthServing, onPhaseChange, UsageError, type Logger } from '../shared/index.ts';

/** Each command's module, loaded when the command is run. */
const COMMANDS: Record<string, Command> = {
  up: async (ctx, argv) => (await import('../cli/stack.ts')).upCommand(ctx, argv),
  coordinator: async (ctx, argv) => (await import('../cli/stack.ts')).coordinatorCommand(ctx, argv),
  slack: async (ctx, argv) => (await import('../cli/stack.ts')).slackCommand(ctx, argv),
  agent: async (ctx, argv) => (await import('../cli/stack.ts')).agentCommand(ctx, argv),
  github: async (ctx, argv) => (await import('../cli/stack.ts')).githubCommand(ctx, argv),
  ticket: async (ctx, argv) => (await import('../cli/tickets.ts')).ticketCommand(ctx, argv),
  answer: async (ctx, argv) => (await import('../cli/tickets.ts')).answerCommand(ctx, argv),
  bug: async (ctx, argv) => (await import('../cli/bugs.ts')).bugCommand(ctx, argv),
  pr: async (ctx, argv) => (await import('../cli/prs.ts')).prCommand(ctx, argv),
  nats: async (ctx, argv) => (await import('../cli/natsconfig.ts')).natsCommand(ctx, argv),
  'mock-llm': async (ctx, argv) => (await import('../cli/mockllm.ts')).mockLlmCommand(ctx, argv),
  eval: async (ctx, argv) => (await import('../cli/eval/command.ts')).evalCommand(ctx, argv),
  web: async (ctx, argv) => (await import('../cli/web.ts')).webCommand(ctx, argv),
};

const SELF = fileURLToPath(import.meta.url);

async function main(argv: string[]): Promise<number> {
  // Started by `nightshift up`: tell it each phase of start-up, and when this process serves.
  if (process.send) onPhaseChange((phase) => process.send?.({ type: 'phase', phase } satisfies ChildPhase));
  // …and where its health server (with its /metrics) listens: up gives each child an ephemeral port.
  if (process.send) onHealthServing((url) => process.send?.({ type: 'health', url } satisfies ChildHealth));
  const json = argv.includes('--json');
  const ctx: Ctx = {
    json,
    out: (value, text) => process.stdout.write(`${json ? JSON.stringify(value) : text}\n`),
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    env: process.env,
    cwd: process.cwd(),
    self: { node: process.execPath, args: [...process.execArgv, SELF] },
    shutdown: shutdownSignal,
  };
  try {
    return await dispatch(ctx, argv);
  } catch (err) {
    return reportError(ctx, err);
  }
}

async function dispatch(ctx: Ctx, argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return command === undefined ? 2 : 0;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (command.startsWith('-')) throw new UsageError(`the command comes first: nightshift <command> [options]`);
  const run = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (!run) throw new UsageError(`unknown command "${command}"`);
  return run(ctx, rest);
}

/** An AbortSignal for a long-running command: aborted by SIGINT, SIGTERM, or a parent that went away. */
function shutdownSignal(log: Logger): AbortSignal {
  const ac = new AbortController();
  const stop = (why: string) => {
    if (ac.signal.aborted) return;
    log.info({ why }, 'shutting down');
    ac.abort();
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  if (process.channel) {
    // Started by `nightshift up`: the IPC channel only tells us when the parent is gone; it must not
    // keep this process alive once its work is done.
    process.on('disconnect', () => stop('parent exited'));
    process.channel.unref();
  }
  return ac.signal;
}

process.exitCode = await main(process.argv.slice(2));
