import { isNoResponders, requestIntake, type Bus } from '../../bus/index.ts';
import { describeError, type IntakeReply, type Logger } from '../../shared/index.ts';
import type { GatewaySettings, Handled, SlackApi } from './gateway.ts';
import { bugReportOf, type ReportInbound } from './payloads.ts';
import { noCoordinatorText, refusedText, reportedText, unreachableText } from './render.ts';

/** Default bound on bug intake's answer to a report. */
const INTAKE_TIMEOUT_MS = 10_000;

export interface ReportsDeps {
  bus: Bus;
  slack: SlackApi;
  settings: GatewaySettings;
  log: Logger;
  /** Sends a thread reply without waiting for it (Slack wants a quick ack), finished before the gateway stops. */
  track(sent: Promise<void>): void;
}

/** Bug reports from the triage channel. */
export function createReports({ bus, slack, settings, log, track }: ReportsDeps) {
  /**
   * Files a message from the triage channel with bug intake and answers in its thread: the ticket, the
   * refusal, or why it could not be filed. The external id names the Slack message, so a delivery
   * Slack repeats is the same ticket (answered "already reported"). When intake cannot be asked or does
   * not answer, the thread says so and this throws, so that over HTTP Slack sends the event again.
   */
  async function report(m: ReportInbound): Promise<Handled> {
    const repo = settings.triageRepo;
    if (!repo || m.channel !== settings.triageChannel) return { status: 'ignored', reason: 'a message outside the triage channel' };
    const payload = bugReportOf(m, repo);
    const subject = bus.subjects.bugIntake;
    const at = { id: m.id, channel: m.channel, ts: m.ts, externalId: payload.externalId };
    let reply: IntakeReply;
    try {
      reply = await requestIntake(bus, subject, payload, settings.intakeTimeoutMs ?? INTAKE_TIMEOUT_MS);
    } catch (err) {
      if (isNoResponders(err)) {
        log.error({ ...at, subject }, 'no coordinator serves bug intake: the report from slack is not filed');
        answerInThread(m, noCoordinatorText(subject));
      } else {
        log.error({ ...at, err, subject }, 'the report from slack could not be handed to bug intake');
        answerInThread(m, unreachableText(describeError(err).message));
      }
      throw err;
    }
    if (!reply.ok) {
      log.warn({ ...at, code: reply.error.code, issues: reply.error.issues }, 'bug intake refused the report from slack');
      answerInThread(m, refusedText(reply.error));
      return { status: 'refused', code: reply.error.code, id: m.id };
    }
    log.info({ ...at, ticketId: reply.id, duplicate: reply.duplicate, by: payload.reporter }, 'bug report from slack filed');
    answerInThread(m, reportedText(reply.id, reply.duplicate, settings.channel));
    return { status: 'reported', ticketId: reply.id, id: m.id, duplicate: reply.duplicate };
  }

  function answerInThread(m: ReportInbound, text: string): void {
    track(
      slack.post(m.channel, { text }, { threadTs: m.ts }).then(
        () => log.debug({ id: m.id, channel: m.channel, ts: m.ts }, 'answered a report in its thread'),
        (err: unknown) => log.error({ err, id: m.id, channel: m.channel, ts: m.ts, text }, 'could not answer a report in its thread'),
      ),
    );
  }

  return { report };
}
