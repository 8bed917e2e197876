import type { Escalation } from '../../bus/index.ts';
import { clip, type ErrorBody, type Question, type Ticket } from '../../shared/index.ts';
import { ANSWER_ACTION, slackUserOf, type ButtonValue } from './payloads.ts';

/** The Block Kit blocks the gateway sends (a subset of Slack's layout blocks). */
export type Block =
  | { type: 'header'; text: PlainText }
  | { type: 'section'; block_id?: string; text: Mrkdwn }
  | { type: 'actions'; block_id: string; elements: Button[] }
  | { type: 'context'; elements: Mrkdwn[] };

interface PlainText {
  type: 'plain_text';
  text: string;
  emoji?: boolean;
}

interface Mrkdwn {
  type: 'mrkdwn';
  text: string;
}

interface Button {
  type: 'button';
  action_id: string;
  text: PlainText;
  value: string;
}

/** A message's content: blocks, and the plain text Slack shows in notifications. */
export interface SlackMessage {
  text: string;
  blocks: Block[];
}

/** How an escalation ended, as the ticket tells it. */
export type Outcome =
  | { kind: 'answered'; by: string; text: string }
  | { kind: 'timed_out' }
  | { kind: 'cancelled'; by: string; reason?: string | undefined }
  | { kind: 'closed'; state: string };

/** Slack's limits on what we send: section text, header text, button label, fallback text. */
const SECTION_MAX = 3_000;
const HEADER_MAX = 150;
const BUTTON_MAX = 75;
const FALLBACK_MAX = 3_000;

type Asked = Pick<Escalation, 'ticketId' | 'title' | 'questions' | 'askedAt' | 'deadline'>;

/** The escalation: the ticket, its questions, a button per offered option, and how to answer. */
export function escalationMessage(e: Asked): SlackMessage {
  const blocks: Block[] = [...intro(e)];
  let buttons = false;
  e.questions.forEach((q, i) => {
    blocks.push(questionBlock(q, i, e.questions.length));
    if (!q.options?.length) return;
    buttons = true;
    blocks.push({
      type: 'actions',
      block_id: `a.${i}`,
      elements: q.options.map((option, o) => ({
        type: 'button',
        action_id: `${ANSWER_ACTION}.${i}.${o}`,
        text: { type: 'plain_text', text: clip(option, BUTTON_MAX), emoji: true },
        value: JSON.stringify({ t: e.ticketId, a: e.askedAt, q: i, o } satisfies ButtonValue),
      })),
    });
  });
  blocks.push({
    type: 'context',
    elements: [
      {
        type: 'mrkdwn',
        text:
          `Reply in this thread to answer${buttons ? ', or pick an option' : ''}. ` +
          `Unanswered, the ticket fails ${slackDate(e.deadline)}. ` +
          `From a terminal: \`nightshift answer ${e.ticketId} <answer>\``,
      },
    ],
  });
  const questions = e.questions.map((q) => `${q.to ? `(for ${addressee(q.to)}) ` : ''}${escape(q.text)}`).join(' / ');
  return { text: clipMrkdwn(`nightshift: ticket ${e.ticketId} needs an answer. ${escape(e.title)}: ${questions}`, FALLBACK_MAX), blocks };
}

/** The escalation once it is over: the questions without buttons, and what became of them. */
export function resolvedMessage(e: Asked, outcome: Outcome): SlackMessage {
  const blocks: Block[] = [...intro(e), ...e.questions.map((q, i) => questionBlock(q, i, e.questions.length))];
  blocks.push({ type: 'section', block_id: 'outcome', text: { type: 'mrkdwn', text: clipMrkdwn(describe(outcome)) } });
  return { text: clipMrkdwn(`nightshift: ticket ${e.ticketId}: ${escape(plain(outcome))}`, FALLBACK_MAX), blocks };
}

/** A reminder in the escalation's thread. */
export function reminderText(e: Asked, n: number, of: number): string {
  return `:alarm_clock: Reminder ${n} of ${of}: ticket ${e.ticketId} still needs an answer. Unanswered, it fails ${slackDate(e.deadline)}.`;
}

/**
 * What became of the parking that began at `askedAt`: the first answer given after it, else the way the
 * ticket ended.
 */
export function outcomeOf(t: Ticket, askedAt: string): Outcome {
  const asked = Date.parse(askedAt);
  const answer = t.answers.find((a) => Date.parse(a.at) >= asked);
  if (answer) return { kind: 'answered', by: answer.by, text: answer.text };
  if (t.state === 'failed' && t.failure?.code === 'human_timeout') return { kind: 'timed_out' };
  if (t.state === 'cancelled') {
    const e = t.timeline.findLast((x) => x.event === 'transition' && x.to === 'cancelled');
    return { kind: 'cancelled', by: e?.by ?? 'someone', reason: e?.reason };
  }
  return { kind: 'closed', state: t.state };
}

