import { envelope, HumanAnswered, publishEvent, type Bus } from '../../bus/index.ts';
import { budgetProblem, type Logger, type Question } from '../../shared/index.ts';
import { refOf, type GatewayStores } from './escalations.ts';
import type { EscalationRef, Handled, SlackApi } from './gateway.ts';
import { replyAnswer, slackActor, type Inbound } from './payloads.ts';
import { answerText } from './render.ts';

/** What answers an escalation: a reply in its thread, or a click on one of its buttons. */
export type AnswerInbound = Exclude<Inbound, { kind: 'report' }>;

export interface AnswersDeps {
  bus: Bus;
  slack: SlackApi;
  log: Logger;
  stores: GatewayStores;
  /** Sends a thread reply without waiting for it (Slack wants a quick ack), finished before the gateway stops. */
  track(sent: Promise<void>): void;
}

/**
 * Answers from Slack: a reply in an escalation's thread or a click on its current message becomes the
 * ticket's `human.answered` (under the Slack payload's id, so a delivery Slack repeats is one answer),
 * when the ticket still waits for that very parking.
 */
export function createAnswers({ bus, slack, log, stores, track }: AnswersDeps) {
  async function handle(inbound: AnswerInbound): Promise<Handled> {
    if (inbound.kind === 'reply') {
      const ref = await stores.escalations.thread({ channel: inbound.channel, ts: inbound.threadTs });
      if (!ref) return { status: 'ignored', reason: 'a reply in a thread that is not an escalation' };
      const text = inbound.text.trim();
      if (text === '') return { status: 'ignored', reason: 'an empty reply', ticketId: ref.ticketId };
      const given = replyAnswer(text);
      const thread = { channel: inbound.channel, ts: inbound.threadTs };
      if (!given.ok) return refuseInThread(thread, ref.ticketId, `Not taken: ${given.message}. Reply \`budget: <tokens>\` to raise this ticket's budget.`);
      return answer(ref, inbound.user, inbound.id, () => given.text, given.budget, thread);
    }
    const { value } = inbound;
    const e = (await stores.escalations.get(value.t))?.escalation;
    const m = e?.message;
    if (!e || e.askedAt !== value.a || m?.channel !== inbound.channel || m.ts !== inbound.messageTs) {
      return { status: 'ignored', reason: 'a button that is not on the current escalation message', ticketId: value.t };
    }
    return answer(refOf(e), inbound.user, inbound.id, (questions) => answerText(questions, value.q, value.o));
  }

  async function answer(
    ref: EscalationRef,
    user: string,
    id: string,
    textOf: (questions: Question[]) => string | null,
    budget?: number,
    thread?: { channel: string; ts: string },
  ): Promise<Handled> {
    const { ticketId } = ref;
    const t = (await stores.tickets.get(ticketId))?.ticket;
    if (!t || t.state !== 'awaiting_human' || t.parked?.askedAt !== ref.askedAt) {
      return { status: 'ignored', reason: `ticket is ${t?.state ?? 'gone'}, not waiting for this answer`, ticketId };
    }
    const text = textOf(t.parked.questions);
    if (text === null) return { status: 'ignored', reason: 'no such option', ticketId };
    if (text.length > 20_000) return { status: 'ignored', reason: 'an answer over 20000 characters', ticketId };
    const problem = budget === undefined ? null : budgetProblem(budget, t.usage);
    if (problem !== null) {
      return thread ? refuseInThread(thread, ticketId, `Not taken: ${problem}. Reply \`budget: <tokens>\` with a larger budget.`) : { status: 'ignored', reason: problem, ticketId };
    }
    const by = slackActor(user);
    const msg = envelope(HumanAnswered, { ticketId, text, by, ...(budget !== undefined && { budget }) }, { id, source: 'slack', correlationId: ticketId });
    const ack = await publishEvent(bus, 'slack', ticketId, msg);
    log.info({ ticketId, by, id, duplicate: ack.duplicate, budget }, 'answer from slack published');
    return { status: 'published', ticketId, id, duplicate: ack.duplicate };
  }

  /** A reply that cannot be taken as it is (an unusable budget): the thread says why; nothing is published. */
  function refuseInThread(thread: { channel: string; ts: string }, ticketId: string, text: string): Handled {
    track(
      slack.post(thread.channel, { text }, { threadTs: thread.ts }).then(
        () => log.info({ ticketId, thread }, 'told the thread why a reply was not taken'),
        (err: unknown) => log.error({ err, ticketId, thread }, 'could not tell the thread why a reply was not taken'),
      ),
    );
    return { status: 'ignored', reason: text, ticketId };
  }

  return { handle };
}
