/**
 * Access tokens: short-lived HS256 JWTs (jose). Verification pins the
 * algorithm, issuer and audience, so `alg: none`, another key or another
 * token type are all refused the same way.
 */
import { SignJWT, jwtVerify, errors as joseErrors } from 'jose';
import { AppError } from '../errors/app-error.js';

const ISSUER = 'ytbh';
const AUDIENCE = 'ytbh-api';

export interface AccessClaims {
  /** user id */
  sub: string;
  /** session (refresh family) id: `session:{sid}` in the cache */
  sid: string;
}

function keyOf(secret: string): Uint8Array {
  return new TextEncoder().encode(secret);
}

export async function signAccessToken(secret: string, claims: AccessClaims, ttlSeconds: number): Promise<string> {
  return new SignJWT({ sid: claims.sid, typ: 'access' })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(claims.sub)
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds)
    .sign(keyOf(secret));
}

export async function verifyAccessToken(secret: string, token: string): Promise<AccessClaims & { iat: number }> {
  try {
    const { payload } = await jwtVerify(token, keyOf(secret), {
      algorithms: ['HS256'],
      issuer: ISSUER,
      audience: AUDIENCE,
      requiredClaims: ['sub', 'exp', 'iat'],
    });
    if (payload.typ !== 'access' || typeof payload.sid !== 'string' || typeof payload.sub !== 'string') {
      throw new AppError('unauthorized', 'Invalid access token');
    }
    return { sub: payload.sub, sid: payload.sid, iat: payload.iat ?? 0 };
  } catch (err) {
    if (err instanceof AppError) throw err;
    if (err instanceof joseErrors.JWTExpired)
      throw new AppError('unauthorized', 'Access token expired', { reason: 'expired' });
    throw new AppError('unauthorized', 'Invalid access token');
  }
}
