/**
 * Two Ajv instances: query strings, params and headers arrive as text, so
 * they are coerced ("true" → true); JSON bodies are typed already and are
 * validated strictly ({"url": 42} is an error, not "42"). Neither removes
 * unknown properties: strict schemas reject them.
 */
import { Ajv, type Options, type ValidateFunction } from 'ajv';
import addFormatsImport from 'ajv-formats';

// ajv-formats is CommonJS with a default export.
const addFormats = addFormatsImport as unknown as (ajv: Ajv) => Ajv;

const BASE: Options = {
  useDefaults: true,
  removeAdditional: false,
  allErrors: false,
  addUsedSchema: false,
  strict: false,
};

function makeAjv(coerce: boolean, shared: Record<string, unknown>): Ajv {
  const ajv = new Ajv({ ...BASE, coerceTypes: coerce ? 'array' : false });
  addFormats(ajv);
  for (const schema of Object.values(shared)) ajv.addSchema(schema as object);
  return ajv;
}

function compile(ajv: Ajv, schema: { $id?: string }): ValidateFunction {
  return (schema.$id && ajv.getSchema(schema.$id)) || ajv.compile(schema);
}

export function validatorFactory(externalSchemas: unknown) {
  const shared = (externalSchemas ?? {}) as Record<string, unknown>;
  const strict = makeAjv(false, shared);
  const coercing = makeAjv(true, shared);
  return ({ schema, httpPart }: { schema: unknown; httpPart?: string }): ValidateFunction =>
    compile(httpPart === 'body' ? strict : coercing, schema as { $id?: string });
}
