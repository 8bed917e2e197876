const SKIP = new Set(['level', 'time', 'pid', 'msg', 'agent', 'hostname']);
const LEVEL_MARK: Record<string, string> = { warn: 'WARN ', error: 'ERROR ', fatal: 'FATAL ' };

/**
 * One JSON log line of a child process, made readable for a person:
 * `04:23:45 coordinator-1  event applied  ticketId=tk-… state=writing_tests`.
 * Lines that are not JSON are passed through behind the process name.
 */
export function prettyLogLine(name: string, line: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return `${name.padEnd(15)} ${line}`;
  }
  const time = typeof rec.time === 'string' ? rec.time.slice(11, 19) : '';
  const mark = LEVEL_MARK[String(rec.level)] ?? '';
  const fields = Object.entries(rec)
    .filter(([k, v]) => !SKIP.has(k) && v !== undefined && k !== 'err')
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  const err = rec.err as { message?: string } | undefined;
  if (err?.message) fields.push(`error=${JSON.stringify(err.message)}`);
  return `${time} ${name.padEnd(15)} ${mark}${String(rec.msg ?? '')}${fields.length ? `  ${fields.join(' ')}` : ''}`;
}
