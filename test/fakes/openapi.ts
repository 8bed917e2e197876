import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

/**
 * GitHub's REST API as its OpenAPI description (`@octokit/openapi`) states it, for fakes: find the
 * operation a request is for, check the request has what the operation requires (path and query
 * parameters, body fields and their types; unknown fields are errors, to catch typos), and check a
 * response against the documented schema. A small JSON Schema subset: $ref, type, nullable, enum,
 * required, properties, additionalProperties, items, oneOf/anyOf/allOf, min/maxLength.
 */

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Schema = Record<string, unknown>;

interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required?: boolean;
  schema?: Schema;
}

export interface Operation {
  operationId: string;
  method: string;
  template: string;
  /** Path parameters, decoded. */
  params: Record<string, string>;
}

interface RawOperation {
  operationId: string;
  parameters?: (Parameter | { $ref: string })[];
  requestBody?: { required?: boolean; content?: Record<string, { schema?: Schema }> } | { $ref: string };
  responses: Record<string, { content?: Record<string, { schema?: Schema }> } | { $ref: string }>;
}

interface Compiled {
  template: string;
  regex: RegExp;
  names: string[];
  literals: number;
  ops: Record<string, RawOperation>;
}

export interface OpenApi {
  /** The operation of `method path`, or a reason it has none (no such path, or not that method). */
  match(method: string, path: string): Operation | string;
  /** Problems with a request for `op`; empty when it is what the description asks for. */
  checkRequest(op: Operation, req: { query: URLSearchParams; body: unknown; hasBody: boolean }): string[];
  /** Problems with a response: an undocumented status, or a body that does not fit the schema. */
  checkResponse(op: Operation, status: number, body: unknown): string[];
  /** A documented example value, e.g. `example('pull-request')` (a fresh copy). */
  example(name: string): Record<string, unknown>;
}

let loaded: OpenApi | undefined;

/** GitHub's description, loaded once per process (13 MB). */
export function githubOpenApi(): OpenApi {
  loaded ??= compile(JSON.parse(readFileSync(createRequire(import.meta.url).resolve('@octokit/openapi/generated/api.github.com.json'), 'utf8')) as Record<string, unknown>);
  return loaded;
}

