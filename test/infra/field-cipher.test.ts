/**
 * FieldCipher: AES-256-GCM with the key id in the stored text and a context
 * bound as associated data. Keys come from the real loadSecrets, both the
 * distributed (environment) and the embedded (secrets.json) way.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { keyId, loadSecrets, secretsFilePath, type EncryptionKey } from '../../src/config/secrets.js';
import { prependEncryptionKey } from '../../src/config/secrets-file-rotate.js';
import { DecryptError, FieldCipher } from '../../src/infra/crypto/field-cipher.js';

const newKey = (): EncryptionKey => {
  const key = randomBytes(32);
  return { id: keyId(key), key };
};

/** Flips one bit of one base64url part of a stored value. */
function tamper(stored: string, part: number): string {
  const parts = stored.split('.');
  const bytes = Buffer.from(parts[part]!, 'base64url');
  bytes[0] = bytes[0]! ^ 0x01;
  parts[part] = bytes.toString('base64url');
  return parts.join('.');
}

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ytbh-cipher-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('FieldCipher', () => {
  const a = newKey();
  const cipher = new FieldCipher([a]);

  it.each([
    ['ascii', 'https://hooks.example.com/x?token=abc'],
    ['empty', ''],
    ['unicode', 'héllo ✓ 你好 🎬'],
    ['large', 'x'.repeat(200_000)],
  ])('round-trips %s text, with a fresh IV each time', (_name, text) => {
    const one = cipher.encrypt(text, 'ctx:1');
    const two = cipher.encrypt(text, 'ctx:1');
    expect(one).not.toBe(two);
    expect(cipher.decrypt(one, 'ctx:1')).toBe(text);
    expect(cipher.decrypt(two, 'ctx:1')).toBe(text);
  });

  it('stores v1.{keyId}.{iv}.{ciphertext}.{tag} and never the plaintext', () => {
    const stored = cipher.encrypt('secret-webhook-token', 'ctx');
    const parts = stored.split('.');
    expect(parts).toHaveLength(5);
    expect(parts[0]).toBe('v1');
    expect(parts[1]).toBe(a.id);
    expect(Buffer.from(parts[2]!, 'base64url')).toHaveLength(12);
    expect(Buffer.from(parts[4]!, 'base64url')).toHaveLength(16);
    expect(stored).not.toContain('secret');
    expect(Buffer.from(parts[3]!, 'base64url').toString('utf8')).not.toContain('secret');
    expect(FieldCipher.keyIdOf(stored)).toBe(a.id);
  });

  it.each([
    ['iv', 2],
    ['ciphertext', 3],
    ['tag', 4],
  ])('rejects a tampered %s', (_name, part) => {
    const stored = cipher.encrypt('some value', 'ctx');
    expect(() => cipher.decrypt(tamper(stored, part), 'ctx')).toThrow(DecryptError);
  });

  it('rejects a truncated tag (GCM would otherwise accept short tags)', () => {
    const stored = cipher.encrypt('some value', 'ctx');
    const parts = stored.split('.');
    parts[4] = Buffer.from(parts[4]!, 'base64url').subarray(0, 4).toString('base64url');
    expect(() => cipher.decrypt(parts.join('.'), 'ctx')).toThrow(DecryptError);
  });

  it('binds the context: another row or column does not decrypt', () => {
    const stored = cipher.encrypt('cookie file', 'platform_cookies:youtube');
    expect(cipher.decrypt(stored, 'platform_cookies:youtube')).toBe('cookie file');
    expect(() => cipher.decrypt(stored, 'platform_cookies:bilibili')).toThrow(DecryptError);
    expect(() => cipher.decrypt(stored, '')).toThrow(DecryptError);
  });

  it('names an unknown key id, and refuses values that are not ours', () => {
    const other = new FieldCipher([newKey()]);
    const stored = other.encrypt('v', 'ctx');
    expect(() => cipher.decrypt(stored, 'ctx')).toThrow(/unknown key [0-9a-f]{8}.*ENCRYPTION_KEYS_PREVIOUS/);
    for (const bad of ['plaintext', 'v2.a.b.c.d', 'v1.a.b.c', '']) {
      expect(() => cipher.decrypt(bad, 'ctx')).toThrow(DecryptError);
    }
  });

  it('encrypts with the first key, decrypts with any, and says which values need rotation', () => {
    const b = newKey();
    const old = new FieldCipher([a]).encrypt('old row', 'ctx');
    const rotated = new FieldCipher([b, a]);
    expect(rotated.decrypt(old, 'ctx')).toBe('old row');
    expect(rotated.needsRotation(old)).toBe(true);
    const fresh = rotated.encrypt('new row', 'ctx');
    expect(FieldCipher.keyIdOf(fresh)).toBe(b.id);
    expect(rotated.needsRotation(fresh)).toBe(false);
    expect(() => new FieldCipher([b]).decrypt(old, 'ctx')).toThrow(DecryptError);
  });

  it('refuses no keys and keys of the wrong size', () => {
    expect(() => new FieldCipher([])).toThrow();
    expect(() => new FieldCipher([{ id: 'short', key: randomBytes(16) }])).toThrow(/32 bytes/);
  });
});