/** The answer a button gives: the option, with its question when the ticket asked several. */
export function answerText(questions: readonly Question[], q: number, o: number): string | null {
  const question = questions[q];
  const option = question?.options?.[o];
  if (!question || option === undefined) return null;
  return questions.length === 1 ? option : `${question.text}\n${option}`;
}

function intro(e: Asked): Block[] {
  return [
    { type: 'header', text: { type: 'plain_text', text: clip(`Question on ticket ${e.ticketId}`, HEADER_MAX), emoji: true } },
    { type: 'section', block_id: 'ticket', text: { type: 'mrkdwn', text: clipMrkdwn(`*${escape(e.title)}*`) } },
  ];
}

function questionBlock(q: Question, i: number, count: number): Block {
  const n = count > 1 ? `*${i + 1}.* ` : '';
  const to = q.to ? `Question for ${addressee(q.to)}:\n` : '';
  const optional = q.blocking ? '' : ' _(optional)_';
  return { type: 'section', block_id: `q.${i}`, text: { type: 'mrkdwn', text: clipMrkdwn(`${n}${to}${escape(q.text)}${optional}`) } };
}

function describe(o: Outcome): string {
  switch (o.kind) {
    case 'answered':
      return `:white_check_mark: Answered by ${actor(o.by)}:\n${quote(o.text)}`;
    case 'timed_out':
      return ':hourglass: Nobody answered in time: the ticket failed (`human_timeout`).';
    case 'cancelled':
      return `:no_entry_sign: The ticket was cancelled by ${actor(o.by)}${o.reason ? `: ${escape(o.reason)}` : ''}.`;
    case 'closed':
      return `This no longer needs an answer: the ticket is \`${o.state}\`.`;
  }
}

function plain(o: Outcome): string {
  switch (o.kind) {
    case 'answered':
      return `answered by ${o.by}`;
    case 'timed_out':
      return 'nobody answered in time; the ticket failed';
    case 'cancelled':
      return `cancelled by ${o.by}`;
    case 'closed':
      return `no longer needs an answer (${o.state})`;
  }
}

/** `slack:U123` as a mention Slack renders with the person's name; anyone else by name, in bold. */
function actor(by: string): string {
  const user = slackUserOf(by);
  return user ? `<@${user}>` : `*${escape(by)}*`;
}

/** Who a question is put to: `slack:U123` as a mention (Slack notifies them), anyone else by plain name. */
function addressee(to: string): string {
  const user = slackUserOf(to);
  return user ? `<@${user}>` : escape(to);
}

// ---- answers to bug reports from the triage channel ------------------------------------------------

/** The thread reply to a report bug intake took: its ticket, or the ticket it already is. */
export function reportedText(ticketId: string, duplicate: boolean, escalationChannel: string): string {
  if (duplicate) return `Already reported: this is ticket \`${ticketId}\`.`;
  return (
    `:white_check_mark: Reported as bug ticket \`${ticketId}\`. nightshift triages it next; ` +
    `questions about it come to <#${escalationChannel}>. From a terminal: \`nightshift ticket show ${ticketId}\``
  );
}

/** The thread reply to a report bug intake refused: its code, message and the fields at fault. */
export function refusedText(error: ErrorBody): string {
  const lines = [`:warning: Not reported: bug intake refused this report (\`${escape(error.code)}\`): ${escape(error.message)}`];
  for (const i of error.issues ?? []) lines.push(`• \`${escape(i.path)}\`: ${escape(i.message)}`);
  return clipMrkdwn(lines.join('\n'), FALLBACK_MAX);
}

/** The thread reply when no coordinator serves bug intake. */
export function noCoordinatorText(subject: string): string {
  return (
    `:warning: Not reported yet: no nightshift coordinator is serving bug intake (\`${escape(subject)}\`) right now. ` +
    'Slack sends the report again for a while; if no ticket id follows in this thread, post it again once nightshift is running.'
  );
}

/** The thread reply when bug intake could not be asked, or did not answer. */
export function unreachableText(reason: string): string {
  return clipMrkdwn(
    `:warning: This report could not be handed to nightshift (${escape(reason)}). If no ticket id appears in this thread, post it again.`,
    FALLBACK_MAX,
  );
}

function quote(text: string): string {
  return escape(text)
    .split('\n')
    .map((line) => `>${line}`)
    .join('\n');
}

function slackDate(iso: string): string {
  return `<!date^${Math.floor(Date.parse(iso) / 1000)}^{date_short_pretty} at {time}|${iso}>`;
}

/** Slack's escaping of `&`, `<` and `>` in message text. */
export function escape(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

/** Clips escaped text without cutting an entity in two. */
function clipMrkdwn(text: string, max = SECTION_MAX): string {
  if (text.length <= max) return text;
  return `${text.slice(0, max - 1).replace(/&[a-z]{0,3}$/, '')}…`;
}
