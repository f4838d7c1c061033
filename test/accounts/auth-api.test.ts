/**
 * The auth API end to end on real servers: first-run setup and registration
 * modes, sign-in, refresh-token rotation and reuse detection, sign-out across
 * two api processes, API keys (shown once, stored hashed, revocable, expiring,
 * scoped), and what guests and disabled accounts may not do.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/accounts/secret-token.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { createTestUser, fetchWith, login, NO_RATE_LIMITS, sessionOf, type SignedIn } from '../support/auth.js';

const json = { 'content-type': 'application/json' };
const YOUTUBE_URL = 'https://www.youtube.com/watch?v=dQw4w9WgXcQ';

interface Answer {
  status: number;
  body: any;
}

async function call(base: string, path: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(`${base}${path}`, init);
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, body };
}

const post = (base: string, path: string, body: unknown, headers: Record<string, string> = {}) =>
  call(base, path, { method: 'POST', headers: { ...json, ...headers }, body: JSON.stringify(body) });
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const me = (base: string, headers: Record<string, string>) => call(base, '/api/v2/users/me', { headers });

let n = 0;
function newAccount(extra: Record<string, unknown> = {}) {
  const username = `h4u${++n}_${randomBytes(3).toString('hex')}`;
  return { username, email: `${username}@example.test`, password: `pw-${randomBytes(8).toString('hex')}`, ...extra };
}

function expectError(a: Answer, status: number, code: string): void {
  expect(a.status, JSON.stringify(a.body)).toBe(status);
  expect(a.body).toMatchObject({ error: { code, message: expect.any(String) } });
}

describe('first registration and REGISTRATION=closed (embedded)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer('embedded', { ...NO_RATE_LIMITS, REGISTRATION: 'closed' }, { noUser: true });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('the first account on an empty server becomes admin, and setup_required flips', async () => {
    const before = await call(server.url, '/api/v2/auth/status');
    expect(before.status).toBe(200);
    expect(before.body).toMatchObject({ setup_required: true, registration: 'closed', user: null });

    const first = await post(server.url, '/api/v2/auth/register', newAccount());
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    expect(first.body.user.role).toBe('admin');
    const who = await me(server.url, bearer(first.body.access_token));
    expect(who.status).toBe(200);
    expect(who.body).toMatchObject({ id: first.body.user.id, role: 'admin', auth: { via: 'session' } });

    const after = await call(server.url, '/api/v2/auth/status', { headers: bearer(first.body.access_token) });
    expect(after.body).toMatchObject({ setup_required: false, user: { id: first.body.user.id } });
  });

  it('once there is an account, a closed server refuses sign-ups (403) and stores nothing', async () => {
    const account = newAccount();
    const second = await post(server.url, '/api/v2/auth/register', account);
    expectError(second, 403, 'forbidden');
    const row = await server.services.database.db
      .selectFrom('users')
      .select('id')
      .where('username', '=', account.username)
      .executeTakeFirst();
    expect(row).toBeUndefined();
  });
});

describe('two api processes sharing PostgreSQL and Redis (REGISTRATION=open)', () => {
  let a: TestServer;
  let b: TestServer;
  const sessions: SignedIn[] = [];
  beforeAll(async () => {
    a = await startTestServer('distributed', { ...NO_RATE_LIMITS, REGISTRATION: 'open' }, { noUser: true });
    b = await startTestServer('distributed', { ...NO_RATE_LIMITS, REGISTRATION: 'open' }, { share: { from: a } });
  });
  afterAll(async () => {
    await a?.close();
  });

  it('racing first registrations on both processes make exactly one admin; the rest are users', async () => {
    for (const s of [a, b]) expect((await call(s.url, '/api/v2/auth/status')).body.setup_required).toBe(true);
    const racers = Array.from({ length: 6 }, (_v, i) =>
      post([a, b][i % 2]!.url, '/api/v2/auth/register', newAccount()),
    );
    const results = await Promise.all(racers);
    for (const r of results) expect(r.status, JSON.stringify(r.body)).toBe(201);
    const roles = results.map((r) => r.body.user.role as string);
    expect(roles.filter((r) => r === 'admin')).toHaveLength(1);
    expect(roles.filter((r) => r === 'user')).toHaveLength(5);
    const admins = await a.services.database.db.selectFrom('users').select('id').where('role', '=', 'admin').execute();
    expect(admins).toHaveLength(1);
    for (const s of [a, b]) expect((await call(s.url, '/api/v2/auth/status')).body.setup_required).toBe(false);
    sessions.push(...results.map((r) => r.body as SignedIn));
  });

  it('a later sign-up on an open server is a user', async () => {
    const r = await post(b.url, '/api/v2/auth/register', newAccount());
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body.user.role).toBe('user');
  });

  it('logout ends the access token at once on both processes', async () => {
    const s = sessions.find((x) => x.user.role === 'user') ?? sessions[0]!;
    for (const srv of [a, b]) expect((await me(srv.url, bearer(s.access_token))).status).toBe(200);
    const out = await call(a.url, '/api/v2/auth/logout', { method: 'POST', headers: bearer(s.access_token) });
    expect(out.status).toBe(204);
    for (const srv of [b, a]) expectError(await me(srv.url, bearer(s.access_token)), 401, 'unauthorized');
    expectError(await post(b.url, '/api/v2/auth/refresh', { refresh_token: s.refresh_token }), 401, 'unauthorized');
  });

  it('a refresh on one process, reuse of the old token on the other: the family dies on both', async () => {
    const s = sessions.filter((x) => x.user.role === 'user')[1]!;
    const rotated = await post(a.url, '/api/v2/auth/refresh', { refresh_token: s.refresh_token });
    expect(rotated.status).toBe(200);
    expect((await me(b.url, bearer(rotated.body.access_token))).status).toBe(200);
    const reuse = await post(b.url, '/api/v2/auth/refresh', { refresh_token: s.refresh_token });
    expectError(reuse, 401, 'unauthorized');
    for (const srv of [a, b]) expectError(await me(srv.url, bearer(rotated.body.access_token)), 401, 'unauthorized');
  });
});

describe('one server in the default REGISTRATION=invite mode', () => {
  let server: TestServer;
  let base: string;
  beforeAll(async () => {
    server = await startTestServer('distributed', NO_RATE_LIMITS);
    base = server.url;
  });
  afterAll(async () => {
    await server?.close();
  });

  describe('registration by invitation', () => {
    it('without an invite code → 403 invite_required', async () => {
      const r = await post(base, '/api/v2/auth/register', newAccount());
      expectError(r, 403, 'forbidden');
      expect(r.body.error.details).toMatchObject({ reason: 'invite_required' });
    });

    it('with an unknown code → 403 invite_invalid', async () => {
      const r = await post(base, '/api/v2/auth/register', newAccount({ invite_code: 'no-such-code' }));
      expectError(r, 403, 'forbidden');
      expect(r.body.error.details).toMatchObject({ reason: 'invite_invalid' });
    });

    it('a code from POST /admin/invites works once and gives its role', async () => {
      const invite = await post(base, '/api/v2/admin/invites', { role: 'guest' }, server.owner.headers);
      expect(invite.status, JSON.stringify(invite.body)).toBe(201);
      const code = invite.body.code as string;
      const used = await post(base, '/api/v2/auth/register', newAccount({ invite_code: code }));
      expect(used.status, JSON.stringify(used.body)).toBe(201);
      expect(used.body.user.role).toBe('guest');
      const again = await post(base, '/api/v2/auth/register', newAccount({ invite_code: code }));
      expectError(again, 403, 'forbidden');
      const row = await server.services.database.db
        .selectFrom('user_invites')
        .selectAll()
        .where('code_hash', '=', sha256Hex(code))
        .executeTakeFirstOrThrow();
      expect(row.used_by).toBe(used.body.user.id);
    });

    it('an invite stored as its hash: expired → 403, valid → a user', async () => {
      const db = server.services.database.db;
      const expired = `h4-expired-${randomBytes(8).toString('hex')}`;
      const valid = `h4-valid-${randomBytes(8).toString('hex')}`;
      await db
        .insertInto('user_invites')
        .values([
          { code_hash: sha256Hex(expired), role: 'user', expires_at: new Date(Date.now() - 1000) },
          { code_hash: sha256Hex(valid), role: 'user', expires_at: new Date(Date.now() + 3_600_000) },
        ])
        .execute();
      expectError(await post(base, '/api/v2/auth/register', newAccount({ invite_code: expired })), 403, 'forbidden');
      const ok = await post(base, '/api/v2/auth/register', newAccount({ invite_code: valid }));
      expect(ok.status, JSON.stringify(ok.body)).toBe(201);
      expect(ok.body.user.role).toBe('user');
    });
  });

  describe('login', () => {
    it('by username and by email, case-insensitively', async () => {
      const u = await createTestUser(server.services, 'user');
      for (const name of [u.username, u.email, u.username.toUpperCase(), u.email.toUpperCase()]) {
        const r = await post(base, '/api/v2/auth/login', { login: name, password: u.password });
        expect(r.status, `${name}: ${JSON.stringify(r.body)}`).toBe(200);
        expect(r.body.user.id).toBe(u.id);
        expect((await me(base, bearer(r.body.access_token))).body.id).toBe(u.id);
      }
    });

    it('a wrong password and an unknown user get the very same 401', async () => {
      const u = await createTestUser(server.services, 'user');
      const wrong = await post(base, '/api/v2/auth/login', { login: u.username, password: `${u.password}x` });
      const unknown = await post(base, '/api/v2/auth/login', { login: `nobody_${u.username}`, password: u.password });
      expectError(wrong, 401, 'unauthorized');
      expect(unknown).toEqual(wrong);
    });
  });

  describe('refresh tokens', () => {
    it('rotate: the new pair works, the old refresh token is spent', async () => {
      const u = await createTestUser(server.services, 'user');
      const first = await login(base, u.username, u.password);
      const second = await post(base, '/api/v2/auth/refresh', { refresh_token: first.refresh_token });
      expect(second.status).toBe(200);
      expect(second.body.refresh_token).not.toBe(first.refresh_token);
      expect(second.body.session_id).toBe(first.session_id);
      expect((await me(base, bearer(second.body.access_token))).status).toBe(200);
      const third = await post(base, '/api/v2/auth/refresh', { refresh_token: second.body.refresh_token });
      expect(third.status).toBe(200);
      // The spent one is refused (and, being a reuse, takes the session down: next test).
      expectError(
        await post(base, '/api/v2/auth/refresh', { refresh_token: first.refresh_token }),
        401,
        'unauthorized',
      );
    });

    it('REUSE of a rotated token revokes the family: the newest access and refresh tokens stop at once', async () => {
      const u = await createTestUser(server.services, 'user');
      const first = await login(base, u.username, u.password);
      const other = await login(base, u.username, u.password); // another device: must survive
      const second = (await post(base, '/api/v2/auth/refresh', { refresh_token: first.refresh_token })).body;
      const newest = (await post(base, '/api/v2/auth/refresh', { refresh_token: second.refresh_token })).body;
      expect((await me(base, bearer(newest.access_token))).status).toBe(200);

      const reuse = await post(base, '/api/v2/auth/refresh', { refresh_token: second.refresh_token });
      expectError(reuse, 401, 'unauthorized');
      expect(reuse.body.error.details).toMatchObject({ reason: 'reuse' });
      expectError(await me(base, bearer(newest.access_token)), 401, 'unauthorized');
      expectError(
        await post(base, '/api/v2/auth/refresh', { refresh_token: newest.refresh_token }),
        401,
        'unauthorized',
      );
      expect((await me(base, bearer(other.access_token))).status).toBe(200);
    });
  });

  describe('API keys', () => {
    it('the secret is shown once, listed never, and stored only as a hash', async () => {
      const u = await createTestUser(server.services, 'user');
      const s = await sessionOf(base, u);
      const created = await post(base, '/api/v2/users/me/api-keys', { name: 'ci', scopes: ['read'] }, s.headers);
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      const secret = created.body.key as string;
      expect(secret).toMatch(/^ytbh_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
      expect(secret.startsWith(`ytbh_${created.body.prefix}_`)).toBe(true);

      const list = await call(base, '/api/v2/users/me/api-keys', { headers: s.headers });
      expect(list.status).toBe(200);
      expect(list.body.items.map((k: { id: string }) => k.id)).toContain(created.body.id);
      const listed = JSON.stringify(list.body);
      expect(listed).not.toContain(secret);
      expect(listed).not.toContain(secret.slice(-43));
      for (const k of list.body.items) expect(k).not.toHaveProperty('key');

      const row = await server.services.database.db
        .selectFrom('api_keys')
        .selectAll()
        .where('id', '=', created.body.id)
        .executeTakeFirstOrThrow();
      expect(row.key_hash).toBe(sha256Hex(secret));
      expect(JSON.stringify(row)).not.toContain(secret.slice(-43));

      const viaKey = await me(base, { 'x-api-key': secret });
      expect(viaKey.body).toMatchObject({ id: u.id, auth: { via: 'api_key', scopes: ['read'] } });
      expect((await me(base, bearer(secret))).status).toBe(200);
    });

    it('a revoked key is refused at once (401)', async () => {
      const u = await createTestUser(server.services, 'user');
      const s = await sessionOf(base, u);
      const created = await post(base, '/api/v2/users/me/api-keys', { name: 'soon gone', scopes: ['read'] }, s.headers);
      const key = { 'x-api-key': created.body.key as string };
      expect((await me(base, key)).status).toBe(200);
      const revoked = await call(base, `/api/v2/users/me/api-keys/${created.body.id}`, {
        method: 'DELETE',
        headers: s.headers,
      });
      expect(revoked.status).toBe(200);
      expect(revoked.body.revoked_at).toEqual(expect.any(String));
      const after = await me(base, key);
      expectError(after, 401, 'unauthorized');
      expect(after.body.error.details).toMatchObject({ reason: 'revoked' });
    });

    it('an expired key is refused (401)', async () => {
      const u = await createTestUser(server.services, 'user');
      const s = await sessionOf(base, u);
      const expiresAt = new Date(Date.now() + 2_000).toISOString();
      const created = await post(
        base,
        '/api/v2/users/me/api-keys',
        { name: 'short-lived', scopes: ['read'], expires_at: expiresAt },
        s.headers,
      );
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      const key = { 'x-api-key': created.body.key as string };
      expect((await me(base, key)).status).toBe(200);
      await new Promise((r) => setTimeout(r, Date.parse(expiresAt) - Date.now() + 100));
      const after = await me(base, key);
      expectError(after, 401, 'unauthorized');
      expect(after.body.error.details).toMatchObject({ reason: 'expired' });
    });

    it('a read-only key can read but cannot POST /downloads (403)', async () => {
      const u = await createTestUser(server.services, 'user');
      const s = await sessionOf(base, u);
      const created = await post(base, '/api/v2/users/me/api-keys', { name: 'reader', scopes: ['read'] }, s.headers);
      const key = { 'x-api-key': created.body.key as string };
      expect((await call(base, '/api/v2/downloads', { headers: key })).status).toBe(200);
      const dl = await post(base, '/api/v2/downloads', { url: YOUTUBE_URL }, key);
      expectError(dl, 403, 'forbidden');
      const tasks = await server.services.database.db
        .selectFrom('download_tasks')
        .select('id')
        .where('user_id', '=', u.id)
        .execute();
      expect(tasks).toEqual([]);
    });

    it('session-only routes refuse API keys, even one with every scope (403)', async () => {
      const u = await createTestUser(server.services, 'user');
      const viaKey = await post(
        base,
        '/api/v2/users/me/api-keys',
        { name: 'minted by a key', scopes: ['read'] },
        u.headers,
      );
      expectError(viaKey, 403, 'forbidden');
      expectError(await call(base, '/api/v2/users/me/api-keys', { headers: u.headers }), 403, 'forbidden');
      const s = await sessionOf(base, u);
      expect(
        (await post(base, '/api/v2/users/me/api-keys', { name: 'minted by a session', scopes: ['read'] }, s.headers))
          .status,
      ).toBe(201);
    });

    it('a key cannot carry a scope its owner’s role lacks (403)', async () => {
      const u = await createTestUser(server.services, 'user');
      const s = await sessionOf(base, u);
      const r = await post(
        base,
        '/api/v2/users/me/api-keys',
        { name: 'too much', scopes: ['read', 'admin'] },
        s.headers,
      );
      expectError(r, 403, 'forbidden');
    });
  });

  describe('roles and disabled accounts', () => {
    it('a guest cannot download, with a session or a key (403)', async () => {
      const g = await createTestUser(server.services, 'guest');
      const s = await sessionOf(base, g);
      for (const headers of [s.headers, g.headers]) {
        expectError(await post(base, '/api/v2/downloads', { url: YOUTUBE_URL }, headers), 403, 'forbidden');
        expect((await call(base, '/api/v2/downloads', { headers })).status).toBe(200);
      }
    });

    it('a user disabled by an admin is refused at once: sessions, keys and sign-in (401)', async () => {
      const u = await createTestUser(server.services, 'user');
      const s = await sessionOf(base, u);
      expect((await me(base, s.headers)).status).toBe(200);
      expect((await me(base, u.headers)).status).toBe(200);
      const patched = await call(base, `/api/v2/admin/users/${u.id}`, {
        method: 'PATCH',
        headers: { ...json, ...server.owner.headers },
        body: JSON.stringify({ is_active: false }),
      });
      expect(patched.status, JSON.stringify(patched.body)).toBe(200);
      expectError(await me(base, s.headers), 401, 'unauthorized');
      expectError(await me(base, u.headers), 401, 'unauthorized');
      expectError(await post(base, '/api/v2/auth/refresh', { refresh_token: s.refresh_token }), 401, 'unauthorized');
      const signIn = await post(base, '/api/v2/auth/login', { login: u.username, password: u.password });
      expectError(signIn, 401, 'unauthorized');
    });

    it('a user disabled directly in the database loses API-key access at once (401)', async () => {
      const u = await createTestUser(server.services, 'user');
      const key = fetchWith(u.headers);
      expect((await key(`${base}/api/v2/users/me`)).status).toBe(200);
      await server.services.database.db.updateTable('users').set({ is_active: false }).where('id', '=', u.id).execute();
      expect((await key(`${base}/api/v2/users/me`)).status).toBe(401);
    });
  });
});
