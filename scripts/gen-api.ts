/** `npm run gen:api`: regenerates the web client's API types (web/src/api/schema.d.ts); `--json FILE` also writes the document. */
import { writeFileSync } from 'node:fs';
import { clientTypes, openApiDocument, SCHEMA_FILE } from './openapi-document.js';

const doc = await openApiDocument();
const jsonAt = process.argv.indexOf('--json');
if (jsonAt > 0 && process.argv[jsonAt + 1]) {
  writeFileSync(process.argv[jsonAt + 1]!, JSON.stringify(doc, null, 2) + '\n');
}
writeFileSync(SCHEMA_FILE, await clientTypes(doc));
console.log(`wrote ${SCHEMA_FILE}`);