function compile(doc: Record<string, unknown>): OpenApi {
  const resolve = <T,>(node: T | { $ref: string }): T => {
    let cur: unknown = node;
    for (let i = 0; i < 20 && cur && typeof cur === 'object' && '$ref' in cur; i++) {
      const ref = (cur as { $ref: string }).$ref;
      cur = ref.replace(/^#\//, '').split('/').reduce<unknown>((o, k) => (o as Record<string, unknown>)?.[k.replaceAll('~1', '/').replaceAll('~0', '~')], doc);
      if (cur === undefined) throw new Error(`openapi: unresolved ${ref}`);
    }
    return cur as T;
  };

  const paths = doc.paths as Record<string, Record<string, RawOperation>>;
  const compiled: Compiled[] = Object.entries(paths).map(([template, ops]) => {
    const names: string[] = [];
    let literals = 0;
    const source = template
      .split('/')
      .map((seg) => {
        const m = /^\{([^}]+)\}$/.exec(seg);
        if (m) {
          names.push(m[1]!);
          return '([^/]+)';
        }
        literals++;
        return seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      })
      .join('/');
    return { template, regex: new RegExp(`^${source}$`), names, literals, ops };
  });

  function validate(schemaIn: Schema | { $ref: string } | undefined, value: unknown, at: string, strict: boolean, out: string[]): void {
    if (!schemaIn || out.length > 20) return;
    const schema = resolve(schemaIn) as Schema;
    if (value === null) {
      if (schema.nullable === true || schema.type === 'null' || (Array.isArray(schema.type) && schema.type.includes('null'))) return;
      if (schema.type === undefined && !schema.oneOf && !schema.anyOf && !schema.allOf) return;
      if (schema.oneOf || schema.anyOf) {
        const alts = ((schema.oneOf ?? schema.anyOf) as Schema[]).map((s) => resolve(s) as Schema);
        if (alts.some((s) => s.nullable === true || s.type === 'null')) return;
      }
      out.push(`${at}: null is not allowed`);
      return;
    }
    for (const key of ['oneOf', 'anyOf'] as const) {
      const alts = schema[key] as Schema[] | undefined;
      if (alts) {
        const results = alts.map((s) => {
          const o: string[] = [];
          validate(s, value, at, strict, o);
          return o;
        });
        if (!results.some((r) => r.length === 0)) out.push(`${at}: fits none of ${key} (${results.map((r) => r[0]).join(' | ')})`);
        return;
      }
    }
    if (schema.allOf) {
      // Properties spread over the parts: strictness would flag each part's siblings, so it is off here.
      for (const s of schema.allOf as Schema[]) validate(s, value, at, false, out);
      return;
    }
    const type = schema.type as string | string[] | undefined;
    const types = Array.isArray(type) ? type : type ? [type] : [];
    if (types.length > 0 && !types.some((t) => fits(t, value))) {
      out.push(`${at}: expected ${types.join('|')}, got ${Array.isArray(value) ? 'array' : typeof value} ${JSON.stringify(value)?.slice(0, 60)}`);
      return;
    }
    if (Array.isArray(schema.enum) && !schema.enum.includes(value)) out.push(`${at}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`);
    if (typeof value === 'string') {
      if (typeof schema.minLength === 'number' && value.length < schema.minLength) out.push(`${at}: shorter than ${schema.minLength}`);
      if (typeof schema.maxLength === 'number' && value.length > schema.maxLength) out.push(`${at}: longer than ${schema.maxLength}`);
    }
    if (Array.isArray(value) && schema.items) value.forEach((v, i) => validate(schema.items as Schema, v, `${at}[${i}]`, strict, out));
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      const props = (schema.properties ?? {}) as Record<string, Schema>;
      for (const r of (schema.required ?? []) as string[]) if (!(r in value)) out.push(`${at}.${r}: required`);
      for (const [k, v] of Object.entries(value)) {
        if (props[k]) validate(props[k], v, `${at}.${k}`, strict, out);
        else if (schema.additionalProperties && typeof schema.additionalProperties === 'object') validate(schema.additionalProperties as Schema, v, `${at}.${k}`, strict, out);
        else if (strict && schema.properties && schema.additionalProperties !== true) out.push(`${at}.${k}: not in the description`);
      }
    }
  }

  return {
    match(method, path) {
      const m = method.toLowerCase();
      const candidates = compiled
        .map((c) => ({ c, hit: c.regex.exec(path) }))
        .filter((x): x is { c: Compiled; hit: RegExpExecArray } => x.hit !== null)
        .sort((a, b) => b.c.literals - a.c.literals);
      if (candidates.length === 0) return `no path of the description matches ${path}`;
      const found = candidates.find((x) => x.c.ops[m]);
      if (!found) return `${method.toUpperCase()} is not an operation of ${candidates[0]!.c.template}`;
      const params = Object.fromEntries(found.c.names.map((n, i) => [n, decodeURIComponent(found.hit[i + 1]!)]));
      return { operationId: found.c.ops[m]!.operationId, method: m, template: found.c.template, params };
    },

    checkRequest(op, { query, body, hasBody }) {
      const raw = paths[op.template]![op.method]!;
      const out: string[] = [];
      const params = (raw.parameters ?? []).map((p) => resolve(p));
      for (const p of params) {
        if (p.in === 'path') {
          const v = op.params[p.name];
          if (v === undefined) out.push(`path parameter ${p.name} missing`);
          else checkScalar(p, v, out);
        } else if (p.in === 'query') {
          const v = query.get(p.name);
          if (v === null) {
            if (p.required) out.push(`query parameter ${p.name} is required`);
          } else checkScalar(p, v, out);
        }
      }
      for (const name of new Set(query.keys())) {
        if (!params.some((p) => p.in === 'query' && p.name === name)) out.push(`query parameter ${name} is not in the description`);
      }
      const rb = raw.requestBody ? resolve(raw.requestBody) : undefined;
      if (!rb) {
        if (hasBody && body !== undefined && !(typeof body === 'object' && body !== null && Object.keys(body).length === 0)) out.push('the operation takes no body');
      } else if (!hasBody) {
        if (rb.required) out.push('a body is required');
      } else {
        validate(rb.content?.['application/json']?.schema, body, 'body', true, out);
      }
      return out;

      function checkScalar(p: Parameter, v: string, acc: string[]): void {
        const s = p.schema ? (resolve(p.schema) as Schema) : {};
        const where = `${p.in} parameter ${p.name}`;
        if (s.type === 'integer' && !/^-?\d+$/.test(v)) acc.push(`${where}: "${v}" is not an integer`);
        if (s.type === 'boolean' && v !== 'true' && v !== 'false') acc.push(`${where}: "${v}" is not a boolean`);
        if (Array.isArray(s.enum) && !s.enum.includes(v)) acc.push(`${where}: "${v}" is not one of ${JSON.stringify(s.enum)}`);
      }
    },

    checkResponse(op, status, body) {
      const raw = paths[op.template]![op.method]!;
      const documented = raw.responses[String(status)];
      if (!documented) return [`status ${status} is not documented for ${op.operationId} (documented: ${Object.keys(raw.responses).join(', ')})`];
      const schema = resolve(documented).content?.['application/json']?.schema;
      const out: string[] = [];
      if (schema) validate(schema, body, 'response', false, out);
      return out;
    },

    example(name) {
      const examples = (doc.components as { examples: Record<string, { value: unknown }> }).examples;
      const ex = examples[name];
      if (!ex) throw new Error(`openapi: no example ${name}`);
      return structuredClone(ex.value) as Record<string, unknown>;
    },
  };
}

function fits(type: string, value: unknown): boolean {
  switch (type) {
    case 'string':
      return typeof value === 'string';
    case 'integer':
      return typeof value === 'number' && Number.isInteger(value);
    case 'number':
      return typeof value === 'number';
    case 'boolean':
      return typeof value === 'boolean';
    case 'array':
      return Array.isArray(value);
    case 'object':
      return typeof value === 'object' && value !== null && !Array.isArray(value);
    case 'null':
      return value === null;
    default:
      return true;
  }
}

export type { Json };
