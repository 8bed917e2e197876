import { LineCounter, parseDocument } from 'yaml';

/*
 * YAML a repository holds (`.nightshift.yml`, a runner's `.mocharc.yml`), read with the `yaml`
 * package as YAML 1.2 (its core schema: `yes`/`no` stay text, `true` and `12` do not). A repository
 * is hostile: aliases are refused outright (no expansion attack, no shared nodes), keys must be
 * unique, and every error and warning refuses the document, with its line. What the values must be is
 * the caller's schema's business.
 */

/** One refused line: `line` is 1-based. */
export interface YamlIssue {
  line: number;
  message: string;
}

export type YamlResult =
  | {
      ok: true;
      /** The document as plain data: a mapping becomes an object, null for an empty document. */
      value: unknown;
      /** The 1-based line a value at `path` starts on, when the document has one there. */
      lineOf(path: readonly (string | number)[]): number | undefined;
    }
  | { ok: false; issues: YamlIssue[] };

/** Parses `text`; never throws. */
export function parseYaml(text: string): YamlResult {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false, strict: true, version: '1.2' });
  const problems = [...doc.errors, ...doc.warnings];
  if (problems.length > 0) {
    return { ok: false, issues: problems.map((e) => ({ line: lines.linePos(e.pos[0]).line, message: firstLine(e.message) })) };
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 0 });
  } catch (err) {
    return { ok: false, issues: [{ line: 1, message: `aliases are not allowed: ${firstLine((err as Error).message)}` }] };
  }
  return {
    ok: true,
    value: value ?? null,
    lineOf(path) {
      const node = doc.getIn(path, true) as { range?: [number, number, number] } | undefined;
      const at = node && typeof node === 'object' && node.range ? node.range[0] : undefined;
      return at === undefined ? undefined : lines.linePos(at).line;
    },
  };
}

/** Parses `text` that must be a mapping (or empty); never throws. */
export function parseYamlMapping(text: string): YamlResult {
  const parsed = parseYaml(text);
  if (!parsed.ok) return parsed;
  if (parsed.value === null) return { ...parsed, value: {} };
  if (typeof parsed.value !== 'object' || Array.isArray(parsed.value)) return { ok: false, issues: [{ line: 1, message: 'expected "key: value" lines (a mapping)' }] };
  return parsed;
}

function firstLine(message: string): string {
  return message.split('\n')[0]!.trim();
}

