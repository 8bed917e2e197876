export { ConfigSchema, loadConfig, stageTimeout } from './config.ts';
export type { Config } from './config.ts';
export { formatDuration, parseDuration } from './duration.ts';
export { cidrContains, formatAllowRule, formatCidr, intToIpv4, ipv4ToInt, parseAllowList, parseCidr } from './net.ts';
export type { AllowRule, Cidr } from './net.ts';
export { freePort, freePortRange } from './ports.ts';
export {
  AgentError,
  CommandError,
  ConfigError,
  ConflictError,
  describeError,
  fieldIssues,
  NightshiftError,
  UsageError,
  UserInputError,
} from './errors.ts';
export type { FieldIssue } from './errors.ts';
export { redactUrl } from './redact.ts';
export { stripTerminalCodes } from './terminal.ts';
export { createLogger, REDACT_PATHS } from './log.ts';
export type { Logger, LogOptions } from './log.ts';
export { onHealthServing, onPhaseChange, startHealthServer, withHealth } from './health.ts';
export type { HealthListener, HealthServer, PhaseListener, ProcessState, Readiness } from './health.ts';
export { labelProcess, measureWorkPending, metricNames, metrics, observeModelCall, observeSandboxRun, startStage, ticketCensus } from './metrics.ts';
export type { Metrics, SandboxOutcome, SandboxRunObservation, StageEnd } from './metrics.ts';
export {
  canTransition,
  isStage,
  isTerminal,
  NEXT_AFTER,
  ROLE_OF_STAGE,
  ROLES,
  STAGES,
  STATES,
  TERMINAL_STATES,
  TRANSITIONS,
} from './ticket/states.ts';
export type { Role, TerminalState } from './ticket/states.ts';
export {
  Actor,
  Answer,
  BugDetails,
  BugReport,
  bugTicketRequest,
  ErrorBody,
  IntakeErrorCode,
  IntakeReply,
  IntakeRequest,
  LIMITS,
  OutboxItem,
  Question,
  RepoRef,
  RoleUsage,
  Stage,
  State,
  Ticket,
  TicketHead,
  TicketId,
  TicketType,
  TimelineEntry,
  TokenBudget,
} from './ticket/schema.ts';
export { ticketOfBranch } from './ticket/branch.ts';
export { budgetAnswerText, budgetDirective, budgetProblem, NO_USAGE, parseBudget, sumUsage, usedTokens } from './ticket/budget.ts';
export { repoRefOf, repositoryProblem, REPO_URL_SCHEMES } from './workspace/repo.ts';
export { randomTicketId, ticketIdForExternalId } from './ticket/id.ts';
export { delay, untilAborted, untilSettledOrAborted } from './async.ts';
export { clip } from './text.ts';
export { git, GitError, localPathOf, protocolOf } from './workspace/git.ts';
export type { GitIdentity, GitOptions, GitProtocol } from './workspace/git.ts';
export { pushBranch } from './workspace/push.ts';
export {
  changedFiles,
  commitAll,
  commitsSince,
  diff,
  excludeUntracked,
  openWorkspace,
  resetWorktree,
  roleIdentity,
  stageAll,
  ticketBranch,
  WorkspaceError,
  workspaceGit,
} from './workspace/workspace.ts';
export type { GitRemote, OpenWorkspaceOptions, Workspace, WorkspaceRepo } from './workspace/workspace.ts';
export { PullRequest } from './forge/forge.ts';
export type { Forge, ForgeRouter, OpenPullRequest, PullRequestStore } from './forge/forge.ts';
export { createLocalForge } from './forge/local.ts';
export { BodyTooLargeError, listenHttp, readBody } from './http.ts';
export {
  contextOfTraceparent,
  extractTrace,
  injectTrace,
  inSpan,
  markError,
  parentIn,
  SpanKind,
  SpanStatusCode,
  startTracing,
  traceExportUrl,
  traceparentOf,
  tracer,
  tracing,
  withTracing,
} from './trace.ts';
export type { HeaderCarrier, Span, SpanAttributes, SpanOptions, TraceContext, Tracing } from './trace.ts';
export { RunError, Runner, TestCase, testLabel, TestStatus, Totals } from './test-report.ts';
export type { TestReport } from './test-report.ts';
