import { describe, expect, it } from 'vitest';
import { parseYaml, parseYamlMapping } from './internal.ts';

/* The YAML reader of yaml.ts, with which the sandbox reads .nightshift.yml. */

describe('parseYaml', () => {
  it('reads YAML 1.2: plain, quoted and block scalars, lists, empty lists and nulls; yes/no stay text', () => {
    const text = [
      '---',
      'a: plain value with spaces # comment',
      'b: "double \\"quoted\\" \\\\ \\n"',
      "c: 'single ''quoted'' # not a comment'",
      'd:',
      'e: []',
      'f: ~',
      'g:',
      '  - one',
      '  - "two: quoted"',
      'h: -dash-start',
      'i: http://example.invalid/x',
      'j: |',
      '  npm ci',
      '  npm test',
      'k: yes',
      'l: 12',
    ].join('\n');
    const parsed = parseYaml(text);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.value).toEqual({
      a: 'plain value with spaces',
      b: 'double "quoted" \\ \n',
      c: "single 'quoted' # not a comment",
      d: null,
      e: [],
      f: null,
      g: ['one', 'two: quoted'],
      h: '-dash-start',
      i: 'http://example.invalid/x',
      j: 'npm ci\nnpm test\n',
      k: 'yes',
      l: 12,
    });
    expect(parsed.lineOf(['g', 1])).toBe(10);
    expect(parsed.lineOf(['l'])).toBe(17);
    expect(parsed.lineOf(['nope'])).toBeUndefined();
  });

  it.each([
    ['a: &anchor x\nb: *anchor', 1, /alias/i],
    ['a: [x, y', 1, /./],
    ['a: "unterminated', 1, /./],
    ['a: 1x\na: 2x', 2, /unique/i],
    ['a: x\n\tb: y', 2, /./],
    ['a: x\n  b: y', 1, /./],
  ])('refuses %j at line %i', (text, line, message) => {
    const result = parseYaml(text);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.issues[0]!.line).toBe(line);
      expect(result.issues[0]!.message).toMatch(message);
    }
  });

  it('takes only a mapping (or nothing) where a mapping is asked for', () => {
    expect(parseYamlMapping('')).toMatchObject({ ok: true, value: {} });
    expect(parseYamlMapping('- a\n- b')).toMatchObject({ ok: false, issues: [{ line: 1, message: expect.stringMatching(/mapping/) }] });
    expect(parseYamlMapping('just text')).toMatchObject({ ok: false });
  });

  it('expands no alias, however many (no billion laughs)', () => {
    const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x"]', ...Array.from({ length: 8 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(9).fill(`*${String.fromCharCode(97 + i)}`).join(',')}]`)].join('\n');
    const result = parseYaml(bomb);
    expect(result.ok).toBe(false);
  });
});
