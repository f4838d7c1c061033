/**
 * Reads the server's own OpenAPI document into a list of operations with
 * their parameters and JSON body schemas, and makes values from schemas:
 * a valid sample to start from, the fields a body has, and values of the
 * wrong type. Hostile-input tests generate their cases from this, so every
 * route that exists is covered without listing it by hand.
 */
import { randomUUID } from 'node:crypto';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsImport from 'ajv-formats';

const addFormats = addFormatsImport as unknown as (ajv: Ajv) => Ajv;

export type Schema = Record<string, any>;

export interface OpenApiDoc {
  paths: Record<string, Record<string, OperationObject>>;
  components?: { schemas?: Record<string, Schema> };
}

interface OperationObject {
  parameters?: Array<{ in: string; name: string; required?: boolean; schema?: Schema }>;
  requestBody?: { content?: Record<string, { schema?: Schema }> };
}

export interface Param {
  name: string;
  required: boolean;
  schema: Schema;
}

export interface Operation {
  method: string;
  /** OpenAPI form: /api/v2/downloads/{id} */
  path: string;
  /** Fastify form: /api/v2/downloads/:id (the ROUTE_POLICY key) */
  route: string;
  pathParams: Param[];
  queryParams: Param[];
  body?: Schema;
}

/** A field inside a JSON body: where it is and its schema. */
export interface Field {
  /** property names and array indexes from the body's root */
  path: Array<string | number>;
  schema: Schema;
}

export function resolveRefs(schema: Schema | undefined, doc: OpenApiDoc, depth = 0): Schema {
  if (!schema || typeof schema !== 'object') return {};
  if (depth > 20) return schema;
  if (typeof schema.$ref === 'string') {
    const name = schema.$ref.replace(/^#\/components\/schemas\//, '');
    return resolveRefs(doc.components?.schemas?.[name], doc, depth + 1);
  }
  const out: Schema = Array.isArray(schema) ? [] : {};
  for (const [k, v] of Object.entries(schema)) {
    out[k] = v && typeof v === 'object' ? resolveRefs(v as Schema, doc, depth + 1) : v;
  }
  return out;
}

export function operationsOf(doc: OpenApiDoc): Operation[] {
  const ops: Operation[] = [];
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [m, op] of Object.entries(methods)) {
      const method = m.toUpperCase();
      if (!['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].includes(method)) continue;
      const params = (op.parameters ?? []).map((p) => ({
        in: p.in,
        name: p.name,
        required: p.required === true || p.in === 'path',
        schema: resolveRefs(p.schema, doc),
      }));
      const bodySchema = op.requestBody?.content?.['application/json']?.schema;
      ops.push({
        method,
        path,
        route: path.replace(/\{([^}]+)\}/g, ':$1'),
        pathParams: params.filter((p) => p.in === 'path'),
        queryParams: params.filter((p) => p.in === 'query'),
        ...(bodySchema ? { body: resolveRefs(bodySchema, doc) } : {}),
      });
    }
  }
  return ops;
}

/** The schema's type, looking through anyOf/oneOf of one kind (TypeBox unions of literals). */
export function typeOf(schema: Schema): string | undefined {
  if (typeof schema.type === 'string') return schema.type;
  const alts = (schema.anyOf ?? schema.oneOf) as Schema[] | undefined;
  if (alts?.length) {
    const types = new Set(alts.map(typeOf));
    if (types.size === 1) return [...types][0];
  }
  return undefined;
}

function enumValues(schema: Schema): unknown[] {
  if (Array.isArray(schema.enum)) return schema.enum as unknown[];
  const alts = (schema.anyOf ?? schema.oneOf) as Schema[] | undefined;
  return alts ? alts.flatMap(enumValues) : [];
}

const PATTERN_CANDIDATES = ['abc', 'h4user', 'en', 'x', 'abc123', 'h4@example.test', '1', 'a.b-c_d', 'read'];

export interface SampleHints {
  /** the value for a property (or array item) with this name, when the generic one would not do */
  byName?: Record<string, unknown>;
}

/** A value that satisfies the schema (best effort; patterns are matched against a few candidates). */
export function sample(schema: Schema, hints: SampleHints = {}, name?: string): unknown {
  // A hint names a value; for an array field it is the value of each item.
  if (name !== undefined && hints.byName && name in hints.byName && typeOf(schema) !== 'array') {
    return hints.byName[name];
  }
  if ('default' in schema && schema.default !== undefined) return schema.default;
  const enums = enumValues(schema);
  if (enums.length) return enums[0];
  const alts = (schema.anyOf ?? schema.oneOf) as Schema[] | undefined;
  if (alts?.length && !schema.type) return sample(alts[0]!, hints, name);
  switch (typeOf(schema)) {
    case 'object': {
      const out: Record<string, unknown> = {};
      for (const key of (schema.required as string[] | undefined) ?? []) {
        out[key] = sample((schema.properties?.[key] as Schema | undefined) ?? {}, hints, key);
      }
      return out;
    }
    case 'array': {
      const n = Math.max(1, Number(schema.minItems ?? 0));
      return Array.from({ length: n }, (_v, i) => {
        const v = sample((schema.items as Schema | undefined) ?? {}, hints, name);
        return typeof v === 'string' && n > 1 ? `${v}${i}` : v;
      });
    }
    case 'integer':
    case 'number':
      return Math.max(Number(schema.minimum ?? 1), 1);
    case 'boolean':
      return false;
    case 'string':
      return sampleString(schema);
    default:
      return 'x';
  }
}

