import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { workTicketOf, type StageOutcome, type WorkItemData } from '../../bus/index.ts';
import { createDemoRepo } from '../../cli/demo.ts';
import { bugTicketRequest, createLocalForge, loadConfig, type BugReport, type RoleUsage, type Ticket } from '../../shared/index.ts';
import { createForgeRouter } from '../../shared/forge/index.ts';
import { memoryTranscript, type MockScriptInput } from '../../shared/llm/index.ts';
import { ProcessSandbox } from '../../test/fakes/sandbox.ts';
import { logSink } from '../../test/helpers/env.ts';
import { mockLlm, type TestMockLlm } from '../../test/helpers/mockllm.ts';
import { newTicket } from '../coordinator/reducer.ts';
import type { PullRequestStore } from '../../shared/forge/forge.ts';
import type { HandlerContext } from '../runtime/runtime.ts';
import { createTriager, normalizeUrl, sameRepo, triageAnswerFor } from './handler.ts';

interface World extends AsyncDisposable {
  origin: string;
  mock: TestMockLlm;
  tickets: Ticket[];
  /** Files a bug report as a stored ticket `minutes` after a fixed start, and returns it. */
  file(report: Omit<BugReport, 'repo' | 'labels'> & { repo?: BugReport['repo'] }, minutes: number, state?: Ticket['state']): Ticket;
  triage(t: Ticket): Promise<StageOutcome>;
  /** The tokens each triage reported so far (what the runtime would publish with the result). */
  usage(): RoleUsage[];
}

const T0 = Date.parse('2030-01-01T00:00:00.000Z');

