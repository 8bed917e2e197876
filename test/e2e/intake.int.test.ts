import { createConnection } from 'node:net';
import { NoRespondersError, RequestError } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { Headers } from '../../bus/index.ts';
import { IntakeReply, Ticket } from '../../shared/index.ts';
import { runCli, spawnCli } from '../helpers/cli.ts';
import { setup, type TestEnv } from '../helpers/env.ts';
import { makeRepo } from '../helpers/git.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * Publishes one request with the raw NATS text protocol (no client library, no headers) and reads
 * the reply: what any NATS client in any language can do.
 */
function rawRequest(port: number, subject: string, payload: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = createConnection({ port, host: '127.0.0.1' });
    const body = Buffer.from(payload);
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no reply over the raw protocol; got: ${buf.toString()}`));
    }, 15_000);
    sock.on('error', reject);
    sock.once('data', () => {
      sock.write('CONNECT {"verbose":false,"pedantic":false,"name":"raw-test"}\r\n');
      sock.write('SUB _INBOX.raw 1\r\n');
      sock.write(`PUB ${subject} _INBOX.raw ${body.length}\r\n`);
      sock.write(Buffer.concat([body, Buffer.from('\r\n')]));
      sock.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        const text = buf.toString();
        const m = /MSG _INBOX\.raw 1 (\d+)\r\n/.exec(text);
        if (!m) {
          if (text.includes('PING\r\n')) sock.write('PONG\r\n');
          return;
        }
        const start = buf.indexOf(m[0]) + Buffer.byteLength(m[0]);
        const size = Number(m[1]);
        if (buf.length < start + size) return;
        clearTimeout(timer);
        sock.destroy();
        resolve(buf.subarray(start, start + size).toString());
      });
    });
  });
}

async function post(env: TestEnv, payload: string | Uint8Array, subject = env.bus.subjects.ticketIntake): Promise<IntakeReply> {
  const msg = await env.bus.nc.request(subject, payload, { timeout: 15_000 });
  return IntakeReply.parse(msg.json());
}

async function rejected(env: TestEnv): Promise<{ subject: string; code: string; message: string; size: number; data: Uint8Array }[]> {
  const info = await env.bus.jsm.streams.info(env.bus.names.rejectedStream);
  const out = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await env.bus.jsm.streams.getMessage(env.bus.names.rejectedStream, { seq });
    if (!m) continue;
    out.push({
      subject: m.subject,
      code: m.header.get(Headers.RejectCode),
      message: m.header.get(Headers.RejectMessage),
      size: Number(m.header.get(Headers.OriginalSize)),
      data: m.data,
    });
  }
  return out;
}

describe('ticket intake', () => {
  it('takes a ticket from a raw-protocol client, shows it, and deduplicates by externalId', async () => {
    await using env = await setup();
    await using coordinator = spawnCli(['coordinator'], env.childEnv);
    await coordinator.waitForLog('coordinator started', (l) => l.msg === 'coordinator started');
    const ticket = { title: 'Add a --verbose flag', body: 'Print each step.', repo: { path: makeRepo() }, externalId: 'JIRA-42' };

    const first = IntakeReply.parse(JSON.parse(await rawRequest(env.nats.port, env.bus.subjects.ticketIntake, JSON.stringify(ticket))));
    expect(first).toEqual({ ok: true, id: expect.stringMatching(/^tk-[0-9a-z]{10}$/), duplicate: false });
    const id = first.ok ? first.id : '';

    const shown = await runCli(['ticket', 'show', id, '--json'], env.childEnv);
    expect(shown.code).toBe(0);
    const t = Ticket.parse(JSON.parse(shown.stdout));
    expect(t).toMatchObject({ id, title: ticket.title, externalId: 'JIRA-42', type: 'feature' });
    expect(t.timeline[0]).toMatchObject({ event: 'received', by: 'intake:anonymous' });

    const again = await runCli(
      ['ticket', 'create', '--json', '--title', 'other words', '--body', 'x', '--repo', ticket.repo.path, '--external-id', 'JIRA-42'],
      env.childEnv,
    );
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toEqual({ ok: true, id, duplicate: true });

    const human = await runCli(['ticket', 'show', id], env.childEnv);
    expect(human.stdout).toContain(`${id}  Add a --verbose flag`);
    expect(human.stdout).toContain('timeline:');
    expect(human.stdout).toMatch(/received → refining/);
  });

  it('keeps the same id for an externalId after the coordinator and the server restart', async () => {
    await using env = await setup();
    const first = spawnCli(['coordinator'], env.childEnv);
    await first.waitForLog('coordinator started', (l) => l.msg === 'coordinator started');
    const payload = JSON.stringify({ title: 't', body: 'b', repo: { path: makeRepo() }, externalId: 'GH-7' });
    const a = await post(env, payload);
    first.proc.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    await env.nats.restart();
    await using second = spawnCli(['coordinator'], env.childEnv);
    await second.waitForLog('coordinator started', (l) => l.msg === 'coordinator started');
    const b = await waitFor('a reply after the restart', () => post(env, payload).catch(() => undefined));
    expect(a.ok && b.ok && b.id === a.id && b.duplicate).toBe(true);
  });

  it('answers each kind of bad payload with its own code, keeps it, and keeps serving', async () => {
    await using env = await setup({ NIGHTSHIFT_INTAKE_MAX_BYTES: '2048' });
    await using coordinator = spawnCli(['coordinator'], env.childEnv);
    await coordinator.waitForLog('coordinator started', (l) => l.msg === 'coordinator started');
    const repo = makeRepo();

    const notJson = await post(env, '{"title": "unterminated');
    const schema = await post(env, JSON.stringify({ title: '', body: 1, repo: { path: repo }, colour: 'red', labels: ['ok', ''] }));
    const big = await post(env, JSON.stringify({ title: 't', body: 'x'.repeat(5_000), repo: { path: repo } }));
    const notGit = await post(env, JSON.stringify({ title: 't', body: 'b', repo: { path: '/tmp' } }));
    const scheme = await post(env, JSON.stringify({ title: 't', body: 'b', repo: { url: 'ftp://example.com/r.git' } }));

    const codes = [notJson, schema, big, notGit, scheme].map((r) => (r.ok ? 'ok' : r.error.code));
    expect(codes).toEqual(['invalid_json', 'invalid_ticket', 'payload_too_large', 'invalid_repository', 'invalid_repository']);
    expect(schema.ok ? [] : schema.error.issues?.map((i) => i.path).sort()).toEqual(['(root)', 'body', 'labels.1', 'title']);
    expect(notGit.ok ? '' : notGit.error.message).toContain('not a git repository');
    expect(scheme.ok ? '' : scheme.error.message).toContain('ftp');

    const kept = await waitFor('five rejected payloads kept', async () => {
      const r = await rejected(env);
      return r.length === 5 ? r : undefined;
    });
    expect(kept.map((k) => k.code)).toEqual(codes);
    expect(new TextDecoder().decode(kept[0]!.data)).toBe('{"title": "unterminated');
    expect(kept[2]!.size).toBeGreaterThan(5_000);
    expect(kept[2]!.data.byteLength).toBe(2048);

    const good = await post(env, JSON.stringify({ title: 'still serving', body: 'b', repo: { path: repo } }));
    expect(good).toMatchObject({ ok: true, duplicate: false });
  });

  it('gives a requester no-responders at once when no coordinator runs', async () => {
    await using env = await setup();
    const err = await env.bus.nc.request(env.bus.subjects.ticketIntake, '{}', { timeout: 10_000 }).catch((e: unknown) => e);
    expect(err instanceof NoRespondersError || (err instanceof RequestError && err.isNoResponders())).toBe(true);

    const cli = await runCli(['ticket', 'create', '--json', '--title', 't', '--body', 'b', '--repo', makeRepo()], env.childEnv);
    expect(cli.code).toBe(1);
    expect(JSON.parse(cli.stdout)).toMatchObject({ ok: false, error: { code: 'no_coordinator' } });
  });
});

describe('bug intake', () => {
  it('stores a bug report as a bug ticket with its details, and deduplicates by externalId', async () => {
    await using env = await setup();
    await using coordinator = spawnCli(['coordinator'], env.childEnv);
    await coordinator.waitForLog('coordinator started', (l) => l.msg === 'coordinator started');
    const repo = makeRepo();
    const report = {
      title: 'deploy crashes on an empty config file',
      description: '`deployer apply` dies with a TypeError when deploy.yaml is empty.',
      repo: { path: repo },
      steps: '1. touch deploy.yaml\n2. deployer apply',
      expected: 'a clear error naming the file',
      actual: "TypeError: Cannot read properties of null (reading 'targets')",
      logs: 'at plan (src/plan.js:14:22)',
      environment: 'Node 24, Debian 12',
      reporter: 'grace@acme.example',
      externalId: 'JIRA-4822',
      labels: ['config'],
    };
    const first = await post(env, JSON.stringify(report), env.bus.subjects.bugIntake);
    expect(first).toEqual({ ok: true, id: expect.stringMatching(/^tk-[0-9a-z]{10}$/), duplicate: false });
    const id = first.ok ? first.id : '';
    // With no triager running, the ticket rests in triaging once dispatched.
    const t = await waitFor('the bug to be dispatched to triage', async () => {
      const r = await runCli(['ticket', 'show', id, '--json'], env.childEnv);
      const shown = Ticket.parse(JSON.parse(r.stdout));
      return shown.state === 'triaging' ? shown : undefined;
    });
    expect(t).toMatchObject({ type: 'bug', title: report.title, body: report.description, requester: 'grace@acme.example', externalId: 'JIRA-4822', labels: ['config'] });
    expect(t.report).toEqual({ steps: report.steps, expected: report.expected, actual: report.actual, logs: report.logs, environment: report.environment });
    expect(t.work).toMatchObject({ stage: 'triaging', attempt: 1 });

    const again = await runCli(['bug', 'report', '--json', '--title', 'same, other words', '--description', 'x', '--repo', repo, '--external-id', 'JIRA-4822'], env.childEnv);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toEqual({ ok: true, id, duplicate: true });

    const human = await runCli(['ticket', 'show', id], env.childEnv);
    expect(human.stdout).toContain('actual:');
    expect(human.stdout).toContain("TypeError: Cannot read properties of null (reading 'targets')");
    const list = await runCli(['ticket', 'list', '--json'], env.childEnv);
    expect(JSON.parse(list.stdout)).toMatchObject({ triage: { pending: 1, bug: 0 } });
  });

  it('answers a malformed report with a clear error naming the fields, keeps it under rejected.bugs, and keeps serving', async () => {
    await using env = await setup();
    await using coordinator = spawnCli(['coordinator'], env.childEnv);
    await coordinator.waitForLog('coordinator started', (l) => l.msg === 'coordinator started');
    const repo = makeRepo();

    const bad = await post(env, JSON.stringify({ title: 'it crashes', body: 'a ticket body is not a description', repo: { path: repo }, severity: 'p1' }), env.bus.subjects.bugIntake);
    expect(bad).toMatchObject({ ok: false, error: { code: 'invalid_report' } });
    const error = bad.ok ? null : bad.error;
    expect(error?.message).toContain('bug report does not match the bug report schema');
    expect(error?.issues?.map((i) => i.path).sort()).toEqual(['(root)', 'description']);
    expect(error?.issues?.find((i) => i.path === '(root)')?.message).toMatch(/body|severity/);
    const notJson = await post(env, 'title: it crashes', env.bus.subjects.bugIntake);
    expect(notJson).toMatchObject({ ok: false, error: { code: 'invalid_json' } });

    const cli = await runCli(['bug', 'report', '--title', 'empty', '--description', '   ', '--repo', repo], env.childEnv);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toContain('bug report refused (invalid_report)');
    expect(cli.stderr).toContain('description:');

    const kept = await waitFor('three rejected reports kept', async () => {
      const r = await rejected(env);
      return r.length === 3 ? r : undefined;
    });
    expect(kept.map((k) => [k.subject, k.code])).toEqual([
      [env.bus.subjects.rejected('bugs'), 'invalid_report'],
      [env.bus.subjects.rejected('bugs'), 'invalid_json'],
      [env.bus.subjects.rejected('bugs'), 'invalid_report'],
    ]);
    expect(new TextDecoder().decode(kept[1]!.data)).toBe('title: it crashes');

    const good = await post(env, JSON.stringify({ title: 'still serving', description: 'd', repo: { path: repo } }), env.bus.subjects.bugIntake);
    expect(good).toMatchObject({ ok: true, duplicate: false });
  });
});
