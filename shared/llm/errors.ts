import { NightshiftError, type FieldIssue } from '../errors.ts';

/** What a model did wrong. */
export type ModelBehaviorCode =
  /** The answer was not JSON, or not JSON matching the schema, after the bounded repairs. */
  | 'off_schema'
  /** The model repeated the same tool call with the same arguments too many times. */
  | 'loop_detected'
  /** The tool loop reached its step limit without a final answer. */
  | 'max_steps';

/** The call a model kept repeating (`loop_detected`), bounded for people to read. */
export interface RepeatedCall {
  /** The tool's name, cut to 64 characters. */
  tool: string;
  /** Its arguments as canonical JSON (keys sorted), cut to 200 characters. */
  arguments: string;
  /** How many times the model made the call. */
  times: number;
}

/**
 * The model misbehaved in a way that asking again the same way will not fix. Never retryable: the
 * caller escalates the ticket. `issues` lists what was wrong (schema paths for `off_schema`).
 */
export class ModelBehaviorError extends NightshiftError {
  readonly code: ModelBehaviorCode;
  readonly retryable = false;
  readonly issues: readonly FieldIssue[];
  /** The last answer the model gave, when there is one (truncated). */
  readonly lastAnswer: string | undefined;
  /** For `loop_detected`: the call the model kept making. */
  readonly repeated: RepeatedCall | undefined;

  constructor(
    code: ModelBehaviorCode,
    message: string,
    options: { issues?: readonly FieldIssue[]; lastAnswer?: string; repeated?: RepeatedCall; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.code = code;
    this.issues = options.issues ?? [];
    this.lastAnswer = options.lastAnswer;
    this.repeated = options.repeated;
  }
}

/** The ticket's token budget is spent. Never retryable: the ticket escalates, it never loops on. */
export class BudgetExceededError extends NightshiftError {
  readonly code = 'budget_exceeded';
  readonly retryable = false;
  readonly ticketId: string;
  readonly role: string;
  readonly budget: number;
  readonly used: number;

  constructor(fields: { ticketId: string; role: string; budget: number; used: number }) {
    super(`ticket ${fields.ticketId} has used ${fields.used} of its ${fields.budget} tokens (stopped in ${fields.role})`);
    this.ticketId = fields.ticketId;
    this.role = fields.role;
    this.budget = fields.budget;
    this.used = fields.used;
  }
}

/** Every attempt of a model call ran past its timeout. Retryable later: the endpoint may recover. */
export class ModelTimeoutError extends NightshiftError {
  readonly code = 'model_timeout';
  readonly retryable = true;
  readonly timeoutMs: number;
  readonly attempts: number;

  constructor(timeoutMs: number, attempts: number) {
    super(`the model did not answer within ${timeoutMs}ms (${attempts} attempt${attempts === 1 ? '' : 's'})`);
    this.timeoutMs = timeoutMs;
    this.attempts = attempts;
  }
}

/** The endpoint kept failing (429, 5xx, unreachable) through every retry. Retryable later. */
export class ModelUnavailableError extends NightshiftError {
  readonly code = 'model_unavailable';
  readonly retryable = true;
  /** HTTP status of the last failure; undefined when the endpoint could not be reached. */
  readonly status: number | undefined;
  readonly attempts: number;

  constructor(message: string, fields: { status: number | undefined; attempts: number; cause?: unknown }) {
    super(message, { cause: fields.cause });
    this.status = fields.status;
    this.attempts = fields.attempts;
  }
}

/** The endpoint refused the request (a 4xx other than 429): wrong key, model or request. Not retryable. */
export class ModelRequestError extends NightshiftError {
  readonly code = 'model_request_rejected';
  readonly retryable = false;
  readonly status: number;

  constructor(message: string, fields: { status: number; cause?: unknown }) {
    super(message, { cause: fields.cause });
    this.status = fields.status;
  }
}
