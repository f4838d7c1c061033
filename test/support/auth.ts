/**
 * Accounts for tests: users made directly in the server's database (fast) or
 * signed up over HTTP (child-process servers), and fetch wrappers that send
 * their credentials.
 */
import { randomBytes } from 'node:crypto';
import type { Services } from '../../src/app/services.js';
import { createUser } from '../../src/accounts/users.js';
import { createApiKey, scopesForRole } from '../../src/accounts/api-keys.js';
import type { UserRole } from '../../src/infra/db/schema.js';

export type Fetch = (input: string | URL, init?: RequestInit) => Promise<Response>;

export interface TestUser {
  id: string;
  username: string;
  email: string;
  password: string;
  role: UserRole;
  /** an API key with every scope the role allows */
  apiKey: string;
  headers: Record<string, string>;
  fetch: Fetch;
}

/** fetch that adds these headers unless the call sets them itself. */
export function fetchWith(headers: Record<string, string>): Fetch {
  return (input, init = {}) => {
    const h = new Headers(init.headers);
    for (const [k, v] of Object.entries(headers)) if (!h.has(k)) h.set(k, v);
    return fetch(input, { ...init, headers: h });
  };
}

let counter = 0;

export async function createTestUser(
  services: Pick<Services, 'database'>,
  role: UserRole = 'user',
  name?: string,
): Promise<TestUser> {
  const username = name ?? `${role}${++counter}_${randomBytes(3).toString('hex')}`;
  const email = `${username}@example.test`;
  const password = `pw-${randomBytes(9).toString('base64url')}`;
  const db = services.database.db;
  const user = await createUser(db, { username, email, password, role });
  const { secret } = await createApiKey({ db }, user, { name: 'test', scopes: scopesForRole(role) });
  const headers = { 'x-api-key': secret };
  return { id: user.id, username, email, password, role, apiKey: secret, headers, fetch: fetchWith(headers) };
}

export interface SignedIn {
  access_token: string;
  refresh_token: string;
  session_id: string;
  user: { id: string; username: string; role: UserRole };
}

export async function login(baseUrl: string, loginName: string, password: string): Promise<SignedIn> {
  const res = await fetch(`${baseUrl}/api/v2/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ login: loginName, password }),
  });
  if (res.status !== 200) throw new Error(`login ${res.status}: ${await res.text()}`);
  return (await res.json()) as SignedIn;
}

/** Signs up the first (admin) account of a server over HTTP and returns API-key headers for it. */
export async function signUpFirstAdmin(baseUrl: string): Promise<{ headers: Record<string, string>; fetch: Fetch }> {
  const res = await fetch(`${baseUrl}/api/v2/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', email: 'admin@example.test', password: 'correct horse battery' }),
  });
  if (res.status !== 201) throw new Error(`register ${res.status}: ${await res.text()}`);
  const { access_token } = (await res.json()) as SignedIn;
  const key = await fetch(`${baseUrl}/api/v2/users/me/api-keys`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${access_token}` },
    body: JSON.stringify({ name: 'test', scopes: ['read', 'download', 'admin'] }),
  });
  if (key.status !== 201) throw new Error(`api key ${key.status}: ${await key.text()}`);
  const headers = { 'x-api-key': ((await key.json()) as { key: string }).key };
  return { headers, fetch: fetchWith(headers) };
}

/**
 * Server env that lifts the request rate limits: tests that send hundreds of
 * requests (or sign in many times) from one address must not hit them.
 */
export const NO_RATE_LIMITS: Record<string, string> = {
  RATE_LIMIT: '1000000',
  RATE_LIMIT_ANONYMOUS: '1000000',
  RATE_LIMIT_AUTH: '10000',
};

/** Signs in over HTTP with a fresh session, and returns bearer headers for its access token. */
export async function sessionOf(baseUrl: string, user: Pick<TestUser, 'username' | 'password'>) {
  const pair = await login(baseUrl, user.username, user.password);
  const headers = { authorization: `Bearer ${pair.access_token}` };
  return { ...pair, headers, fetch: fetchWith(headers) };
}
