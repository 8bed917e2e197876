export { BusConnectError, busOptionsOf, connectBus, DEFAULT_NATS_URL } from './connection.ts';
export type { Bus, BusAuth, ConnectOptions } from './connection.ts';
export { isNoResponders, requestIntake } from './intake.ts';
export { decodeEnvelope, defineMessage, encodeEnvelope, envelope, Envelope, InvalidMessageError } from './envelope.ts';
export type { EnvelopeMeta, Message, MessageDef, MessageOf } from './envelope.ts';
export {
  CancelRequested,
  HumanAnswered,
  PR_FEEDBACK,
  PrChangesRequested,
  PrClosed,
  PrComment,
  PrFeedback,
  PrMerged,
  StageCompleted,
  StageFailed,
  StageStarted,
  StageUsage,
  StageOutcome,
  TICKET_EVENTS,
} from './messages/events.ts';
export { WorkItem, WorkTicket, workTicketOf } from './messages/work.ts';
export {
  Classification,
  CodingOutput,
  Coverage,
  Criterion,
  duplicatesOf,
  InstructionPaths,
  MAX_ERRORS,
  MAX_NAMED,
  RefiningOutput,
  ReviewComment,
  ReviewingOutput,
  Severity,
  Spec,
  SuiteRun,
  TestEvidence,
  Triage,
  triageCounts,
  TriagingOutput,
  triageOf,
  triageOutcome,
  WritingTestsOutput,
} from './messages/artifacts.ts';
export type { TriageOutcome } from './messages/artifacts.ts';
export type { WorkItemData } from './messages/work.ts';
export { EVENTS_BY_ORIGIN, publishEvent, refuseEvent } from './events.ts';
export { inboxPrefix, permissionsFor, PROCESS_KINDS } from './permissions.ts';
export type { Permissions, ProcessKind } from './permissions.ts';
export { nodeConfigText, seedFile, writeNodeConfig, writeServerAuth } from './server-config.ts';
export type { NodeSpec, ServerAuth } from './server-config.ts';
export { awaitProvisioned, DEFAULT_LIMITS, limitsFromConfig, provision, provisionOptions, storeBytesNeeded } from './provision.ts';
export type { Bound, Limits, ProvisionOptions } from './provision.ts';
export { createNames, createSubjects, EVENT_ORIGINS, Headers } from './subjects.ts';
export type { EventOrigin, Names, RejectedSource, Subjects } from './subjects.ts';
export { followTicket, TicketStore } from './tickets.ts';
export { runBusService } from './service.ts';
export type { BusServiceSpec, Needs, StartedService } from './service.ts';
export type { StoredTicket } from './tickets.ts';
export {
  answerTicket,
  cancelTicket,
  checkTicketId,
  createTicket,
  createTicketWhenServed,
  findPullRequest,
  getTicket,
  InvalidBudgetError,
  listPullRequests,
  listTickets,
  pullRequestOf,
  reportBug,
  RESTING_STATES,
  showPullRequest,
  waitTicket,
  WaitTimeoutError,
} from './client.ts';
export type { WaitOptions } from './client.ts';
export { createPullRequestStore } from './prs.ts';
export { Escalation, EscalationStore, PostedMessage, ThreadRef } from './escalations.ts';
export type { StoredEscalation } from './escalations.ts';
export { createTranscriptSink, readTranscript } from './transcripts.ts';
export { IssueAsk, IssueAskStore } from './issue-asks.ts';
export { traceContextOf, traceHeaders } from './trace.ts';
