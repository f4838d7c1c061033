/**
 * Makes sure web/dist is a build of the current web sources before a browser
 * test serves it: rebuilt when any source file changed (a content hash is kept
 * in web/dist/.source-hash), under a lock so parallel test files build once.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from '../../support/server.js';

const WEB = path.join(ROOT, 'web');
const DIST = path.join(WEB, 'dist');
const HASH_FILE = path.join(DIST, '.source-hash');
const LOCK = path.join(WEB, '.build-lock');
const STALE_LOCK_MS = 5 * 60_000;

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? files(p) : [p];
  });
}

export function sourceHash(): string {
  const h = createHash('sha256');
  const inputs = [
    ...files(path.join(WEB, 'src')),
    ...files(path.join(WEB, 'public')),
    path.join(WEB, 'index.html'),
    path.join(WEB, 'vite.config.ts'),
  ].sort();
  for (const f of inputs) h.update(path.relative(WEB, f)).update('\0').update(readFileSync(f)).update('\0');
  return h.digest('hex');
}

const built = () => existsSync(HASH_FILE) && readFileSync(HASH_FILE, 'utf8') === sourceHash();

async function withLock<T>(fn: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      mkdirSync(LOCK);
      break;
    } catch {
      // Another test file is building; a lock left by a killed run is taken over.
      if (existsSync(LOCK) && Date.now() - statSync(LOCK).mtimeMs > STALE_LOCK_MS)
        rmSync(LOCK, { recursive: true, force: true });
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}

export async function ensureWebBuilt(): Promise<void> {
  if (built()) return;
  await withLock(async () => {
    if (built()) return;
    const { build } = await import('vite');
    // vitest sets NODE_ENV=test, which would give a development build of React.
    const env = process.env.NODE_ENV;
    process.env.NODE_ENV = 'production';
    try {
      await build({ configFile: path.join(WEB, 'vite.config.ts'), mode: 'production', logLevel: 'warn' });
    } finally {
      process.env.NODE_ENV = env;
    }
    writeFileSync(HASH_FILE, sourceHash());
  });
}
