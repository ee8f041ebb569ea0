// JSON Schema checks in the browser with @cfworker/json-schema (drafts 4 to 2020-12). Not Ajv:
// Ajv compiles schemas with `new Function`, which the gateway's Content-Security-Policy
// (script-src 'self', no 'unsafe-eval') rightly forbids; this validator interprets the schema.
import { Validator, type OutputUnit } from '@cfworker/json-schema';

export interface Verdict {
  ok: boolean;
  /** JSON pointer of the first error ('/' for the root), or 'JSON' when the text is not JSON. */
  path: string;
  message: string;
}

export type ParsedJson = { ok: true; value: unknown } | { ok: false; error: string };

export function parseJson(text: string): ParsedJson {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (e) {
    return { ok: false, error: e instanceof Error ? e.message : 'not JSON' };
  }
}

const TYPES = new Set(['string', 'number', 'integer', 'boolean', 'object', 'array', 'null']);

/** Is the schema itself usable? Why not, or null. */
export function schemaProblem(schema: unknown): string | null {
  if (!schema || typeof schema !== 'object' || Array.isArray(schema)) return 'The schema must be a JSON object.';
  const stack: unknown[] = [schema];
  while (stack.length) {
    const node = stack.pop();
    if (!node || typeof node !== 'object') continue;
    if (!Array.isArray(node)) {
      const type = (node as { type?: unknown }).type;
      const types = Array.isArray(type) ? type : type === undefined ? [] : [type];
      const bad = types.find((t) => typeof t !== 'string' || !TYPES.has(t));
      if (bad !== undefined && !('properties' in node && typeof type !== 'string')) {
        return `Unknown type ${JSON.stringify(bad)} in the schema.`;
      }
    }
    stack.push(...Object.values(node));
  }
  return null;
}

const cache = new Map<string, Validator>();

function validatorOf(schema: unknown): Validator {
  const key = JSON.stringify(schema);
  let v = cache.get(key);
  if (!v) {
    v = new Validator(schema as object, '2020-12', true);
    cache.set(key, v);
  }
  return v;
}

/** The first failure's deepest error, as a JSON pointer into the answer. */
function firstError(errors: OutputUnit[]): { path: string; message: string } {
  const e = errors[errors.length - 1];
  if (!e) return { path: '/', message: 'invalid' };
  let path = e.instanceLocation.replace(/^#/, '');
  if (e.keyword === 'required') {
    const missing = /required property "([^"]*)"/.exec(e.error)?.[1];
    if (missing !== undefined) path = `${path}/${missing}`;
  }
  return { path: path || '/', message: e.error };
}

/** Validate an answer's text against `schema`. */
export function checkText(text: string, schema: unknown): Verdict {
  const parsed = parseJson(text);
  if (!parsed.ok) return { ok: false, path: 'JSON', message: `not valid JSON (${parsed.error})` };
  return checkValue(parsed.value, schema);
}

export function checkValue(value: unknown, schema: unknown): Verdict {
  const problem = schemaProblem(schema);
  if (problem) return { ok: false, path: 'schema', message: problem };
  const result = validatorOf(schema).validate(value);
  if (result.valid) return { ok: true, path: '', message: 'valid' };
  return { ok: false, ...firstError(result.errors) };
}
