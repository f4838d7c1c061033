/**
 * The OpenAPI document and the web client's TypeScript types, produced from
 * the route schemas without a running server (an in-memory embedded build of
 * the app). Shared by `npm run gen:api` and the test that fails when the
 * committed web/src/api/schema.d.ts is stale.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import openapiTS, { astToString } from 'openapi-typescript';
import * as prettier from 'prettier';
import { loadConfig } from '../src/config/config.js';
import { createServices } from '../src/app/services.js';
import { buildApp } from '../src/http/app.js';
import { apiRoutes } from '../src/http/routes/index.js';

export const SCHEMA_FILE = 'web/src/api/schema.d.ts';

export async function openApiDocument(): Promise<Record<string, unknown>> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'ytbh-openapi-'));
  const config = loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'silent', PORT: '0' });
  const services = await createServices(config, { log: pino({ level: 'silent' }), pgliteDir: 'memory://' });
  try {
    const app = await buildApp(services, { routes: apiRoutes });
    try {
      return app.swagger() as unknown as Record<string, unknown>;
    } finally {
      await app.close();
    }
  } finally {
    await services.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

export async function clientTypes(doc: Record<string, unknown>): Promise<string> {
  // The version changes with every release; leaving it out keeps the types file stable between them.
  const info = { ...(doc.info as Record<string, unknown>), version: '' };
  const ast = await openapiTS({ ...doc, info } as Parameters<typeof openapiTS>[0], {
    alphabetize: true,
    exportType: false,
  });
  const text =
    '/* Generated from the OpenAPI document by `npm run gen:api` (scripts/gen-api.ts). Do not edit. */\n' +
    astToString(ast);
  // Formatted as the repository's other files are, so `prettier --check .` passes on it.
  return prettier.format(text, { ...(await prettier.resolveConfig(SCHEMA_FILE)), filepath: SCHEMA_FILE });
}
