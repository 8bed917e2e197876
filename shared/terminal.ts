/**
 * Terminal escape sequences and control characters, as test runners print them for a terminal:
 *
 * - string sequences — OSC (`ESC ]`: window titles, OSC 8 hyperlinks, OSC 52 clipboard writes), DCS
 *   (`ESC P`), SOS (`ESC X`), PM (`ESC ^`), APC (`ESC _`) — up to their terminator (BEL or `ESC \`),
 *   or to the next ESC or the end when the output was cut before it;
 * - CSI sequences (`ESC [` or U+009B, parameters, intermediates, a final byte: colours, cursor
 *   moves, line erases), the final byte optional for a sequence cut at the end;
 * - every other escape (`ESC` + intermediates + a final byte: `ESC ( B`, `ESC 7`, `ESC =`), and a
 *   lone ESC;
 * - C0 controls other than tab, line feed and carriage return, DEL, and C1 controls (U+0080–U+009F).
 */
const TERMINAL_CODES = new RegExp(
  [
    String.raw`(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?`,
    String.raw`(?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]?`,
    String.raw`\x1b[\x20-\x2f]*[\x30-\x7e]?`,
    String.raw`[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]`,
  ].join('|'),
  'g',
);

/**
 * `text` without terminal escape sequences and control characters (tab, line feed and carriage
 * return stay): what a runner printed in colour, fit for evidence, a pull request body or a log line.
 * Nothing of what is shown is lost: colours, cursor moves and titles go, the words stay. Pure.
 */
export function stripTerminalCodes(text: string): string {
  return text.replace(TERMINAL_CODES, '');
}