async function world(roles: MockScriptInput['roles'], settings: Record<string, string> = {}): Promise<World> {
  const dir = mkdtempSync(join(tmpdir(), 'ns-triage-'));
  const origin = await createDemoRepo(join(dir, 'origin'));
  const mock = await mockLlm({ version: 1, roles });
  const config = loadConfig({}, { NIGHTSHIFT_WORKSPACES_DIR: join(dir, 'ws'), OPENAI_BASE_URL: mock.server.url, NIGHTSHIFT_MODEL_RETRIES: '0', ...settings });
  const sink = logSink();
  const refuse = async (): Promise<never> => {
    throw new Error('the triager records no pull request');
  };
  const prs: PullRequestStore = { get: refuse, create: refuse, put: refuse, list: refuse, nextNumber: refuse };
  const sandbox = new ProcessSandbox();
  const tickets: Ticket[] = [];
  const clock = () => new Date();
  const triager = createTriager({
    config,
    log: sink.log,
    sandbox,
    forges: createForgeRouter([], createLocalForge({ store: prs, clock })),
    transcript: memoryTranscript(),
    clock,
    tickets: { list: async () => structuredClone(tickets) },
  });
  let n = 0;
  const readers: (() => RoleUsage)[] = [];
  return {
    origin,
    mock,
    tickets,
    file(report, minutes, state = 'triaging') {
      n += 1;
      const { request, details } = bugTicketRequest({ repo: { path: origin }, labels: [], ...report });
      const t = { ...newTicket(`tk-${String(n).padStart(10, '0')}`, request, new Date(T0 + minutes * 60_000), 'test', details), state };
      tickets.push(t);
      return t;
    },
    triage(t) {
      const work: WorkItemData = {
        stage: 'triaging',
        attempt: 1,
        ticket: workTicketOf(t),
      };
      const ctx: HandlerContext = {
        role: 'triager',
        workId: `w-${randomUUID()}`,
        deliveries: 1,
        signal: new AbortController().signal,
        log: sink.log,
        trackUsage: (read) => void readers.push(read),
      };
      return triager(work, ctx);
    },
    usage: () => readers.map((r) => r()),
    async [Symbol.asyncDispose]() {
      try {
        // The triager reads the repository; it never runs its code.
        expect(sandbox.runs).toEqual([]);
        await mock[Symbol.asyncDispose]();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

const answer = (args: Record<string, unknown>) => ({ toolCalls: [{ name: 'answer', arguments: args }] });
const triaged = (over: Record<string, unknown>) =>
  answer({ classification: 'bug', severity: 'medium', component: 'slugify', reason: 'checked src/slugify.js', duplicateOf: null, questions: [], spec: null, ...over });
const SPEC = {
  summary: 'slugify folds accents',
  acceptanceCriteria: [{ id: 'AC1', text: "slugify('Crème') returns 'creme'" }],
  plan: ['fold accents'],
  affectedFiles: ['src/slugify.js'],
  openQuestions: [],
};

const ACCENTS = {
  title: 'slugify mangles accented letters',
  description: 'Titles with accents come out broken.',
  steps: "slugify('Crème Brûlée')",
  actual: 'cr-me-br-l-e',
};
const SAME_BUG = { title: 'Accented characters turn into dashes in slugs', description: "slugify('Déjà vu') returns 'd-j-vu': letters with accents should stay, as plain letters." };

describe('the triager', () => {
  it('accepts a bug with the spec of its reproduction test, and shows the model no ticket when none is similar', async () => {
    await using w = await world({ triager: [{ ...triaged({ spec: SPEC }), expect: { contains: ['No open ticket of this repository looks similar', 'Actual:', 'cr-me-br-l-e'] } }] });
    w.file({ title: 'Login page times out behind the proxy', description: 'The SSO redirect never completes when HTTPS_PROXY is set.' }, 0);
    const t = w.file({ ...ACCENTS, reporter: 'grace@acme.example' }, 1);
    const outcome = await w.triage(t);
    expect(outcome).toEqual({
      kind: 'advance',
      output: { triage: { classification: 'bug', severity: 'medium', component: 'slugify', reason: 'checked src/slugify.js', similar: [], method: 'lexical' }, spec: SPEC },
    });
  });

  it('links a report to an older one about the same fault, and never to a newer one', async () => {
    await using w = await world({
      triager: [
        { ...triaged({ duplicateOf: 'tk-0000000001', reason: 'same fault' }), expect: { contains: ['tk-0000000001 [triaging, similarity'] } },
        { ...triaged({ spec: SPEC }), expect: { contains: ['No open ticket of this repository looks similar'] } },
      ],
    });
    const first = w.file(ACCENTS, 0);
    const second = w.file(SAME_BUG, 5);
    expect(await w.triage(second)).toMatchObject({ kind: 'duplicate', of: first.id, reason: `duplicate of ${first.id}: same fault`, output: { triage: { duplicateOf: first.id } } });
    // Triaged later (a redelivery, or a slower replica), the older report does not see the newer one.
    expect(await w.triage(first)).toMatchObject({ kind: 'advance' });
  });

  it('ranks by the embeddings endpoint when an embeddings model is configured', async () => {
    await using w = await world(
      { triager: [{ ...triaged({ duplicateOf: 'tk-0000000001' }), expect: { contains: ['tk-0000000001 [triaging, similarity'] } }] },
      { NIGHTSHIFT_EMBEDDINGS_MODEL: 'mock-embeddings', NIGHTSHIFT_TRIAGE_MIN_SIMILARITY: '0.1' },
    );
    const first = w.file(ACCENTS, 0);
    w.file({ title: 'Login page times out behind the proxy', description: 'The SSO redirect never completes when HTTPS_PROXY is set.' }, 1);
    const outcome = await w.triage(w.file(SAME_BUG, 2));
    expect(outcome).toMatchObject({ kind: 'duplicate', of: first.id, output: { triage: { method: 'embeddings', similar: [{ id: first.id }] } } });
    const [usage] = w.usage();
    expect(usage!.calls).toBe(2);
    expect(usage!.inputTokens).toBeGreaterThan(0);
    const embeddings = w.mock.server.calls.filter((c) => c.kind === 'embeddings');
    expect(embeddings).toHaveLength(1);
    expect(embeddings[0]!.input).toHaveLength(3);
    expect(embeddings[0]!.input![0]).toContain('Accented characters');
  });

  it('compares only open tickets of the same repository', async () => {
    await using w = await world({ triager: [{ ...triaged({ spec: SPEC }), expect: { contains: ['No open ticket of this repository looks similar'] } }] });
    w.file(ACCENTS, 0, 'cancelled');
    w.file(ACCENTS, 1, 'done');
    w.file({ ...ACCENTS, repo: { url: 'https://example.com/other/repo.git' } }, 2);
    expect(await w.triage(w.file(SAME_BUG, 3))).toMatchObject({ kind: 'advance' });
  });

  it('asks the reporter what is missing, and takes the answer into the next triage', async () => {
    await using w = await world({
      triager: [
        triaged({ classification: 'needs_info', severity: 'low', questions: ['Which title did you pass, and what came back?'] }),
        { ...triaged({ spec: SPEC }), expect: { contains: ['Questions asked earlier:', '- Which title did you pass', 'slack:U0REPORTER: Crème gives cr-me'] } },
      ],
    });
    const t = w.file({ title: 'slugify is broken', description: 'It does not work for some titles.', reporter: 'slack:U0REPORTER' }, 0);
    const asked = await w.triage(t);
    expect(asked).toMatchObject({
      kind: 'escalate',
      questions: [{ id: 'triage-1', text: 'Which title did you pass, and what came back?', blocking: true, to: 'slack:U0REPORTER' }],
      output: { triage: { classification: 'needs_info' }, questions: ['Which title did you pass, and what came back?'] },
    });
    t.artifacts = { triaging: (asked as { output: unknown }).output };
    t.answers = [{ text: 'Crème gives cr-me', by: 'slack:U0REPORTER', at: new Date(T0).toISOString() }];
    expect(await w.triage(t)).toMatchObject({ kind: 'advance' });
  });

  it('parks a model that keeps repeating one tool call with a question naming the call, and resumes with the answer in the prompt', async () => {
    const read = { toolCalls: [{ name: 'read_file', arguments: { path: 'src/slugify.js' } }] };
    await using w = await world({
      triager: [read, read, read, { ...triaged({ spec: SPEC }), expect: { contains: ['Answers from humans:', '- cli:ana: you have read src/slugify.js; classify it now'] } }],
    });
    const t = w.file(ACCENTS, 0);
    const parked = await w.triage(t);
    expect(parked).toEqual({ kind: 'escalate', questions: [{ id: 'model-loop', text: expect.any(String), blocking: true }] });
    const text = (parked as { questions: { text: string }[] }).questions[0]!.text;
    expect(text).toContain(`The triager model of ticket ${t.id} kept repeating itself during triaging`);
    expect(text).toContain('it called read_file 3 times with the same arguments {"path":"src/slugify.js"}');
    expect(text).toContain('your answer is shown to the model when the stage resumes');
    // The tokens of the stopped loop still count.
    expect(w.usage()[0]!.calls).toBe(3);

    t.answers = [{ text: 'you have read src/slugify.js; classify it now', by: 'cli:ana', at: new Date(T0).toISOString() }];
    expect(await w.triage(t)).toMatchObject({ kind: 'advance', output: { spec: SPEC } });
  });

  it("meters a ticket against its own budget when a human set one, over NIGHTSHIFT_TOKEN_BUDGET", async () => {
    const big = { prompt_tokens: 800, completion_tokens: 100 };
    await using w = await world({ triager: [{ ...triaged({ spec: SPEC }), usage: big }, { ...triaged({ spec: SPEC }), usage: big }] }, { NIGHTSHIFT_TOKEN_BUDGET: '1000' });
    const t = w.file(ACCENTS, 0);
    t.usage = { triager: { inputTokens: 500, outputTokens: 0, totalTokens: 500, calls: 1 } };
    const over = await w.triage(t);
    expect(over).toMatchObject({ kind: 'escalate', questions: [{ id: 'token-budget', options: ['resume', 'cancel'] }] });
    const text = (over as { questions: { text: string }[] }).questions[0]!.text;
    expect(text).toContain(`Ticket ${t.id} has used 1400 of its 1000 tokens during triaging`);
    for (const way of [`nightshift answer ${t.id} --budget 2000`, 'budget: 2000', '/nightshift budget 2000']) expect(text).toContain(way);
    expect(text).not.toContain('NIGHTSHIFT_TOKEN_BUDGET');

    t.budget = 3_000;
    expect(await w.triage(t)).toMatchObject({ kind: 'advance' });
  });

  it('closes a report that describes intended behaviour', async () => {
    await using w = await world({ triager: [triaged({ classification: 'not_bug', severity: 'low', reason: 'the README says slugs are ASCII only' })] });
    expect(await w.triage(w.file({ title: 'emoji vanish from slugs', description: "slugify('🎉 party') gives 'party'" }, 0))).toMatchObject({
      kind: 'close',
      reason: 'not a bug: the README says slugs are ASCII only',
      output: { triage: { classification: 'not_bug' } },
    });
  });

  it('sends an answer that names a ticket it was not shown, or a bug without a spec, back to the model', async () => {
    await using w = await world({
      triager: [
        triaged({ duplicateOf: 'tk-zzzzzzzzzz' }),
        { ...triaged({}), expect: { contains: ['duplicateOf', 'no similar ticket was listed'] } },
        { ...triaged({ spec: SPEC }), expect: { contains: ['spec', 'needs the spec of its reproduction test'] } },
      ],
    });
    expect(await w.triage(w.file(ACCENTS, 0))).toMatchObject({ kind: 'advance', output: { spec: SPEC } });
  });
});

describe('triageAnswerFor', () => {
  const base = { classification: 'bug', severity: 'low', component: 'c', reason: 'r', duplicateOf: null, questions: [], spec: SPEC };
  it('accepts a duplicate only among the tickets shown', () => {
    expect(triageAnswerFor(['tk-aaaaaaaaaa']).safeParse({ ...base, duplicateOf: 'tk-aaaaaaaaaa', spec: null }).success).toBe(true);
    expect(triageAnswerFor(['tk-aaaaaaaaaa']).safeParse({ ...base, duplicateOf: 'tk-bbbbbbbbbb' }).success).toBe(false);
  });
  it('wants questions for needs_info', () => {
    expect(triageAnswerFor([]).safeParse({ ...base, classification: 'needs_info' }).success).toBe(false);
    expect(triageAnswerFor([]).safeParse({ ...base, classification: 'needs_info', questions: ['q?'] }).success).toBe(true);
  });
});

describe('sameRepo', () => {
  it('treats the forms of one clone URL as one repository', () => {
    const forms = ['git@github.com:Acme/App.git', 'https://github.com/acme/app', 'https://github.com/acme/app.git/', 'ssh://git@github.com/acme/app.git'];
    expect(new Set(forms.map(normalizeUrl))).toEqual(new Set(['github.com/acme/app']));
    expect(sameRepo({ url: forms[0] }, { url: forms[1] })).toBe(true);
    expect(sameRepo({ url: 'https://github.com/acme/app' }, { url: 'https://github.com/acme/api' })).toBe(false);
  });
  it('compares paths resolved, and never a path with a URL', () => {
    expect(sameRepo({ path: '/srv/repos/app' }, { path: '/srv/repos/../repos/app/' })).toBe(true);
    expect(sameRepo({ path: '/srv/repos/app' }, { url: 'file:///srv/repos/app' })).toBe(false);
  });
});
