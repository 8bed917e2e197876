import { answerTicket, cancelTicket, checkTicketId, createTicket, duplicatesOf, getTicket, InvalidBudgetError, listTickets, pullRequestOf, readTranscript, triageCounts, triageOf, waitTicket } from '../bus/index.ts';
import { budgetAnswerText, createLogger, parseBudget, UsageError } from '../shared/index.ts';
import { withBus } from './bus.ts';
import { actor, configFrom, duration, oneId, parse, states, type Ctx } from './command.ts';
import { INTAKE_FLAGS, postIntakeCommand, repoArg } from './intake.ts';
import { renderEntry, renderList, renderTicket } from './render.ts';

/** `nightshift ticket create|show|list|wait|cancel|transcript`. */
export function ticketCommand(ctx: Ctx, argv: string[]): Promise<number> {
  const [sub, ...args] = argv;
  switch (sub) {
    case 'create':
      return create(ctx, args);
    case 'show':
      return show(ctx, args);
    case 'list':
      return list(ctx, args);
    case 'wait':
      return wait(ctx, args);
    case 'cancel':
      return cancel(ctx, args);
    case 'transcript':
      return transcript(ctx, args);
    default:
      throw new UsageError(`ticket needs a subcommand: create, show, list, wait, cancel or transcript`);
  }
}

function create(ctx: Ctx, argv: string[]): Promise<number> {
  const parsed = parse(argv, { ...INTAKE_FLAGS, body: { type: 'string' }, type: { type: 'string' }, requester: { type: 'string' } });
  return postIntakeCommand(ctx, 'ticket create', parsed, (v) => {
    if (!v.title || v.body === undefined || !v.repo) throw new UsageError('ticket create needs --title, --body and --repo (or --file)');
    return {
      title: v.title,
      body: v.body,
      repo: repoArg(v.repo, v['base-branch']),
      ...(v.type && { type: v.type }),
      ...(v['external-id'] && { externalId: v['external-id'] }),
      ...(v.requester && { requester: v.requester }),
      ...(v.label && { labels: v.label }),
    };
  }, createTicket);
}

async function show(ctx: Ctx, argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {});
  const id = oneId(positionals, 'ticket show');
  const config = configFrom(ctx, values, true);
  const { t, duplicates, pr } = await withBus(config, createLogger({ level: config.NIGHTSHIFT_LOG_LEVEL }), 'read', async (bus) => {
    const t = await getTicket(bus, id);
    return { t, duplicates: duplicatesOf(await listTickets(bus), id), pr: await pullRequestOf(bus, id) };
  });
  ctx.out({ ...t, duplicates, pullRequest: pr }, renderTicket(t, new Date(), duplicates, pr));
  return 0;
}

async function list(ctx: Ctx, argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { state: { type: 'string', multiple: true } });
  if (positionals.length) throw new UsageError('ticket list takes no arguments');
  const config = configFrom(ctx, values, true);
  const filter = states(values.state);
  const tickets = await withBus(config, createLogger({ level: config.NIGHTSHIFT_LOG_LEVEL }), 'read', (bus) => listTickets(bus, { states: filter }));
  const counts: Record<string, number> = {};
  for (const t of tickets) counts[t.state] = (counts[t.state] ?? 0) + 1;
  const summary = (t: (typeof tickets)[number]) => {
    const { id, title, state, type, createdAt, updatedAt, externalId, duplicateOf } = t;
    const triage = triageOf(t);
    return { id, title, state, type, createdAt, updatedAt, externalId, duplicateOf, ...(triage && { triage: { classification: triage.classification, severity: triage.severity, component: triage.component } }) };
  };
  ctx.out({ tickets: tickets.map(summary), counts, triage: triageCounts(tickets) }, renderList(tickets));
  return 0;
}

async function wait(ctx: Ctx, argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { state: { type: 'string', multiple: true }, timeout: { type: 'string' } });
  const id = oneId(positionals, 'ticket wait');
  const config = configFrom(ctx, values, true);
  const timeoutMs = duration(values.timeout, 30 * 60_000, '--timeout');
  const log = createLogger({ level: config.NIGHTSHIFT_LOG_LEVEL });
  const t = await withBus(config, log, 'read', (bus) =>
    waitTicket(bus, id, {
      states: states(values.state),
      timeoutMs,
      onEntry: ctx.json ? undefined : (e) => ctx.stderr(`${renderEntry(e)}\n`),
    }),
  );
  ctx.out(t, `${t.id} is ${t.state}`);
  return 0;
}

async function cancel(ctx: Ctx, argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { reason: { type: 'string' }, by: { type: 'string' }, timeout: { type: 'string' } });
  const id = oneId(positionals, 'ticket cancel');
  const config = configFrom(ctx, values, true);
  const timeoutMs = duration(values.timeout, 30_000, '--timeout');
  const t = await withBus(config, createLogger({ level: config.NIGHTSHIFT_LOG_LEVEL }), 'write', (bus) =>
    cancelTicket(bus, id, { by: actor(ctx, values), ...(values.reason && { reason: values.reason }), timeoutMs }),
  );
  ctx.out(t, `${t.id} is ${t.state}`);
  return t.state === 'cancelled' ? 0 : 1;
}

async function transcript(ctx: Ctx, argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {});
  const id = oneId(positionals, 'ticket transcript');
  const config = configFrom(ctx, values, true);
  const script = await withBus(config, createLogger({ level: config.NIGHTSHIFT_LOG_LEVEL }), 'read', async (bus) => {
    const t = await getTicket(bus, id);
    const { toMockScript } = await import('../shared/llm/index.ts');
    return toMockScript(await readTranscript(bus, t.id), { description: `replay of ticket ${t.id}: ${t.title}` });
  });
  ctx.stdout(`${JSON.stringify(script, null, ctx.json ? 0 : 2)}\n`);
  return 0;
}

/** Reads a `--budget` value; throws InvalidBudgetError. */
export function budgetOption(text: string): number {
  const parsed = parseBudget(text);
  if (!parsed.ok) throw new InvalidBudgetError(`--budget: ${parsed.message}`);
  return parsed.value;
}

/** `nightshift answer <id> <text…>`. */
export async function answerCommand(ctx: Ctx, argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { by: { type: 'string' }, timeout: { type: 'string' }, budget: { type: 'string' } });
  const [id, ...words] = positionals;
  const budget = values.budget === undefined ? undefined : budgetOption(values.budget);
  if (!id || (words.length === 0 && budget === undefined)) throw new UsageError('answer takes a ticket id and the answer text (the text may be left out with --budget)');
  checkTicketId(id);
  const text = words.length > 0 ? words.join(' ') : budgetAnswerText(budget!);
  const config = configFrom(ctx, values, true);
  const timeoutMs = duration(values.timeout, 30_000, '--timeout');
  const t = await withBus(config, createLogger({ level: config.NIGHTSHIFT_LOG_LEVEL }), 'write', (bus) =>
    answerTicket(bus, id, text, { by: actor(ctx, values), timeoutMs, ...(budget !== undefined && { budget }) }),
  );
  ctx.out(t, `${t.id} answered${budget === undefined ? '' : ` (token budget ${budget})`}; now ${t.state}`);
  return 0;
}
