// JSON Schema checks in the browser with Ajv (draft 2020-12 keywords of draft-07 style schemas).
import Ajv, { type ErrorObject } from 'ajv';

const ajv = new Ajv({ allErrors: false, strict: false });

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

const cache = new Map<string, ReturnType<typeof ajv.compile>>();

function compiled(schema: unknown) {
  const key = JSON.stringify(schema);
  let validate = cache.get(key);
  if (!validate) {
    validate = ajv.compile(schema as object);
    cache.set(key, validate);
  }
  return validate;
}

/** Is the schema itself usable? Its compile error, or null. */
export function schemaProblem(schema: unknown): string | null {
  if (!schema || typeof schema !== 'object' || Array.isArray(schema)) return 'The schema must be a JSON object.';
  try {
    compiled(schema);
    return null;
  } catch (e) {
    return e instanceof Error ? e.message : 'The schema does not compile.';
  }
}

function firstError(errors: ErrorObject[] | null | undefined): { path: string; message: string } {
  const e = errors?.[0];
  if (!e) return { path: '/', message: 'invalid' };
  const missing = e.keyword === 'required' ? (e.params as { missingProperty?: string }).missingProperty : undefined;
  const path = missing ? `${e.instancePath}/${missing}` : e.instancePath || '/';
  return { path, message: e.message ?? e.keyword };
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
  const validate = compiled(schema);
  if (validate(value)) return { ok: true, path: '', message: 'valid' };
  return { ok: false, ...firstError(validate.errors) };
}
