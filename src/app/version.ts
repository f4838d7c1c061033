import { readFileSync } from 'node:fs';

// src/app and dist/app sit at the same depth below the package root.
const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

export const VERSION: string = pkg.version;
