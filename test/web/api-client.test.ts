/** The web client's API types are generated from the OpenAPI document; a stale copy fails here. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { clientTypes, openApiDocument, SCHEMA_FILE } from '../../scripts/openapi-document.js';
import { ROOT } from '../support/server.js';

describe('typed API client', () => {
  it('web/src/api/schema.d.ts is up to date with the routes (else: npm run gen:api)', async () => {
    const doc = await openApiDocument();
    const fresh = await clientTypes(doc);
    const committed = readFileSync(path.join(ROOT, SCHEMA_FILE), 'utf8');
    // Every documented path is in the types, so a missing route names itself in the failure.
    const missing = Object.keys(doc.paths as object).filter((p) => !committed.includes(`'${p}': {`));
    expect(missing, 'paths missing from web/src/api/schema.d.ts: run npm run gen:api').toEqual([]);
    expect(committed === fresh, 'web/src/api/schema.d.ts is stale: run npm run gen:api').toBe(true);
  });
});
