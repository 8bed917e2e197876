import { describe, expect, it } from 'vitest';
import { stripTerminalCodes } from './index.ts';

const ESC = '\x1b';

describe('stripTerminalCodes', () => {
  it('leaves the words of a coloured vitest run', () => {
    const vitest = [
      ` ${ESC}[32m✓${ESC}[39m src/math.test.ts ${ESC}[2m(${ESC}[22m${ESC}[2m3 tests${ESC}[22m${ESC}[2m)${ESC}[22m${ESC}[90m 4${ESC}[2mms${ESC}[22m${ESC}[39m`,
      ` ${ESC}[31m❯${ESC}[39m src/slug.test.ts ${ESC}[2m(${ESC}[22m${ESC}[2m2 tests${ESC}[22m${ESC}[2m | ${ESC}[22m${ESC}[31m1 failed${ESC}[39m${ESC}[2m)${ESC}[22m`,
      `${ESC}[41m${ESC}[1m FAIL ${ESC}[22m${ESC}[49m src/slug.test.ts ${ESC}[2m>${ESC}[22m cuts at maxLength`,
      `${ESC}[31m${ESC}[1mAssertionError${ESC}[22m: expected 'a-long-title' to be 'a-long'${ESC}[39m`,
      `${ESC}[2m      Tests ${ESC}[22m ${ESC}[1m${ESC}[31m1 failed${ESC}[39m${ESC}[22m${ESC}[2m | ${ESC}[22m${ESC}[1m${ESC}[32m4 passed${ESC}[39m${ESC}[22m${ESC}[90m (5)${ESC}[39m`,
    ].join('\n');
    expect(stripTerminalCodes(vitest)).toBe(
      [
        ' ✓ src/math.test.ts (3 tests) 4ms',
        ' ❯ src/slug.test.ts (2 tests | 1 failed)',
        ' FAIL  src/slug.test.ts > cuts at maxLength',
        "AssertionError: expected 'a-long-title' to be 'a-long'",
        '      Tests  1 failed | 4 passed (5)',
      ].join('\n'),
    );
  });

  it('leaves the words of a coloured mocha and jest run', () => {
    const mocha = `${ESC}[0m${ESC}[0m\n${ESC}[0m  slugify${ESC}[0m\n  ${ESC}[32m  ✔${ESC}[0m${ESC}[90m lowercases${ESC}[0m\n  ${ESC}[31m  1) cuts at maxLength${ESC}[0m\n\n${ESC}[92m ${ESC}[0m${ESC}[32m 1 passing${ESC}[0m${ESC}[90m (6ms)${ESC}[0m\n${ESC}[31m  1 failing${ESC}[0m`;
    expect(stripTerminalCodes(mocha)).toBe('\n  slugify\n    ✔ lowercases\n    1) cuts at maxLength\n\n  1 passing (6ms)\n  1 failing');
    const jest = `${ESC}[1m${ESC}[31m  ● ${ESC}[22m${ESC}[1mslugify › cuts at maxLength${ESC}[39m${ESC}[22m\n    ${ESC}[2mExpected: ${ESC}[22m${ESC}[32m"a-long"${ESC}[39m\n${ESC}[1mTests:       ${ESC}[22m${ESC}[1m${ESC}[31m1 failed${ESC}[39m${ESC}[22m, 4 total`;
    expect(stripTerminalCodes(jest)).toBe('  ● slugify › cuts at maxLength\n    Expected: "a-long"\nTests:       1 failed, 4 total');
  });

  it('removes hyperlinks, titles, cursor moves, line erases and charset switches, keeping tabs and line ends', () => {
    const text =
      `${ESC}]0;npm test\x07${ESC}[?25l${ESC}[2K${ESC}[1Grunning…\r` +
      `${ESC}]8;;file:///workspace/src/a.ts${ESC}\\src/a.ts${ESC}]8;;${ESC}\\:\t3\r\n` +
      `${ESC}(B${ESC}7${ESC}=done${ESC}8${ESC}[?25h${ESC}P+q544e${ESC}\\`;
    expect(stripTerminalCodes(text)).toBe('running…\rsrc/a.ts:\t3\r\ndone');
  });

  it('removes stray controls, C1 controls and sequences cut off at the end', () => {
    expect(stripTerminalCodes('a\x00b\x07c\x08d\x0be\x0cf\x7fg\u009b31mh\u0085i')).toBe('abcdefghi');
    expect(stripTerminalCodes(`tail ${ESC}[3`)).toBe('tail ');
    expect(stripTerminalCodes(`tail ${ESC}]8;;https://exa`)).toBe('tail ');
    expect(stripTerminalCodes(`tail ${ESC}`)).toBe('tail ');
  });

  it('changes nothing in plain text', () => {
    const plain = 'ℹ tests 3\nℹ pass 2\n\tat Object.<anonymous> (src/a.test.js:4:9)\r\n[brackets] ~ü€😀';
    expect(stripTerminalCodes(plain)).toBe(plain);
  });
});
