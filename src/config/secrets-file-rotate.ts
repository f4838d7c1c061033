/**
 * Key rotation on the embedded default: a new encryption key goes first in
 * DATA_DIR/secrets.json (it encrypts from now on) and the old ones stay
 * after it, so rows not yet re-encrypted (or in older backups) still
 * decrypt. The file is replaced atomically (write, fsync, rename), so a crash
 * leaves either the old file or the new one, never half of one.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { keyId, secretsFilePath, type EncryptionKey } from './secrets.js';

interface SecretsFileShape {
  encryption_keys: { id: string; key: string }[];
  [other: string]: unknown;
}

function readSecretsFile(file: string): SecretsFileShape {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`Cannot read ${file}: ${(err as Error).message}`);
  }
  const keys = (parsed as { encryption_keys?: unknown } | null)?.encryption_keys;
  if (!Array.isArray(keys) || !keys.length) throw new Error(`${file} holds no encryption_keys`);
  return parsed as SecretsFileShape;
}

/** Puts a fresh 32-byte key first in secrets.json and returns it. The file must exist (the server made it). */
export function prependEncryptionKey(dataDir: string): EncryptionKey {
  const file = secretsFilePath(dataDir);
  const current = readSecretsFile(file);
  const key = randomBytes(32);
  const entry = { id: keyId(key), key: key.toString('base64') };
  const next = { ...current, encryption_keys: [entry, ...current.encryption_keys] };
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    const fd = openSync(tmp, 'wx', 0o600);
    try {
      writeSync(fd, JSON.stringify(next, null, 2));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
    syncDir(dataDir);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  return { id: entry.id, key };
}

/** Makes the rename itself durable; not every file system lets a directory be opened for this. */
function syncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // best effort
  }
}
