import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { UserInputError } from '../errors.ts';
import { entryContent, loadMockScript, parseMockScript } from './script.ts';

function issuesOf(value: unknown): string[] {
  try {
    parseMockScript(value);
  } catch (err) {
    expect(err).toBeInstanceOf(UserInputError);
    return (err as UserInputError).issues.map((i) => `${i.path}: ${i.message}`);
  }
  return [];
}

describe('mock-llm scripts', () => {
  it('accept every kind of response', () => {
    const script = parseMockScript({
      version: 1,
      roles: {
        coder: [
          { content: 'hi', usage: { prompt_tokens: 3, completion_tokens: 1 } },
          { json: { ok: true }, expect: { contains: ['task'], tools: ['read_file'], responseFormat: 'spec', stream: false } },
          { toolCalls: [{ name: 'read_file', arguments: { path: 'a.ts' } }], content: 'let me look' },
          { httpStatus: 503, error: 'overloaded', delayMs: 10 },
        ],
      },
    });
    expect(script.roles.coder).toHaveLength(4);
    expect(entryContent(script.roles.coder![1]!)).toBe('{"ok":true}');
    expect(entryContent(script.roles.coder![2]!)).toBe('let me look');
  });

  it('refuse entries that answer nothing, or twice, or mix an error with an answer', () => {
    expect(
      issuesOf({
        version: 1,
        roles: { coder: [{}, { content: 'a', json: {} }, { httpStatus: 500, content: 'x' }, { content: 'a', error: 'e' }, { content: 'a', colour: 'red' }] },
      }),
    ).toEqual([
      'roles.coder.0: needs content, json, toolCalls or httpStatus',
      'roles.coder.1: content and json are alternatives: give one',
      'roles.coder.2: an httpStatus entry has no content, json or toolCalls',
      'roles.coder.3.error: error goes with httpStatus',
      'roles.coder.4: Unrecognized key: "colour"',
    ]);
    expect(issuesOf({ version: 2, roles: {} })).toEqual(['version: Invalid input: expected 1']);
  });

  it('include the example of SCRIPT.md', async () => {
    const doc = await readFile(new URL('./SCRIPT.md', import.meta.url), 'utf8');
    const example = /## Example\s+```json\n([\s\S]*?)\n```/.exec(doc)?.[1];
    expect(example).toBeDefined();
    expect(Object.keys(parseMockScript(JSON.parse(example!)).roles)).toEqual(['refiner', 'coder']);
  });

  describe('files', () => {
    let dir: string | undefined;
    afterEach(async () => {
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it('load, or fail with the reason', async () => {
      dir = await mkdtemp(join(tmpdir(), 'ns-script-'));
      const good = join(dir, 'good.json');
      await writeFile(good, JSON.stringify({ version: 1, roles: { refiner: [{ content: 'x' }] } }));
      expect((await loadMockScript(good)).roles.refiner).toEqual([{ content: 'x' }]);
      await writeFile(join(dir, 'bad.json'), '{ nope');
      await expect(loadMockScript(join(dir, 'bad.json'))).rejects.toThrow(/bad\.json is not JSON/);
      await expect(loadMockScript(join(dir, 'missing.json'))).rejects.toMatchObject({ code: 'invalid_mock_script', message: expect.stringMatching(/cannot read/) });
    });
  });
});
