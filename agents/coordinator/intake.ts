import {
  fieldIssues,
  IntakeRequest,
  repositoryProblem,
  type ErrorBody,
  type IntakeErrorCode,
} from '../../shared/index.ts';

/** Why an intake payload was refused: one code per cause, and the field paths at fault. */
export interface IntakeRejection extends ErrorBody {
  code: IntakeErrorCode;
}

export type IntakeParse = { ok: true; request: IntakeRequest } | { ok: false; error: IntakeRejection };

/**
 * Checks an intake payload in the order a person would fix it: size, JSON, schema, repository.
 * Only the repository check touches the outside world (git on a local path).
 */
export async function parseIntake(bytes: Uint8Array, maxBytes: number): Promise<IntakeParse> {
  if (bytes.byteLength > maxBytes) {
    return reject('payload_too_large', `payload is ${bytes.byteLength} bytes; the limit is ${maxBytes}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (err) {
    return reject('invalid_json', `payload is not JSON: ${(err as Error).message}`);
  }
  const parsed = IntakeRequest.safeParse(json);
  if (!parsed.success) {
    const issues = fieldIssues(parsed.error.issues);
    return reject('invalid_ticket', `ticket does not match the intake schema: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, issues);
  }
  const problem = await repositoryProblem(parsed.data.repo);
  if (problem) {
    const path = parsed.data.repo.url !== undefined ? 'repo.url' : 'repo.path';
    return reject('invalid_repository', problem, [{ path, message: problem }]);
  }
  return { ok: true, request: parsed.data };
}

function reject(code: IntakeErrorCode, message: string, issues?: ErrorBody['issues']): IntakeParse {
  return { ok: false, error: { code, message, ...(issues && { issues }) } };
}
