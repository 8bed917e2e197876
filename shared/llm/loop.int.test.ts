import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HumanMessage, SystemMessage } from '@langchain/core/messages';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { reply, script } from '../../test/fakes/llm.ts';
import { mockLlm } from '../../test/helpers/mockllm.ts';
import { ModelBehaviorError } from './errors.ts';
import { runToolLoop } from './loop.ts';
import { createRepoTools } from './tools.ts';

const Plan = z.object({
  summary: z.string().min(1),
  files: z.array(z.string()).min(1),
});
const prompt = [new SystemMessage('You plan code changes. Read what you need.'), new HumanMessage('Ticket: make add() handle strings')];

let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ns-loop-'));
  await mkdir(join(root, 'src'));
  await writeFile(join(root, 'src/add.ts'), 'export function add(a: number, b: number) {\n  return a + b;\n}\n');
  await writeFile(join(root, 'package.json'), '{ "name": "demo" }\n');
  await symlink('/etc', join(root, 'etc-link'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function failure(p: Promise<unknown>): Promise<ModelBehaviorError> {
  const err = await p.catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ModelBehaviorError);
  return err as ModelBehaviorError;
}

describe('the tool loop against mock-llm', () => {
  it('lets the model list, read a file, then answer', async () => {
    const offered = { tools: ['list_files', 'read_file', 'search', 'answer'] };
    await using mock = await mockLlm(
      script({
        coder: [
          reply.toolCall('list_files', { dir: '.', recursive: true }, { expect: offered }),
          reply.toolCall('read_file', { path: 'src/add.ts' }, { expect: { ...offered, contains: ['package.json\nsrc/\nsrc/add.ts'] } }),
          reply.toolCall('answer', { summary: 'Accept strings in add()', files: ['src/add.ts'] }, { expect: { contains: ['export function add(a: number, b: number)'] } }),
        ],
      }),
    );
    const tools = await createRepoTools({ root, log: mock.sink.log });
    const result = await runToolLoop(mock.llm('coder'), prompt, { tools, output: Plan });
    expect(result).toEqual({ value: { summary: 'Accept strings in add()', files: ['src/add.ts'] }, steps: 3, toolCalls: 2, refusals: 0, repairs: 0 });
    const last = mock.server.calls[2]!.request.messages;
    expect(last.slice(-2)).toEqual([
      {
        role: 'assistant',
        content: '',
        tool_calls: [{ id: 'call_coder_2_1', type: 'function', function: { name: 'read_file', arguments: '{"path":"src/add.ts"}' } }],
      },
      { role: 'tool', tool_call_id: 'call_coder_2_1', content: 'export function add(a: number, b: number) {\n  return a + b;\n}' },
    ]);
    const answerTool = mock.server.calls[0]!.request.tools!.at(-1)!;
    expect(answerTool).toMatchObject({ type: 'function', function: { name: 'answer', parameters: { type: 'object', required: ['summary', 'files'] } } });
    expect(mock.transcript.exchanges).toHaveLength(3);
  });

  it('refuses paths outside the workspace with a clear reason, and goes on', async () => {
    await using mock = await mockLlm(
      script({
        coder: [
          reply.toolCalls([
            { name: 'read_file', args: { path: '../../etc/passwd' } },
            { name: 'read_file', args: { path: '/etc/passwd' } },
          ]),
          reply.toolCall('list_files', { dir: 'etc-link' }, { expect: { contains: ['refused: "/etc/passwd" is an absolute path'] } }),
          reply.toolCall('read_file', { path: 'src/add.ts' }, { expect: { contains: ['refused: "etc-link" is a symbolic link to a place outside the workspace'] } }),
          reply.toolCall('answer', { summary: 'ok', files: ['src/add.ts'] }),
        ],
      }),
    );
    const tools = await createRepoTools({ root, log: mock.sink.log });
    const result = await runToolLoop(mock.llm('coder'), prompt, { tools, output: Plan });
    expect(result).toMatchObject({ steps: 4, toolCalls: 4, refusals: 3 });
    expect(tools.stats()).toEqual({ calls: 4, errors: 0, refusals: 3 });
    const second = mock.server.calls[1]!.request.messages;
    expect(second.filter((m) => m.role === 'tool').map((m) => m.content)).toEqual([
      'refused: "../../etc/passwd" is outside the workspace',
      'refused: "/etc/passwd" is an absolute path; give a path relative to the repository root',
    ]);
    expect(mock.sink.lines.filter((l) => l.msg === 'tool call refused').map((l) => l.reason)).toEqual([
      '"../../etc/passwd" is outside the workspace',
      '"/etc/passwd" is an absolute path; give a path relative to the repository root',
      '"etc-link" is a symbolic link to a place outside the workspace',
    ]);
  });

  it('stops a model that repeats the same call', async () => {
    await using mock = await mockLlm(
      script({
        coder: [
          reply.toolCall('read_file', { path: 'src/add.ts', startLine: 1 }),
          reply.toolCall('search', { pattern: 'add' }),
          reply.toolCall('read_file', { startLine: 1, path: 'src/add.ts' }),
          reply.toolCall('read_file', { path: 'src/add.ts', startLine: 1 }),
        ],
      }),
    );
    const tools = await createRepoTools({ root });
    const err = await failure(runToolLoop(mock.llm('coder'), prompt, { tools, output: Plan }));
    expect(err).toMatchObject({ code: 'loop_detected', retryable: false });
    expect(err.message).toBe('the coder model called read_file with the same arguments 3 times: {"path":"src/add.ts","startLine":1}');
    expect(err.repeated).toEqual({ tool: 'read_file', arguments: '{"path":"src/add.ts","startLine":1}', times: 3 });
    expect(tools.stats().calls).toBe(3);
  });

  it('names a repeated call with long arguments in a bounded form', async () => {
    const pattern = `${'x'.repeat(5_000)}\u0007`;
    await using mock = await mockLlm(script({ coder: [1, 2, 3].map(() => reply.toolCall('search', { pattern })) }));
    const err = await failure(runToolLoop(mock.llm('coder'), prompt, { tools: await createRepoTools({ root }), output: Plan }));
    expect(err.code).toBe('loop_detected');
    expect(err.repeated!.tool).toBe('search');
    expect(err.repeated!.times).toBe(3);
    expect(err.repeated!.arguments).toHaveLength(200);
    expect(err.repeated!.arguments).toMatch(/^\{"pattern":"x+…$/);
    expect(err.message.length).toBeLessThan(300);
  });

  it('sends an off-schema final answer back, then takes the repaired one', async () => {
    await using mock = await mockLlm(
      script({
        coder: [
          reply.toolCall('answer', { summary: 'x', files: [] }),
          reply.toolCall('answer', { summary: 'x', files: ['src/add.ts'] }, { expect: { contains: ['- files: Too small: expected array to have >=1 items', 'Call `answer` again'] } }),
        ],
      }),
    );
    const result = await runToolLoop(mock.llm('coder'), prompt, { tools: await createRepoTools({ root }), output: Plan });
    expect(result).toMatchObject({ value: { files: ['src/add.ts'] }, steps: 2, repairs: 1 });
  });

  it('gives up on final answers that stay off the schema', async () => {
    await using mock = await mockLlm(script({ coder: [reply.toolCall('answer', { summary: '' }), reply.toolCall('answer', '{"summary": "x", files')] }));
    const err = await failure(runToolLoop(mock.llm('coder'), prompt, { tools: await createRepoTools({ root }), output: Plan, maxRepairs: 1 }));
    expect(err).toMatchObject({ code: 'off_schema', lastAnswer: '{"summary": "x", files' });
  });

  it('nudges a model that answers in prose, and stops at the step limit', async () => {
    await using mock = await mockLlm(
      script({
        coder: [reply.text('I think we should change add().'), reply.toolCall('search', { pattern: 'add' }, { expect: { contains: ['by calling `answer`'] } })],
      }),
    );
    const err = await failure(runToolLoop(mock.llm('coder'), prompt, { tools: await createRepoTools({ root }), output: Plan, maxSteps: 2 }));
    expect(err).toMatchObject({ code: 'max_steps', message: 'the coder model gave no final answer within 2 steps' });
  });
});