function sampleString(schema: Schema): string {
  switch (schema.format) {
    case 'uuid':
      return randomUUID();
    case 'date-time':
      return new Date(Date.now() + 86_400_000).toISOString();
    case 'email':
      return 'h4@example.test';
    case 'uri':
      return 'https://example.test/';
  }
  const min = Number(schema.minLength ?? 0);
  const fit = (s: string) => (s.length >= min ? s : s.padEnd(min, s.slice(-1) || 'x'));
  if (typeof schema.pattern === 'string') {
    const re = new RegExp(schema.pattern, 'u');
    for (const c of PATTERN_CANDIDATES) if (re.test(fit(c))) return fit(c);
  }
  return fit('h4sample');
}

/** Every leaf field of a body schema (objects walked, arrays through their first item). */
export function fieldsOf(schema: Schema, prefix: Array<string | number> = []): Field[] {
  const out: Field[] = [];
  const t = typeOf(schema);
  if (t === 'object' && schema.properties) {
    for (const [key, sub] of Object.entries(schema.properties as Record<string, Schema>)) {
      out.push({ path: [...prefix, key], schema: sub });
      out.push(...fieldsOf(sub, [...prefix, key]));
    }
  } else if (t === 'array' && schema.items) {
    out.push({ path: [...prefix, 0], schema: schema.items as Schema });
    out.push(...fieldsOf(schema.items as Schema, [...prefix, 0]));
  }
  return out;
}

/** A sample body with every optional object on the way to `path` filled in. */
export function sampleWithPath(schema: Schema, path: Array<string | number>, hints: SampleHints): unknown {
  const root = sample(schema, hints);
  let node: any = root;
  let s: Schema = schema;
  for (const key of path.slice(0, -1)) {
    const sub: Schema =
      typeof key === 'number' ? ((s.items as Schema | undefined) ?? {}) : ((s.properties?.[key] as Schema) ?? {});
    if (node[key] === undefined) node[key] = sample(sub, hints, typeof key === 'string' ? key : undefined);
    node = node[key];
    s = sub;
  }
  return root;
}

/** A deep copy of `value` with `path` set to `leaf`. */
export function withValue(schema: Schema, path: Array<string | number>, leaf: unknown, hints: SampleHints): unknown {
  const root = structuredClone(sampleWithPath(schema, path, hints)) as any;
  if (!path.length) return leaf;
  let node = root;
  for (const key of path.slice(0, -1)) node = node[key];
  node[path[path.length - 1]!] = leaf;
  return root;
}

export const fieldName = (path: Array<string | number>) =>
  path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('');

/** Values of every JSON type but the field's own (null only when the field is not nullable). */
export function wrongTypeValues(schema: Schema): Array<{ label: string; value: unknown }> {
  const t = typeOf(schema);
  const all: Array<{ label: string; kind: string; value: unknown }> = [
    { label: 'number 42', kind: 'number', value: 42 },
    { label: 'float 1.5', kind: 'float', value: 1.5 },
    { label: 'boolean true', kind: 'boolean', value: true },
    { label: 'null', kind: 'null', value: null },
    { label: 'object {}', kind: 'object', value: { $gt: '' } },
    { label: 'array ["x"]', kind: 'array', value: ['x'] },
    { label: 'string "1"', kind: 'string', value: '1' },
  ];
  return all
    .filter((c) => {
      if (c.kind === 'null') return schema.nullable !== true;
      if (c.kind === 'float') return t === 'integer' || t === 'string' || t === 'boolean';
      if (c.kind === 'number') return t !== 'number' && t !== 'integer';
      return c.kind !== t;
    })
    .map(({ label, value }) => ({ label, value }));
}

const ajvs = new Map<boolean, Ajv>();
const validators = new Map<boolean, WeakMap<Schema, ValidateFunction>>();

/**
 * Whether a value satisfies a (resolved) schema as the server would judge it:
 * JSON bodies strictly, query and path values coerced from text.
 */
export function isValid(schema: Schema, value: unknown, opts: { coerce?: boolean } = {}): boolean {
  const coerce = opts.coerce === true;
  let ajv = ajvs.get(coerce);
  if (!ajv) {
    ajv = addFormats(new Ajv({ strict: false, allErrors: false, coerceTypes: coerce ? 'array' : false }));
    ajvs.set(coerce, ajv);
  }
  let cache = validators.get(coerce);
  if (!cache) validators.set(coerce, (cache = new WeakMap()));
  let v = cache.get(schema);
  if (!v) {
    // Wrapped, so coercion has a parent to write the coerced value into.
    v = ajv.compile({ type: 'object', properties: { v: schema }, required: ['v'] });
    cache.set(schema, v);
  }
  return v({ v: value }) as boolean;
}
