import { HumanMessage, ToolMessage, type BaseMessage } from '@langchain/core/messages';
import type { z } from 'zod';
import type { Llm } from './client.ts';
import { ModelBehaviorError, type RepeatedCall } from './errors.ts';
import { jsonSchemaOf, parseAnswer, repairPrompt, validate } from './structured.ts';
import type { ToolBox } from './tools.ts';
import type { ToolDefinition } from './transcript.ts';
import { inSpan } from '../trace.ts';
import { clip } from '../text.ts';

/** A tool loop: the tools the model may call and the shape of its final answer. */
export interface ToolLoopSpec<S extends z.ZodObject> {
  tools: ToolBox;
  /** The final answer's schema: the arguments of the answer tool. */
  output: S;
  /** Name of the final-answer tool; `answer` unless told. */
  answerTool?: string;
  answerDescription?: string;
  /** Model calls at most; 25 unless told. */
  maxSteps?: number;
  /** The same tool with the same arguments this many times is a loop; 3 unless told. */
  repeatLimit?: number;
  /** Off-schema final answers sent back at most; 2 unless told. */
  maxRepairs?: number;
}

/** The validated final answer and what it took. */
export interface ToolLoopResult<T> {
  value: T;
  /** Model calls made. */
  steps: number;
  /** Tool calls run (the final answer not counted). */
  toolCalls: number;
  /** Tool calls refused (a path outside the workspace, `.git`). */
  refusals: number;
  repairs: number;
}

/**
 * Lets the model pull context with `spec.tools` and finish by calling the answer tool, whose
 * arguments must match `spec.output`. Refused and failed tool calls are told to the model and the
 * loop goes on. Throws ModelBehaviorError: `loop_detected` when the model repeats one call
 * `repeatLimit` times, `off_schema` after too many invalid answers, `max_steps` when it never answers.
 */
export async function runToolLoop<S extends z.ZodObject>(
  llm: Llm,
  messages: readonly BaseMessage[],
  spec: ToolLoopSpec<S>,
): Promise<ToolLoopResult<z.infer<S>>> {
  const answerName = spec.answerTool ?? 'answer';
  const maxSteps = spec.maxSteps ?? 25;
  const repeatLimit = spec.repeatLimit ?? 3;
  const maxRepairs = spec.maxRepairs ?? 2;
  const answerTool: ToolDefinition = {
    type: 'function',
    function: {
      name: answerName,
      description: spec.answerDescription ?? 'Give your final answer. Call it once you know enough; nothing else is read after it.',
      parameters: jsonSchemaOf(spec.output),
    },
  };
  const tools = [...spec.tools.definitions, answerTool];
  const history: BaseMessage[] = [...messages];
  const seen = new Map<string, number>();
  let toolCalls = 0;
  let refusals = 0;
  let repairs = 0;

  for (let step = 1; step <= maxSteps; step++) {
    const reply = await llm.call(history, { tools, toolChoice: 'auto' });
    history.push(reply.message);
    const done = (value: z.infer<S>) => ({ value, steps: step, toolCalls, refusals, repairs });

    if (reply.toolCalls.length === 0) {
      const direct = parseAnswer(spec.output, reply.text);
      if (direct.ok) return done(direct.value);
      history.push(new HumanMessage(`Use the tools to look at what you need, then give your final answer by calling \`${answerName}\`.`));
      continue;
    }

    const answers = reply.toolCalls
      .filter((c) => c.name === answerName)
      .map((c) => ({ call: c, result: c.args ? validate(spec.output, c.args) : undefined }));
    const valid = answers.find((a) => a.result?.ok);
    if (valid?.result?.ok) return done(valid.result.value);
    for (const call of reply.toolCalls) {
      if (call.name === answerName) {
        const result = answers.find((a) => a.call === call)?.result;
        const issues = result && !result.ok ? result.issues : [{ path: '(root)', message: call.error ?? 'the arguments are not a JSON object' }];
        if (repairs >= maxRepairs) {
          throw new ModelBehaviorError(
            'off_schema',
            `the ${llm.role} model gave ${repairs + 1} final answers off the schema: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
            { issues, lastAnswer: call.arguments.slice(0, 2_000) },
          );
        }
        repairs += 1;
        history.push(new ToolMessage({ tool_call_id: call.id, content: repairPrompt(answerName, issues, `Call \`${answerName}\` again with corrected arguments.`) }));
        continue;
      }
      if (!call.args) {
        history.push(new ToolMessage({ tool_call_id: call.id, content: `error: the arguments of ${call.name} are not a JSON object (${call.error ?? 'invalid'})` }));
        continue;
      }
      const key = `${call.name} ${canonical(call.args)}`;
      const times = (seen.get(key) ?? 0) + 1;
      seen.set(key, times);
      if (times >= repeatLimit) {
        const repeated: RepeatedCall = { tool: clip(call.name, MAX_TOOL_NAME), arguments: clip(canonical(call.args), MAX_SHOWN_ARGUMENTS), times };
        throw new ModelBehaviorError('loop_detected', `the ${llm.role} model called ${repeated.tool} with the same arguments ${times} times: ${repeated.arguments}`, {
          issues: [{ path: repeated.tool, message: `called ${times} times with ${repeated.arguments}` }],
          repeated,
        });
      }
      toolCalls += 1;
      // The tool's name and how it ended, never its arguments or output (paths, file contents).
      const tool = clip(call.name, MAX_TOOL_NAME);
      const attributes = { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': tool, 'gen_ai.tool.call.id': clip(call.id, MAX_TOOL_NAME) };
      const out = await inSpan(`execute_tool ${tool}`, { attributes }, async (span) => {
        const result = await spec.tools.run(call.name, call.args);
        span.setAttribute('nightshift.tool.status', result.status);
        return result;
      });
      if (out.status === 'refused') refusals += 1;
      history.push(new ToolMessage({ tool_call_id: call.id, content: out.content }));
    }
  }
  throw new ModelBehaviorError('max_steps', `the ${llm.role} model gave no final answer within ${maxSteps} steps`);
}

/** How much of a repeated call's tool name and arguments an error shows. */
const MAX_TOOL_NAME = 64;
const MAX_SHOWN_ARGUMENTS = 200;

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'undefined';
}
