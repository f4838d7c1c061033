import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/server.js';
import { createTestUser, login, type TestUser } from '../support/auth.js';
import { call, session } from './helpers.js';

const nextUtcMidnight = () => {
  const n = new Date();
  return new Date(Date.UTC(n.getUTCFullYear(), n.getUTCMonth(), n.getUTCDate() + 1)).toISOString();
};
const nextUtcMonth = () => {
  const n = new Date();
  return new Date(Date.UTC(n.getUTCFullYear(), n.getUTCMonth() + 1, 1)).toISOString();
};

describe('self-service account (embedded)', () => {
  let server: TestServer;
  let user: TestUser;
  let me: string;
  beforeAll(async () => {
    server = await startTestServer('embedded');
    user = await createTestUser(server.services, 'user');
    me = `${server.url}/api/v2/users/me`;
  }, 180_000);
  afterAll(async () => {
    await server?.close();
  });

  it('changes the display name with a session, never with an API key', async () => {
    const s = await session(server.url, user.username, user.password);
    const ok = await call(s.fetch, me, 'PATCH', { display_name: 'Ada Lovelace' });
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(ok.body).toMatchObject({ id: user.id, display_name: 'Ada Lovelace', email: user.email });
    expect((await call(s.fetch, me)).body.display_name).toBe('Ada Lovelace');

    const cleared = await call(s.fetch, me, 'PATCH', { display_name: null });
    expect(cleared.body.display_name).toBeNull();

    const byKey = await call(user.fetch, me, 'PATCH', { display_name: 'Mallory' });
    expect(byKey.status).toBe(403);
    expect(byKey.body.error.code).toBe('forbidden');
  });

  it('validates the profile change', async () => {
    const s = await session(server.url, user.username, user.password);
    for (const body of [
      {},
      { display_name: '' },
      { display_name: 'x'.repeat(101) },
      { username: 'renamed' },
      { email: 'not-an-email', current_password: user.password },
      { display_name: 42 },
    ]) {
      const r = await call(s.fetch, me, 'PATCH', body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error.code).toBe('validation_failed');
    }
  });

  it('changes the email only with the right current password', async () => {
    const u = await createTestUser(server.services, 'user');
    const other = await createTestUser(server.services, 'user');
    const s = await session(server.url, u.username, u.password);
    const missing = await call(s.fetch, me, 'PATCH', { email: 'new@example.test' });
    expect(missing.status).toBe(400);
    expect(missing.body.error.message).toMatch(/current_password/);

    const wrong = await call(s.fetch, me, 'PATCH', { email: 'new@example.test', current_password: 'not it at all' });
    expect(wrong.status).toBe(403);
    expect(wrong.body.error.message).toMatch(/current password is wrong/i);
    expect((await call(s.fetch, me)).body.email).toBe(u.email);

    const taken = await call(s.fetch, me, 'PATCH', { email: other.email.toUpperCase(), current_password: u.password });
    expect(taken.status).toBe(409);

    const fresh = `Fresh.${u.username}@Example.test`;
    const ok = await call(s.fetch, me, 'PATCH', { email: fresh, current_password: u.password });
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(ok.body.email).toBe(fresh.toLowerCase());
    // The new email signs in.
    await expect(login(server.url, fresh, u.password)).resolves.toMatchObject({ user: { id: u.id } });

    const row = await server.services.database.db
      .selectFrom('audit_log')
      .selectAll()
      .where('action', '=', 'account.updated')
      .where('target_id', '=', u.id)
      .executeTakeFirstOrThrow();
    expect(row.details).toMatchObject({ before: { email: u.email }, after: { email: fresh.toLowerCase() } });
  });

  it('changes the password: 204, other sessions end, this one goes on, the old password stops working', async () => {
    const u = await createTestUser(server.services, 'user');
    const a = await session(server.url, u.username, u.password);
    const b = await session(server.url, u.username, u.password);
    const url = `${me}/password`;

    const wrong = await call(a.fetch, url, 'POST', {
      current_password: 'wrong password',
      new_password: 'new pass 12345',
    });
    expect(wrong.status).toBe(403);
    expect(wrong.body.error.message).toMatch(/current password is wrong/i);
    const short = await call(a.fetch, url, 'POST', { current_password: u.password, new_password: 'short' });
    expect(short.status).toBe(400);
    const extra = await call(a.fetch, url, 'POST', {
      current_password: u.password,
      new_password: 'new pass 12345',
      logout_all: true,
    });
    expect(extra.status).toBe(400);
    const byKey = await call(u.fetch, url, 'POST', { current_password: u.password, new_password: 'new pass 12345' });
    expect(byKey.status).toBe(403);

    const before = Date.now();
    const ok = await call(a.fetch, url, 'POST', { current_password: u.password, new_password: 'new pass 12345' });
    expect(ok.status, JSON.stringify(ok.body)).toBe(204);

    expect((await call(a.fetch, me)).status).toBe(200);
    expect((await call(b.fetch, me)).status).toBe(401);
    const refreshB = await call(fetch, `${server.url}/api/v2/auth/refresh`, 'POST', { refresh_token: b.refresh_token });
    expect(refreshB.status).toBe(401);
    const refreshA = await call(fetch, `${server.url}/api/v2/auth/refresh`, 'POST', { refresh_token: a.refresh_token });
    expect(refreshA.status).toBe(200);

    await expect(login(server.url, u.username, u.password)).rejects.toThrow(/401/);
    await expect(login(server.url, u.username, 'new pass 12345')).resolves.toMatchObject({ user: { id: u.id } });

    const db = server.services.database.db;
    const row = await db
      .selectFrom('users')
      .select('password_changed_at')
      .where('id', '=', u.id)
      .executeTakeFirstOrThrow();
    expect(row.password_changed_at!.getTime()).toBeGreaterThanOrEqual(before - 1000);
    const logged = await db
      .selectFrom('audit_log')
      .selectAll()
      .where('action', '=', 'auth.password_changed')
      .where('actor_id', '=', u.id)
      .execute();
    expect(logged).toHaveLength(1);
    expect(logged[0]!.details).toMatchObject({ other_sessions_revoked: 1 });
  });

  it("shows the quota: the role's defaults, usage and UTC reset times", async () => {
    const u = await createTestUser(server.services, 'user');
    const q = await call(u.fetch, `${me}/quota`);
    expect(q.status, JSON.stringify(q.body)).toBe(200);
    const defaults = await server.services.database.db
      .selectFrom('role_quota_defaults')
      .selectAll()
      .where('role', '=', 'user')
      .executeTakeFirstOrThrow();
    expect(q.body).toEqual({
      role: 'user',
      daily: {
        limit: defaults.daily_limit,
        used: 0,
        remaining: defaults.daily_limit,
        source: 'role',
        resets_at: expect.any(String),
      },
      monthly: {
        limit: defaults.monthly_limit,
        used: 0,
        remaining: defaults.monthly_limit,
        source: 'role',
        resets_at: expect.any(String),
      },
      storage: {
        limit: defaults.storage_limit_bytes,
        used: 0,
        remaining: defaults.storage_limit_bytes,
        source: 'role',
        resets_at: null,
      },
      concurrent: {
        limit: defaults.concurrent_limit,
        used: 0,
        remaining: defaults.concurrent_limit,
        source: 'role',
        resets_at: null,
      },
      active_tasks: 0,
    });
    expect(q.body.daily.resets_at).toBe(nextUtcMidnight());
    expect(q.body.monthly.resets_at).toBe(nextUtcMonth());

    const guest = await createTestUser(server.services, 'guest');
    const gq = await call(guest.fetch, `${me}/quota`);
    expect(gq.status).toBe(200);
    expect(gq.body).toMatchObject({ role: 'guest', daily: { limit: 0, remaining: 0 }, storage: { limit: 0 } });
  });
});

describe('password change across api processes (distributed)', () => {
  let one: TestServer;
  let two: TestServer;
  beforeAll(async () => {
    one = await startTestServer('distributed', { ROLE: 'api' });
    two = await startTestServer('distributed', { ROLE: 'api' }, { share: { from: one } });
  }, 180_000);
  afterAll(async () => {
    await one?.close();
  });

  it('ends the other sessions on every process at once', async () => {
    const u = await createTestUser(one.services, 'user');
    const a = await session(one.url, u.username, u.password);
    const b = await session(two.url, u.username, u.password);
    // Both processes have the sessions cached as alive.
    expect((await call(b.fetch, `${two.url}/api/v2/users/me`)).status).toBe(200);
    expect((await call(a.fetch, `${two.url}/api/v2/users/me`)).status).toBe(200);

    const ok = await call(a.fetch, `${one.url}/api/v2/users/me/password`, 'POST', {
      current_password: u.password,
      new_password: 'another pass 987',
    });
    expect(ok.status).toBe(204);
    expect((await call(b.fetch, `${two.url}/api/v2/users/me`)).status).toBe(401);
    expect((await call(a.fetch, `${two.url}/api/v2/users/me`)).status).toBe(200);
  });
});
