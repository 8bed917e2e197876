import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from './log.ts';

function capture(bindings?: Record<string, unknown>) {
  const lines: Record<string, unknown>[] = [];
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { lines, log: createLogger({ level: 'debug', ...(bindings && { bindings }) }, dest) };
}

describe('logs', () => {
  it('redacts secrets at the top level and one level down, and keeps everything else', () => {
    const { lines, log } = capture();
    log.info({ OPENAI_API_KEY: 'sk-top', config: { OPENAI_API_KEY: 'sk-nested', NIGHTSHIFT_MODEL: 'gpt' }, token: 't', headers: { authorization: 'Bearer x', cookie: 'c' } }, 'starting');
    const line = JSON.stringify(lines[0]);
    for (const secret of ['sk-top', 'sk-nested', '"t"', 'Bearer x', '"c"']) expect(line).not.toContain(secret);
    expect(lines[0]).toMatchObject({ msg: 'starting', level: 'info', config: { NIGHTSHIFT_MODEL: 'gpt', OPENAI_API_KEY: '[redacted]' } });
  });

  it('binds the role on the root and the ticket on children', () => {
    const { lines, log } = capture({ agent: 'coder' });
    log.child({ ticketId: 'tk-0123456789', correlationId: 'tk-0123456789' }).warn('work failed');
    expect(lines[0]).toMatchObject({ agent: 'coder', ticketId: 'tk-0123456789', correlationId: 'tk-0123456789', level: 'warn', msg: 'work failed' });
    expect(typeof lines[0]!.time).toBe('string');
  });
});
