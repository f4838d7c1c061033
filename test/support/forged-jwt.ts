/**
 * Hand-made JWTs for tests that must be refused: any header, any payload,
 * signed with any HMAC secret or not at all. Built by hand rather than with
 * jose, which (rightly) will not produce most of them.
 */
import { createHmac } from 'node:crypto';

const b64url = (value: unknown) =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

export interface Forged {
  header?: Record<string, unknown>;
  payload: Record<string, unknown>;
  /** HMAC-SHA256 secret; omitted: an empty signature (alg none) */
  secret?: string;
}

export function forgeJwt({ header = { alg: 'HS256', typ: 'JWT' }, payload, secret }: Forged): string {
  const signing = `${b64url(header)}.${b64url(payload)}`;
  const signature = secret === undefined ? '' : createHmac('sha256', secret).update(signing).digest('base64url');
  return `${signing}.${signature}`;
}

/** The payload of a real token (no verification). */
export function decodeJwt(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
}

/** The same token with its payload changed and the original signature kept. */
export function tamperJwt(token: string, change: Record<string, unknown>): string {
  const [header, , signature] = token.split('.');
  return `${header}.${b64url({ ...decodeJwt(token), ...change })}.${signature}`;
}
