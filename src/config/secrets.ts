/**
 * Signing and encryption secrets. Given by JWT_SECRET / ENCRYPTION_KEY in
 * distributed mode (every process must share them); generated once and kept
 * in DATA_DIR/secrets.json (mode 0600) on the embedded default.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, isDistributed, type Config } from './config.js';

export interface EncryptionKey {
  id: string;
  key: Buffer;
}

export interface Secrets {
  jwtSecret: string;
  /** First key encrypts; all of them decrypt (rotation keeps old rows readable). */
  encryptionKeys: EncryptionKey[];
}

interface SecretsFile {
  jwt_secret: string;
  encryption_keys: { id: string; key: string }[];
}

export function keyId(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 8);
}

export function parseEncryptionKey(raw: string): Buffer {
  const trimmed = raw.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(trimmed) ? Buffer.from(trimmed, 'hex') : Buffer.from(trimmed, 'base64');
  if (key.length !== 32) throw new ConfigError(['ENCRYPTION_KEY must be 32 bytes, as 64 hex characters or base64']);
  return key;
}

export function secretsFilePath(dataDir: string): string {
  return path.join(dataDir, 'secrets.json');
}

function readOrCreateFile(dataDir: string): SecretsFile {
  const file = secretsFilePath(dataDir);
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as SecretsFile;
  mkdirSync(dataDir, { recursive: true });
  const key = randomBytes(32);
  const created: SecretsFile = {
    jwt_secret: randomBytes(48).toString('base64url'),
    encryption_keys: [{ id: keyId(key), key: key.toString('base64') }],
  };
  // 'wx' fails if another process created it meanwhile; then read theirs.
  try {
    writeFileSync(file, JSON.stringify(created, null, 2), { mode: 0o600, flag: 'wx' });
    return created;
  } catch {
    return JSON.parse(readFileSync(file, 'utf8')) as SecretsFile;
  }
}

export function loadSecrets(config: Config): Secrets {
  if (isDistributed(config)) {
    const missing = [!config.jwtSecret && 'JWT_SECRET', !config.encryptionKey && 'ENCRYPTION_KEY'].filter(Boolean);
    if (missing.length) {
      throw new ConfigError(
        missing.map((m) => `${m} is required when DATABASE_URL or REDIS_URL is set (all processes must share it)`),
      );
    }
    const keys = [config.encryptionKey!, ...config.encryptionKeysPrevious].map(parseEncryptionKey);
    return { jwtSecret: config.jwtSecret!, encryptionKeys: keys.map((key) => ({ id: keyId(key), key })) };
  }
  const file = readOrCreateFile(config.dataDir);
  const keys: EncryptionKey[] = file.encryption_keys.map((k) => ({ id: k.id, key: Buffer.from(k.key, 'base64') }));
  if (config.encryptionKey) {
    const key = parseEncryptionKey(config.encryptionKey);
    keys.unshift({ id: keyId(key), key });
  }
  for (const raw of config.encryptionKeysPrevious) {
    const key = parseEncryptionKey(raw);
    if (!keys.some((k) => k.id === keyId(key))) keys.push({ id: keyId(key), key });
  }
  return { jwtSecret: config.jwtSecret ?? file.jwt_secret, encryptionKeys: keys };
}