describe('keys from loadSecrets', () => {
  const hexKey = (): string => randomBytes(32).toString('hex');

  it('distributed: ENCRYPTION_KEY encrypts, ENCRYPTION_KEYS_PREVIOUS still decrypt', () => {
    const [oldA, oldB, current] = [hexKey(), randomBytes(32).toString('base64'), hexKey()];
    const env = { DATABASE_URL: 'postgres://u@127.0.0.1/x', JWT_SECRET: 'j'.repeat(40), DATA_DIR: tempDir() };
    const before = new FieldCipher(loadSecrets(loadConfig({ ...env, ENCRYPTION_KEY: oldA })).encryptionKeys);
    const alsoBefore = new FieldCipher(loadSecrets(loadConfig({ ...env, ENCRYPTION_KEY: oldB })).encryptionKeys);
    const rowA = before.encrypt('row a', 'ctx');
    const rowB = alsoBefore.encrypt('row b', 'ctx');

    const after = new FieldCipher(
      loadSecrets(loadConfig({ ...env, ENCRYPTION_KEY: current, ENCRYPTION_KEYS_PREVIOUS: `${oldA},${oldB}` }))
        .encryptionKeys,
    );
    expect(after.currentKeyId).toBe(keyId(Buffer.from(current, 'hex')));
    expect(after.decrypt(rowA, 'ctx')).toBe('row a');
    expect(after.decrypt(rowB, 'ctx')).toBe('row b');
    expect(FieldCipher.keyIdOf(after.encrypt('new', 'ctx'))).toBe(after.currentKeyId);

    const withoutPrevious = new FieldCipher(
      loadSecrets(loadConfig({ ...env, ENCRYPTION_KEY: current })).encryptionKeys,
    );
    expect(() => withoutPrevious.decrypt(rowA, 'ctx')).toThrow(/unknown key/);
  });

  it('embedded: secrets.json is made 0600; after a new key is put first, old rows still decrypt', () => {
    const dir = tempDir();
    const config = loadConfig({ DATA_DIR: dir });
    const first = new FieldCipher(loadSecrets(config).encryptionKeys);
    expect(statSync(secretsFilePath(dir)).mode & 0o777).toBe(0o600);
    const jwtBefore = loadSecrets(config).jwtSecret;
    const row = first.encrypt('row', 'ctx');

    const added = prependEncryptionKey(dir);
    expect(statSync(secretsFilePath(dir)).mode & 0o777).toBe(0o600);
    const file = JSON.parse(readFileSync(secretsFilePath(dir), 'utf8')) as { encryption_keys: { id: string }[] };
    expect(file.encryption_keys.map((k) => k.id)).toEqual([added.id, first.currentKeyId]);

    const second = new FieldCipher(loadSecrets(config).encryptionKeys);
    expect(second.currentKeyId).toBe(added.id);
    expect(second.decrypt(row, 'ctx')).toBe('row');
    expect(loadSecrets(config).jwtSecret).toBe(jwtBefore);
  });

  it('embedded: ENCRYPTION_KEYS_PREVIOUS adds decrypt-only keys after the file keys', () => {
    const dir = tempDir();
    const outside = hexKey();
    const foreign = new FieldCipher([{ id: keyId(Buffer.from(outside, 'hex')), key: Buffer.from(outside, 'hex') }]);
    const row = foreign.encrypt('imported', 'ctx');
    const cipher = new FieldCipher(
      loadSecrets(loadConfig({ DATA_DIR: dir, ENCRYPTION_KEYS_PREVIOUS: outside })).encryptionKeys,
    );
    expect(cipher.currentKeyId).not.toBe(foreign.currentKeyId);
    expect(cipher.decrypt(row, 'ctx')).toBe('imported');
  });

  it('prependEncryptionKey refuses a file without keys and leaves it untouched', () => {
    const dir = tempDir();
    writeFileSync(secretsFilePath(dir), JSON.stringify({ jwt_secret: 'x', encryption_keys: [] }), { mode: 0o600 });
    expect(() => prependEncryptionKey(dir)).toThrow(/no encryption_keys/);
    expect(JSON.parse(readFileSync(secretsFilePath(dir), 'utf8'))).toEqual({ jwt_secret: 'x', encryption_keys: [] });
  });
});
