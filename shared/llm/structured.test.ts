import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { jsonSchemaFormat, parseAnswer, repairPrompt } from './structured.ts';

const Spec = z.object({
  summary: z.string().min(1),
  criteria: z.array(z.string()).min(1),
  risk: z.enum(['low', 'high']).default('low'),
});

describe('parseAnswer', () => {
  it('accepts matching JSON, also inside a ```json fence', () => {
    expect(parseAnswer(Spec, '{"summary":"s","criteria":["a"]}')).toEqual({ ok: true, value: { summary: 's', criteria: ['a'], risk: 'low' } });
    expect(parseAnswer(Spec, '```json\n{"summary":"s","criteria":["a"],"risk":"high"}\n```')).toMatchObject({ ok: true, value: { risk: 'high' } });
  });

  it('names each schema path that is wrong', () => {
    const result = parseAnswer(Spec, '{"summary":"","criteria":"a","risk":"medium"}');
    expect(result.ok).toBe(false);
    expect(!result.ok && result.issues.map((i) => i.path)).toEqual(['summary', 'criteria', 'risk']);
  });

  it('says when the answer is not JSON at all', () => {
    expect(parseAnswer(Spec, 'Sure! Here is the spec: summary is...')).toEqual({
      ok: false,
      issues: [{ path: '(root)', message: expect.stringMatching(/^the answer is not JSON \(/) }],
    });
    expect(parseAnswer(Spec, '  ')).toEqual({ ok: false, issues: [{ path: '(root)', message: 'the answer is empty' }] });
  });
});

describe('jsonSchemaFormat', () => {
  it('is a json_schema response format of what the schema accepts', () => {
    const format = jsonSchemaFormat('spec', Spec, 'A refined ticket');
    expect(format).toEqual({
      type: 'json_schema',
      json_schema: {
        name: 'spec',
        description: 'A refined ticket',
        schema: expect.objectContaining({ type: 'object', required: ['summary', 'criteria'] }),
      },
    });
    expect(format.json_schema.schema).not.toHaveProperty('$schema');
  });
});

describe('repairPrompt', () => {
  it('lists the issues and asks again', () => {
    expect(repairPrompt('spec', [{ path: 'criteria', message: 'Invalid input: expected array, received string' }])).toBe(
      'Your previous answer does not match the required JSON schema "spec":\n- criteria: Invalid input: expected array, received string\nAnswer again with only the corrected JSON, nothing else.',
    );
  });
});
