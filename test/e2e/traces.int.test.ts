import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { TicketStore } from '../../bus/index.ts';
import { createDemoRepo, DEMO_SCRIPT, demoTicket } from '../../cli/demo.ts';
import { IntakeReply, type Ticket } from '../../shared/index.ts';
import { loadMockScript, startMockLlm } from '../../shared/llm/index.ts';
import { describeDocker } from '../helpers/docker.ts';
import { startOtlpReceiver } from '../helpers/otlp.ts';
import { setup } from '../helpers/env.ts';
import { startStack } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';

const ROLES = ['refiner', 'test-author', 'coder', 'reviewer'] as const;
/** What startStack gives the agents as their model API key. */
const API_KEY = 'sk-test-secret-never-in-a-sandbox';

describeDocker('traces across processes', () => {
  it(
    'exports one trace per ticket, from intake to the pull request, over OTLP from the coordinator and every agent',
    async () => {
      await using receiver = await startOtlpReceiver();
      await using env = await setup({}, { secure: true });
      await using mock = await startMockLlm({ script: await loadMockScript(DEMO_SCRIPT) });
      const origin = await createDemoRepo(mkdtempSync(join(tmpdir(), 'ns-origin-')));
      await using _stack = await startStack(env, mock, ROLES, { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: '200' });
      const ticket = demoTicket();
      const reply = IntakeReply.parse(
        (await env.bus.nc.request(env.bus.subjects.ticketIntake, JSON.stringify({ ...ticket, externalId: 'TRACE-1', repo: { path: origin } }), { timeout: 15_000 })).json(),
      );
      if (!reply.ok) throw new Error(`intake refused: ${reply.error.message}`);
      const store = new TicketStore(await env.bus.tickets());
      const t = await waitFor(
        'the ticket to reach pr_open',
        async () => {
          const cur = (await store.get(reply.id))?.ticket;
          if (cur?.state === 'failed' || cur?.state === 'awaiting_human') throw new Error(`ticket ended ${cur.state}`);
          return cur?.state === 'pr_open' ? cur : undefined;
        },
        { timeoutMs: 240_000, intervalMs: 500 },
      );

      // The ticket keeps the traceparent of its root: the intake span.
      const [, traceId, rootSpanId] = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec((t as Ticket).traceparent ?? '') ?? [];
      expect(traceId, `traceparent ${t.traceparent}`).toBeDefined();

      const services = ['nightshift-coordinator', ...ROLES.map((r) => `nightshift-agent-${r}`)];
      // Spans come in batches as they end: wait until the trace is whole (every parent there, every
      // process heard from, the pull request opened and the coordinator applying its stage's result).
      const spans = await waitFor(
        'every span of the ticket, each with its parent',
        () => {
          const mine = receiver.spans.filter((s) => s.traceId === traceId);
          const ids = new Set(mine.map((s) => s.spanId));
          const whole = mine.every((s) => s.parentSpanId === undefined || ids.has(s.parentSpanId));
          const heard = services.every((name) => mine.some((s) => s.service === name));
          const opened = mine.some((s) => s.name === 'open pull request');
          const applied = mine.some((s) => s.name === 'apply stage.completed' && s.attributes['nightshift.state'] === 'pr_open');
          return whole && heard && opened && applied ? mine : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 200 },
      );
      expect(receiver.refused).toEqual([]);

      // Every span about the ticket, from any process, is in its one trace.
      const aboutTicket = receiver.spans.filter((s) => s.attributes['nightshift.ticket.id'] === reply.id);
      expect(aboutTicket.length).toBeGreaterThan(10);
      expect(new Set(aboutTicket.map((s) => s.traceId))).toEqual(new Set([traceId]));

      // One root, the intake span, whose context the ticket keeps; every other span's parent is in the trace.
      const roots = spans.filter((s) => s.parentSpanId === undefined);
      expect(roots.map((s) => [s.service, s.name, s.spanId])).toEqual([['nightshift-coordinator', 'intake', rootSpanId]]);
      expect(roots[0]!.attributes['nightshift.ticket.id']).toBe(reply.id);
      const byId = new Map(spans.map((s) => [s.spanId, s]));
      for (const s of spans) if (s.parentSpanId !== undefined) expect(byId.has(s.parentSpanId), `${s.service} ${s.name}: parent ${s.parentSpanId}`).toBe(true);

      // Each agent's stage continues its dispatch (work item headers), and the coordinator applies each
      // result under the stage that sent it (event headers).
      for (const role of ROLES) {
        const stage = spans.filter((s) => s.name === `stage ${role}`);
        expect(stage.length, role).toBeGreaterThanOrEqual(1);
        for (const s of stage) {
          expect(s.service).toBe(`nightshift-agent-${role}`);
          const parent = byId.get(s.parentSpanId!)!;
          expect([parent.service, parent.name]).toEqual(['nightshift-coordinator', `dispatch ${s.attributes['nightshift.stage']}`]);
        }
        const completed = spans.filter((s) => s.name === 'apply stage.completed' && stage.some((st) => st.spanId === s.parentSpanId));
        expect(completed.length, `${role}'s result applied under its stage`).toBeGreaterThanOrEqual(1);
        // Its model calls, under it, with the model and the tokens.
        const calls = spans.filter((s) => s.service === `nightshift-agent-${role}` && s.name === 'chat gpt-4o-mini');
        expect(calls.length, role).toBeGreaterThan(0);
        for (const c of calls) {
          expect(c.attributes['gen_ai.request.model']).toBe('gpt-4o-mini');
          expect(c.attributes['gen_ai.operation.name']).toBe('chat');
          expect(c.attributes['gen_ai.usage.input_tokens'] as number).toBeGreaterThan(0);
          expect(c.attributes['gen_ai.usage.output_tokens'] as number).toBeGreaterThan(0);
        }
      }
      // Sandbox runs with their command and exit code: the test author's red run fails, the coder's green run passes.
      const runs = spans.filter((s) => s.name === 'sandbox run');
      for (const role of ['test-author', 'coder', 'reviewer']) expect(runs.some((s) => s.service === `nightshift-agent-${role}`), role).toBe(true);
      for (const r of runs) {
        expect(typeof r.attributes['nightshift.sandbox.command']).toBe('string');
        expect(r.attributes['nightshift.sandbox.timed_out']).toBe(false);
      }
      expect(runs.some((s) => s.service === 'nightshift-agent-test-author' && (s.attributes['process.exit.code'] as number) !== 0)).toBe(true);
      expect(runs.some((s) => s.service === 'nightshift-agent-coder' && s.attributes['process.exit.code'] === 0)).toBe(true);
      const pr = spans.find((s) => s.name === 'open pull request')!;
      expect(pr.service).toBe('nightshift-agent-reviewer');
      expect(pr.attributes['nightshift.pr.number']).toBe(1);
      expect(spans.some((s) => s.name === 'dispatch refining' && s.parentSpanId === rootSpanId)).toBe(true);
      // The demo's model reads files through its tools: those calls have spans too, with the tool's name.
      const tools = spans.filter((s) => s.name === 'execute_tool read_file');
      expect(tools.length).toBeGreaterThan(0);
      for (const s of tools) expect(s.attributes).toMatchObject({ 'gen_ai.tool.name': 'read_file', 'nightshift.tool.status': 'ok' });
      // Within a process the stage span is the active one: model calls, tool calls, sandbox runs and the
      // pull request are its children.
      for (const s of spans.filter((x) => /^(chat |execute_tool |sandbox run$|open pull request$)/.test(x.name))) {
        const parent = byId.get(s.parentSpanId!)!;
        expect([parent.service, parent.name], `${s.service} ${s.name}`).toEqual([s.service, `stage ${s.service.replace('nightshift-agent-', '')}`]);
      }

      // No secret and no prompt in anything exported: not the model API key, not the ticket's text.
      const exported = receiver.bodies.join('\n');
      expect(exported).not.toContain(API_KEY);
      expect(exported).not.toContain(String(ticket.body));
    },
    420_000,
  );
});
