import type { z } from 'zod';
import {
  BugReport,
  bugTicketRequest,
  fieldIssues,
  IntakeRequest,
  repositoryProblem,
  type BugDetails,
  type ErrorBody,
  type IntakeErrorCode,
  type RepoRef,
} from '../../shared/index.ts';

/** Why an intake payload was refused: one code per cause, and the field paths at fault. */
export interface IntakeRejection extends ErrorBody {
  code: IntakeErrorCode;
}

/** An accepted payload as the ticket it becomes; `report` holds a bug report's own details. */
export interface IntakeAccepted {
  request: IntakeRequest;
  report?: BugDetails;
}

export type IntakeParse = ({ ok: true } & IntakeAccepted) | { ok: false; error: IntakeRejection };

/** The two intake subjects: what each accepts, and how it becomes a ticket. */
export interface IntakeKind<S extends z.ZodType> {
  source: 'tickets' | 'bugs';
  schema: S;
  /** The code of a payload that does not match the schema. */
  invalidCode: IntakeErrorCode;
  what: string;
  toTicket(value: z.output<S>): IntakeAccepted;
  repo(value: z.output<S>): RepoRef;
}

export const TICKET_INTAKE: IntakeKind<typeof IntakeRequest> = {
  source: 'tickets',
  schema: IntakeRequest,
  invalidCode: 'invalid_ticket',
  what: 'ticket does not match the intake schema',
  toTicket: (request) => ({ request }),
  repo: (request) => request.repo,
};

export const BUG_INTAKE: IntakeKind<typeof BugReport> = {
  source: 'bugs',
  schema: BugReport,
  invalidCode: 'invalid_report',
  what: 'bug report does not match the bug report schema',
  toTicket: (report) => {
    const { request, details } = bugTicketRequest(report);
    return { request, report: details };
  },
  repo: (report) => report.repo,
};

/**
 * Checks an intake payload in the order a person would fix it: size, JSON, schema, repository.
 * Only the repository check touches the outside world (the file system, for a local path).
 */
export async function parseIntake<S extends z.ZodType>(bytes: Uint8Array, maxBytes: number, kind: IntakeKind<S> = TICKET_INTAKE as never): Promise<IntakeParse> {
  if (bytes.byteLength > maxBytes) {
    return reject('payload_too_large', `payload is ${bytes.byteLength} bytes; the limit is ${maxBytes}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (err) {
    return reject('invalid_json', `payload is not JSON: ${(err as Error).message}`);
  }
  const parsed = kind.schema.safeParse(json);
  if (!parsed.success) {
    const issues = fieldIssues(parsed.error.issues);
    return reject(kind.invalidCode, `${kind.what}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, issues);
  }
  const repo = kind.repo(parsed.data);
  const problem = await repositoryProblem(repo);
  if (problem) {
    const path = repo.url !== undefined ? 'repo.url' : 'repo.path';
    return reject('invalid_repository', problem, [{ path, message: problem }]);
  }
  return { ok: true, ...kind.toTicket(parsed.data) };
}

function reject(code: IntakeErrorCode, message: string, issues?: ErrorBody['issues']): IntakeParse {
  return { ok: false, error: { code, message, ...(issues && { issues }) } };
}
