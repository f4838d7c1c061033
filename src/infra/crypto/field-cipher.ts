/**
 * Encryption at rest for sensitive columns (webhook URLs and secrets,
 * platform cookies): AES-256-GCM, a fresh 96-bit IV per value, and the key id
 * in the stored text, so keys can rotate: the first key encrypts, every known
 * key decrypts, and `ytbh keys rotate` re-encrypts old rows.
 *
 * Stored form: `v1.{keyId}.{iv}.{ciphertext}.{tag}` (base64url parts). An
 * optional context (e.g. the column and row id) is bound as associated data,
 * so a value copied into another row does not decrypt.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { EncryptionKey } from '../../config/secrets.js';

const VERSION = 'v1';
const IV_BYTES = 12;
/** GCM accepts truncated tags unless told otherwise; a short tag would make forgeries cheap. */
const TAG_BYTES = 16;

export class DecryptError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DecryptError';
  }
}

export class FieldCipher {
  constructor(private readonly keys: readonly EncryptionKey[]) {
    if (!keys.length) throw new Error('FieldCipher needs at least one key');
    for (const k of keys) if (k.key.length !== 32) throw new Error(`Encryption key ${k.id} is not 32 bytes`);
  }

  get currentKeyId(): string {
    return this.keys[0]!.id;
  }

  encrypt(plaintext: string, context = ''): string {
    const { id, key } = this.keys[0]!;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    const tag = cipher.getAuthTag();
    return [VERSION, id, iv.toString('base64url'), ct.toString('base64url'), tag.toString('base64url')].join('.');
  }

  decrypt(stored: string, context = ''): string {
    const parts = stored.split('.');
    if (parts.length !== 5 || parts[0] !== VERSION) throw new DecryptError('Not an encrypted value');
    const [, kid, iv, ct, tag] = parts as [string, string, string, string, string];
    const key = this.keys.find((k) => k.id === kid);
    if (!key) throw new DecryptError(`Encrypted with unknown key ${kid}: add it to ENCRYPTION_KEYS_PREVIOUS`);
    const ivBytes = Buffer.from(iv, 'base64url');
    const tagBytes = Buffer.from(tag, 'base64url');
    if (ivBytes.length !== IV_BYTES || tagBytes.length !== TAG_BYTES)
      throw new DecryptError('Malformed encrypted value');
    try {
      const decipher = createDecipheriv('aes-256-gcm', key.key, ivBytes, { authTagLength: TAG_BYTES });
      decipher.setAAD(Buffer.from(context, 'utf8'));
      decipher.setAuthTag(tagBytes);
      return Buffer.concat([decipher.update(Buffer.from(ct, 'base64url')), decipher.final()]).toString('utf8');
    } catch {
      throw new DecryptError('Encrypted value failed authentication (wrong key, context or tampered)');
    }
  }

  /** The key id a stored value was encrypted with (null when it is not one of ours). */
  static keyIdOf(stored: string): string | null {
    const parts = stored.split('.');
    return parts.length === 5 && parts[0] === VERSION ? parts[1]! : null;
  }

  /** True when the value is encrypted with an older key than the current one. */
  needsRotation(stored: string): boolean {
    return FieldCipher.keyIdOf(stored) !== this.currentKeyId;
  }
}
