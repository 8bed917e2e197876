/**
 * A strict parser for the flat subset of YAML that `.nightshift.yml` uses, so that no YAML library is
 * needed. The subset, each piece meaning what it means in YAML:
 *
 * ```yaml
 * # a comment line; also after a value, following a space
 * image: nightshift-sandbox-node:24     # key: scalar  (keys: letters, digits, "_" and "-")
 * test: "npm test -- --reporter=dot"    # plain, 'single' ('' is a quote) or "double" (\" \\ \n \t) quoted
 * setup:                                # key: followed by "- item" lines, indented or not, is a list
 *   - npm ci
 *   - npm run build
 * test_files: []                        # an empty list
 * setup_network:                        # nothing at all: null
 * ```
 *
 * Everything else — nested mappings, flow collections other than `[]`, anchors, tags, block scalars
 * (`|`, `>`), multi-line values, tabs, duplicate keys — is refused with its line number, never guessed
 * at. Plain scalars that YAML would read as something other than a string (`true`, `12`) are refused
 * too, except `null` and `~`: quote them.
 */
export type FlatYamlValue = string | string[] | null;

/** One refused line: `line` is 1-based. */
export interface FlatYamlIssue {
  line: number;
  message: string;
}

export type FlatYamlResult =
  | { ok: true; value: Record<string, FlatYamlValue> }
  | { ok: false; issues: FlatYamlIssue[] };

const KEY_LINE = /^([A-Za-z_][A-Za-z0-9_-]*)[ \t]*:(?:[ ]+(.*)|)$/;
const ITEM_LINE = /^([ ]*)-(?:[ ]+(.*)|)$/;
const INDICATORS = new Set(['-', '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '%', '@', '`']);
const NON_STRING = /^(?:true|false|yes|no|on|off|y|n|[-+]?(?:\d[\d_]*(?:\.\d*)?|\.\d+)(?:e[-+]?\d+)?|0x[0-9a-f]+|0o[0-7]+|\.inf|-\.inf|\.nan)$/i;

/** Parses `text`; never throws. */
export function parseFlatYaml(text: string): FlatYamlResult {
  const value: Record<string, FlatYamlValue> = {};
  const issues: FlatYamlIssue[] = [];
  let listKey: string | null = null;
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((raw, index) => {
    const line = index + 1;
    if (/^\s*(#.*)?$/.test(raw)) return;
    if (raw.includes('\t')) return void issues.push({ line, message: 'tabs are not allowed in YAML indentation or here; use spaces' });
    if (raw === '---' || raw === '...') return;
    const item = ITEM_LINE.exec(raw);
    if (item) {
      if (listKey === null) return void issues.push({ line, message: 'a list item must follow a "key:" line' });
      const scalar = parseScalar(item[2] ?? '');
      if ('error' in scalar) return void issues.push({ line, message: scalar.error });
      if (scalar.value === null) return void issues.push({ line, message: 'an empty list item is not allowed' });
      const list = value[listKey];
      if (Array.isArray(list)) list.push(scalar.value);
      else value[listKey] = [scalar.value];
      return;
    }
    listKey = null;
    if (/^\s/.test(raw)) {
      return void issues.push({ line, message: 'unexpected indentation: only "key: value" and lists of "- item" are supported' });
    }
    const kv = KEY_LINE.exec(raw);
    if (!kv) return void issues.push({ line, message: 'expected "key: value", "key:" or "- item"' });
    const key = kv[1]!;
    if (Object.hasOwn(value, key)) return void issues.push({ line, message: `duplicate key "${key}"` });
    const rest = (kv[2] ?? '').trim();
    if (rest === '' || rest.startsWith('#')) {
      value[key] = null;
      listKey = key;
      return;
    }
    if (/^\[\s*\](\s+#.*)?$/.test(rest)) {
      value[key] = [];
      return;
    }
    const scalar = parseScalar(rest);
    if ('error' in scalar) return void issues.push({ line, message: scalar.error });
    value[key] = scalar.value;
  });
  return issues.length > 0 ? { ok: false, issues } : { ok: true, value };
}

function parseScalar(text: string): { value: string | null } | { error: string } {
  const t = text.trim();
  if (t === '' || t.startsWith('#')) return { value: null };
  if (t.startsWith('"')) return quoted(t, '"');
  if (t.startsWith("'")) return quoted(t, "'");
  const plain = t.replace(/\s+#.*$/, '');
  if (INDICATORS.has(plain[0]!) && !(plain[0] === '-' && plain.length > 1 && plain[1] !== ' ')) {
    return { error: `a value starting with "${plain[0]}" must be quoted (nested or flow collections, anchors, tags and block scalars are not supported)` };
  }
  if (plain.includes(': ') || plain.endsWith(':')) return { error: 'a value containing ": " must be quoted' };
  if (plain === 'null' || plain === '~' || plain === 'Null' || plain === 'NULL') return { value: null };
  if (NON_STRING.test(plain)) return { error: `"${plain}" is not read as text by YAML; quote it` };
  return { value: plain };
}

function quoted(t: string, q: '"' | "'"): { value: string } | { error: string } {
  let out = '';
  let i = 1;
  for (; i < t.length; i++) {
    const c = t[i]!;
    if (q === "'" && c === "'") {
      if (t[i + 1] === "'") {
        out += "'";
        i++;
        continue;
      }
      break;
    }
    if (q === '"' && c === '"') break;
    if (q === '"' && c === '\\') {
      const e = t[++i];
      const map: Record<string, string> = { '"': '"', '\\': '\\', n: '\n', t: '\t', '/': '/' };
      if (e === undefined || map[e] === undefined) return { error: `unsupported escape "\\${e ?? ''}" in a double-quoted value` };
      out += map[e];
      continue;
    }
    out += c;
  }
  if (i >= t.length) return { error: `unterminated ${q === '"' ? 'double' : 'single'}-quoted value` };
  if (!/^(\s+#.*)?\s*$/.test(t.slice(i + 1))) return { error: 'unexpected text after a quoted value' };
  return { value: out };
}
