import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/server.js';
import { createTestUser, login, type TestUser } from '../support/auth.js';
import { ROUTE_POLICY } from '../../src/accounts/policy.js';
import { call, session, type Body } from './helpers.js';

const ADMIN_ROUTES = Object.entries(ROUTE_POLICY)
  .filter(([, p]) => p.rule === 'admin')
  .map(([k]) => k.split(' ') as [string, string])
  .filter(([, url]) => url.startsWith('/api/v2/admin/'));

describe('admin API (embedded, REGISTRATION=invite)', () => {
  let server: TestServer;
  let admin: string;
  beforeAll(async () => {
    server = await startTestServer('embedded', { REGISTRATION: 'invite' });
    admin = `${server.url}/api/v2/admin`;
  }, 180_000);
  afterAll(async () => {
    await server?.close();
  });

  const audits = async (query: string) => {
    const r = await call(server.fetch, `${admin}/audit?${query}`);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body.items as Body[];
  };

  it('refuses every admin route to users (403, audited) and to anonymous callers (401)', async () => {
    expect(ADMIN_ROUTES.length).toBeGreaterThanOrEqual(13);
    const user = await createTestUser(server.services, 'user');
    const s = await session(server.url, user.username, user.password);
    const id = '00000000-0000-4000-8000-000000000000';
    for (const [method, template] of ADMIN_ROUTES) {
      const url = `${server.url}${template.replace(':id', id).replace(':role', 'user')}`;
      const body = ['POST', 'PUT', 'PATCH'].includes(method) ? {} : undefined;
      for (const f of [user.fetch, s.fetch]) {
        const r = await call(f, url, method, body);
        expect(r.status, `${method} ${template}`).toBe(403);
        expect(r.body.error.code).toBe('forbidden');
      }
      expect((await call(fetch, url, method, body)).status, `${method} ${template}`).toBe(401);
    }
    const denied = await audits(`action=authz.denied&actor_id=${user.id}&limit=100`);
    expect(denied.length).toBe(ADMIN_ROUTES.length * 2);
    expect(denied.map((d) => d.target_id)).toContain('GET /api/v2/admin/users');
  });

  it('creates accounts with a role; they can sign in even though registration needs an invite', async () => {
    const r = await call(server.fetch, `${admin}/users`, 'POST', {
      username: 'made_by_admin',
      email: 'Made@Example.test',
      password: 'long enough pw',
      role: 'guest',
      display_name: 'Made',
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body).toMatchObject({ username: 'made_by_admin', email: 'made@example.test', role: 'guest' });
    expect(r.headers.get('location')).toBe(`/api/v2/admin/users/${r.body.id}`);
    await expect(login(server.url, 'made_by_admin', 'long enough pw')).resolves.toMatchObject({
      user: { role: 'guest' },
    });

    const dup = await call(server.fetch, `${admin}/users`, 'POST', {
      username: 'MADE_BY_ADMIN',
      email: 'other@example.test',
      password: 'long enough pw',
    });
    expect(dup.status).toBe(409);
    for (const body of [
      { username: 'x', email: 'a@b.c', password: 'long enough pw' },
      { username: 'okname', email: 'nope', password: 'long enough pw' },
      { username: 'okname', email: 'a@b.c', password: 'short' },
      { username: 'okname', email: 'a@b.c', password: 'long enough pw', role: 'root' },
      { username: 'okname', email: 'a@b.c', password: 'long enough pw', is_active: false },
    ]) {
      const bad = await call(server.fetch, `${admin}/users`, 'POST', body);
      expect(bad.status, JSON.stringify(body)).toBe(400);
    }
    const created = await audits(`action=admin.user_created&target_id=${r.body.id}`);
    expect(created).toHaveLength(1);
    expect(created[0]).toMatchObject({
      actor_id: server.owner.id,
      actor_username: server.owner.username,
      target_type: 'user',
      details: { after: { username: 'made_by_admin', role: 'guest', is_active: true } },
    });
    expect(created[0]!.ip).toBeTruthy();
  });

  it('searches users by username or email with LIKE wildcards taken literally, filters and pages', async () => {
    const tag = `t${Date.now().toString(36)}`;
    for (const name of [`${tag}_a_1`, `${tag}_ab1`, `${tag}_a%1`]) {
      const r = await call(server.fetch, `${admin}/users`, 'POST', {
        username: name.replace('%', 'p'),
        email: `${name}@example.test`,
        password: 'long enough pw',
      });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
    }
    const search = async (q: string, extra = '') =>
      ((await call(server.fetch, `${admin}/users?q=${encodeURIComponent(q)}${extra}`)).body.items as Body[]).map(
        (u) => u.username,
      );
    // `_` would match any character in LIKE: here it matches only itself.
    expect(await search(`${tag}_a_1`)).toEqual([`${tag}_a_1`]);
    // `%` only matches the email that has one.
    expect(await search('a%1@')).toEqual([`${tag}_ap1`]);
    expect((await search(tag)).sort()).toEqual([`${tag}_a_1`, `${tag}_ab1`, `${tag}_ap1`].sort());
    expect(await search(`${tag.toUpperCase()}_AB1`)).toEqual([`${tag}_ab1`]);
    expect(await search('%')).toEqual(await search('a%1@'));

    const admins = (await call(server.fetch, `${admin}/users?role=admin`)).body.items as Body[];
    expect(admins.every((u) => u.role === 'admin')).toBe(true);
    expect(admins.map((u) => u.id)).toContain(server.owner.id);

    // Pages of one, newest first, until the cursor runs out.
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: Body = (
        await call(
          server.fetch,
          `${admin}/users?q=${tag}&limit=1${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
        )
      ).body;
      expect(page.items.length).toBeLessThanOrEqual(1);
      seen.push(...page.items.map((u: Body) => u.username));
      cursor = page.next_cursor;
    } while (cursor);
    expect(seen).toEqual([`${tag}_ap1`, `${tag}_ab1`, `${tag}_a_1`]);

    for (const q of [
      'limit=0',
      'limit=101',
      'role=root',
      'cursor=garbage',
      'active=maybe',
      'extra=1',
      `q=${'x'.repeat(255)}`,
    ]) {
      const r = await call(server.fetch, `${admin}/users?${q}`);
      expect(r.status, q).toBe(400);
    }
  });

  it('shows one user with quota and usage; 404 and 400 for unknown and malformed ids', async () => {
    const u = await createTestUser(server.services, 'user');
    const r = await call(server.fetch, `${admin}/users/${u.id}`);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      id: u.id,
      username: u.username,
      role: 'user',
      is_active: true,
      password_changed_at: null,
      quota: { role: 'user', daily: { used: 0, source: 'role' }, storage: { used: 0 }, active_tasks: 0 },
      quota_overrides: { daily_limit: null, monthly_limit: null, storage_limit_bytes: null, concurrent_limit: null },
    });
    expect(r.body.password_hash).toBeUndefined();
    expect((await call(server.fetch, `${admin}/users/00000000-0000-4000-8000-000000000000`)).status).toBe(404);
    expect((await call(server.fetch, `${admin}/users/not-a-uuid`)).status).toBe(400);
  });

  it('sets and clears per-user limits, validated and audited', async () => {
    const u = await createTestUser(server.services, 'user');
    const url = `${admin}/users/${u.id}/quota`;
    const set = await call(server.fetch, url, 'PUT', { daily_limit: 7, storage_limit_bytes: 5_000_000_000 });
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    expect(set.body.quota_overrides).toEqual({
      daily_limit: 7,
      monthly_limit: null,
      storage_limit_bytes: 5_000_000_000,
      concurrent_limit: null,
    });
    expect(set.body.quota.daily).toMatchObject({ limit: 7, source: 'user' });
    expect(set.body.quota.storage).toMatchObject({ limit: 5_000_000_000, source: 'user' });
    expect((await call(u.fetch, `${server.url}/api/v2/users/me/quota`)).body.daily).toMatchObject({
      limit: 7,
      source: 'user',
    });

    const back = await call(server.fetch, url, 'PUT', { daily_limit: null });
    expect(back.body.quota.daily.source).toBe('role');
    expect(back.body.quota_overrides.storage_limit_bytes).toBe(5_000_000_000);

    for (const body of [{}, { daily_limit: -1 }, { daily_limit: 1.5 }, { daily_limit: '5' }, { weekly_limit: 3 }]) {
      const r = await call(server.fetch, url, 'PUT', body);
      expect(r.status, JSON.stringify(body)).toBe(400);
    }
    const missing = await call(server.fetch, `${admin}/users/00000000-0000-4000-8000-000000000000/quota`, 'PUT', {
      daily_limit: 1,
    });
    expect(missing.status).toBe(404);

    const logged = await audits(`action=admin.quota_set&target_id=${u.id}`);
    expect(logged.map((e) => e.details)).toEqual([
      {
        before: { daily_limit: 7, monthly_limit: null, storage_limit_bytes: 5_000_000_000, concurrent_limit: null },
        after: { daily_limit: null, monthly_limit: null, storage_limit_bytes: 5_000_000_000, concurrent_limit: null },
      },
      {
        before: { daily_limit: null, monthly_limit: null, storage_limit_bytes: null, concurrent_limit: null },
        after: { daily_limit: 7, monthly_limit: null, storage_limit_bytes: 5_000_000_000, concurrent_limit: null },
      },
    ]);
  });

  it('changes role defaults; users without their own limit follow them', async () => {
    const list = await call(server.fetch, `${admin}/quota-defaults`);
    expect(list.status).toBe(200);
    expect(list.body.items.map((r: Body) => r.role)).toEqual(['admin', 'user', 'guest']);
    const before = list.body.items.find((r: Body) => r.role === 'guest');

    const u = await createTestUser(server.services, 'guest');
    const put = await call(server.fetch, `${admin}/quota-defaults/guest`, 'PUT', {
      daily_limit: 3,
      concurrent_limit: 1,
    });
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    expect(put.body).toMatchObject({
      role: 'guest',
      daily_limit: 3,
      concurrent_limit: 1,
      monthly_limit: before.monthly_limit,
    });
    expect((await call(u.fetch, `${server.url}/api/v2/users/me/quota`)).body.daily).toMatchObject({
      limit: 3,
      source: 'role',
    });

    expect((await call(server.fetch, `${admin}/quota-defaults/root`, 'PUT', { daily_limit: 1 })).status).toBe(400);
    expect((await call(server.fetch, `${admin}/quota-defaults/guest`, 'PUT', { daily_limit: null })).status).toBe(400);
    expect((await call(server.fetch, `${admin}/quota-defaults/guest`, 'PUT', {})).status).toBe(400);

    const logged = await audits('action=admin.quota_defaults_set&target_id=guest');
    expect(logged[0]).toMatchObject({
      actor_id: server.owner.id,
      target_type: 'role',
      details: {
        before: { daily_limit: before.daily_limit, concurrent_limit: before.concurrent_limit },
        after: { daily_limit: 3, concurrent_limit: 1 },
      },
    });
    await call(server.fetch, `${admin}/quota-defaults/guest`, 'PUT', {
      daily_limit: before.daily_limit,
      concurrent_limit: before.concurrent_limit,
    });
  });

  it('promotes at once, disables with sign-out, and never removes the last active admin', async () => {
    const u = await createTestUser(server.services, 'user');
    const s = await session(server.url, u.username, u.password);
    expect((await call(s.fetch, `${admin}/users`)).status).toBe(403);

    const promoted = await call(server.fetch, `${admin}/users/${u.id}`, 'PATCH', {
      role: 'admin',
      display_name: 'Boss',
    });
    expect(promoted.status, JSON.stringify(promoted.body)).toBe(200);
    expect(promoted.body).toMatchObject({ role: 'admin', display_name: 'Boss' });
    // The same session now has the new role (no new sign-in).
    expect((await call(s.fetch, `${admin}/users`)).status).toBe(200);
    expect((await call(s.fetch, `${server.url}/api/v2/users/me`)).body.role).toBe('admin');

    const demoted = await call(server.fetch, `${admin}/users/${u.id}`, 'PATCH', { role: 'user' });
    expect(demoted.status).toBe(200);
    expect((await call(s.fetch, `${admin}/users`)).status).toBe(403);

    const disabled = await call(server.fetch, `${admin}/users/${u.id}`, 'PATCH', { is_active: false });
    expect(disabled.status).toBe(200);
    expect(disabled.body.is_active).toBe(false);
    expect((await call(s.fetch, `${server.url}/api/v2/users/me`)).status).toBe(401);
    expect((await call(u.fetch, `${server.url}/api/v2/users/me`)).status).toBe(401);
    await expect(login(server.url, u.username, u.password)).rejects.toThrow(/401/);
    const enabled = await call(server.fetch, `${admin}/users/${u.id}`, 'PATCH', { is_active: true });
    expect(enabled.body.is_active).toBe(true);
    expect((await call(u.fetch, `${server.url}/api/v2/users/me`)).status).toBe(200);

    const logged = await audits(`action=admin.user_updated&target_id=${u.id}&limit=10`);
    expect(logged.map((e) => [e.details.before.role, e.details.after.role, e.details.after.is_active])).toEqual([
      ['user', 'user', true],
      ['user', 'user', false],
      ['admin', 'user', true],
      ['user', 'admin', true],
    ]);

    for (const body of [{}, { role: 'root' }, { is_active: 'no' }, { password: 'x' }]) {
      const r = await call(server.fetch, `${admin}/users/${u.id}`, 'PATCH', body);
      expect(r.status, JSON.stringify(body)).toBe(400);
    }
  });

  it('refuses (409) to demote or disable the last active admin, also when two admins race', async () => {
    // Every other admin is demoted first, so the owner is the only one.
    const others = (
      (await call(server.fetch, `${admin}/users?role=admin&active=true&limit=100`)).body.items as Body[]
    ).filter((a) => a.id !== server.owner.id);
    for (const o of others) {
      expect((await call(server.fetch, `${admin}/users/${o.id}`, 'PATCH', { role: 'user' })).status).toBe(200);
    }
    const ownerUrl = `${admin}/users/${server.owner.id}`;
    for (const body of [{ role: 'user' }, { is_active: false }, { role: 'guest', is_active: false }]) {
      const r = await call(server.fetch, ownerUrl, 'PATCH', body);
      expect(r.status, JSON.stringify(body)).toBe(409);
      expect(r.body.error.message).toMatch(/last active admin/);
    }
    expect((await call(server.fetch, ownerUrl, 'PATCH', { display_name: 'Still here' })).status).toBe(200);

    // Two admins, each demoting the other at once: one must stay.
    const second = await createTestUser(server.services, 'admin');
    const [a, b] = await Promise.all([
      call(server.fetch, `${admin}/users/${second.id}`, 'PATCH', { role: 'user' }),
      call(second.fetch, ownerUrl, 'PATCH', { role: 'user' }),
    ]);
    // The loser finds itself the last admin (409), or already demoted when its request is checked (403).
    const statuses = [a.status, b.status].sort();
    expect(statuses[0]).toBe(200);
    expect([403, 409]).toContain(statuses[1]);
    const left = (await server.services.database.db
      .selectFrom('users')
      .select('id')
      .where('role', '=', 'admin')
      .where('is_active', '=', true)
      .execute()) as { id: string }[];
    expect(left).toHaveLength(1);
    // Put the owner back in charge for the other tests.
    if (left[0]!.id !== server.owner.id) {
      await call(second.fetch, ownerUrl, 'PATCH', { role: 'admin' });
    }
  });

  it('signs a user out everywhere, lists and revokes their API keys', async () => {
    const u = await createTestUser(server.services, 'user');
    const s1 = await session(server.url, u.username, u.password);
    const s2 = await session(server.url, u.username, u.password);
    const out = await call(server.fetch, `${admin}/users/${u.id}/sessions`, 'DELETE');
    expect(out.status).toBe(200);
    expect(out.body).toEqual({ revoked: 2 });
    for (const s of [s1, s2]) expect((await call(s.fetch, `${server.url}/api/v2/users/me`)).status).toBe(401);
    expect((await call(u.fetch, `${server.url}/api/v2/users/me`)).status).toBe(200);

    const keys = await call(server.fetch, `${admin}/users/${u.id}/api-keys`);
    expect(keys.status).toBe(200);
    expect(keys.body.items).toHaveLength(1);
    expect(JSON.stringify(keys.body)).not.toContain(u.apiKey);
    const keyId = keys.body.items[0].id;
    const revoked = await call(server.fetch, `${admin}/api-keys/${keyId}`, 'DELETE');
    expect(revoked.status).toBe(200);
    expect(revoked.body).toMatchObject({ id: keyId, user_id: u.id, revoked_at: expect.any(String) });
    const refused = await call(u.fetch, `${server.url}/api/v2/users/me`);
    expect(refused.status).toBe(401);
    expect((await call(server.fetch, `${admin}/api-keys/00000000-0000-4000-8000-000000000000`, 'DELETE')).status).toBe(
      404,
    );
    expect(
      (await call(server.fetch, `${admin}/users/00000000-0000-4000-8000-000000000000/sessions`, 'DELETE')).status,
    ).toBe(404);

    expect((await audits(`action=admin.sessions_revoked&target_id=${u.id}`))[0]!.details).toEqual({ revoked: 2 });
    expect((await audits(`action=admin.api_key_revoked&target_id=${keyId}`))[0]!.details).toMatchObject({
      user_id: u.id,
    });
  });

  it('mints single-use invitation codes, stored hashed, that registration accepts once', async () => {
    const reg = (body: Body) => call(fetch, `${server.url}/api/v2/auth/register`, 'POST', body);
    const noCode = await reg({ username: 'invitee', email: 'invitee@example.test', password: 'long enough pw' });
    expect(noCode.status).toBe(403);

    const inv = await call(server.fetch, `${admin}/invites`, 'POST', { role: 'guest', expires_in_hours: 2 });
    expect(inv.status, JSON.stringify(inv.body)).toBe(201);
    expect(inv.body).toMatchObject({ role: 'guest', status: 'active', created_by: server.owner.id, used_at: null });
    const expires = new Date(inv.body.expires_at).getTime();
    expect(Math.abs(expires - (Date.now() + 2 * 3600_000))).toBeLessThan(60_000);
    const code = inv.body.code as string;
    expect(code.length).toBeGreaterThanOrEqual(24);

    const stored = await server.services.database.db
      .selectFrom('user_invites')
      .selectAll()
      .where('id', '=', inv.body.id)
      .executeTakeFirstOrThrow();
    expect(stored.code_hash).not.toContain(code);
    expect(stored.code_hash).toMatch(/^[0-9a-f]{64}$/);

    const ok = await reg({
      username: 'invitee',
      email: 'invitee@example.test',
      password: 'long enough pw',
      invite_code: code,
    });
    expect(ok.status, JSON.stringify(ok.body)).toBe(201);
    expect(ok.body.user.role).toBe('guest');
    const again = await reg({
      username: 'invitee2',
      email: 'invitee2@example.test',
      password: 'long enough pw',
      invite_code: code,
    });
    expect(again.status).toBe(403);

    const never = await call(server.fetch, `${admin}/invites`, 'POST', { expires_in_hours: null });
    expect(never.body).toMatchObject({ role: 'user', expires_at: null, status: 'active' });
    const dflt = await call(server.fetch, `${admin}/invites`, 'POST', {});
    expect(Math.abs(new Date(dflt.body.expires_at).getTime() - (Date.now() + 7 * 24 * 3600_000))).toBeLessThan(60_000);
    for (const body of [{ role: 'root' }, { expires_in_hours: 0 }, { expires_in_hours: 9000 }, { code: 'mine' }]) {
      expect((await call(server.fetch, `${admin}/invites`, 'POST', body)).status, JSON.stringify(body)).toBe(400);
    }

    const list = await call(server.fetch, `${admin}/invites?limit=100`);
    expect(list.status).toBe(200);
    const used = list.body.items.find((i: Body) => i.id === inv.body.id);
    expect(used).toMatchObject({ status: 'used', used_by: ok.body.user.id });
    expect(JSON.stringify(list.body)).not.toContain(code);
    expect(list.body.items[0].id).toBe(dflt.body.id);

    const logged = await audits(`action=invite.created&target_id=${inv.body.id}`);
    expect(logged[0]!.details).toEqual({ after: { role: 'guest', expires_at: inv.body.expires_at } });
    expect(JSON.stringify(logged)).not.toContain(code);
  });

  it('reads the audit log newest first with filters and cursor pagination', async () => {
    const u = await createTestUser(server.services, 'user');
    const start = new Date(Date.now() - 1000).toISOString();
    for (const name of ['one', 'two', 'three']) {
      expect((await call(server.fetch, `${admin}/users/${u.id}`, 'PATCH', { display_name: name })).status).toBe(200);
    }
    const all = await audits(`target_id=${u.id}`);
    expect(all.map((e) => e.details.after.display_name)).toEqual(['three', 'two', 'one']);
    expect(all.every((e) => e.action === 'admin.user_updated' && e.actor_id === server.owner.id)).toBe(true);
    const ids = all.map((e) => Number(e.id));
    expect([...ids].sort((a, b) => b - a)).toEqual(ids);

    const pages: string[] = [];
    let cursor: string | null = null;
    do {
      const r: Body = (
        await call(server.fetch, `${admin}/audit?target_id=${u.id}&limit=2${cursor ? `&cursor=${cursor}` : ''}`)
      ).body;
      pages.push(...r.items.map((e: Body) => e.details.after.display_name));
      cursor = r.next_cursor;
    } while (cursor);
    expect(pages).toEqual(['three', 'two', 'one']);

    expect(await audits(`target_id=${u.id}&since=${encodeURIComponent(start)}`)).toHaveLength(3);
    expect(await audits(`target_id=${u.id}&until=${encodeURIComponent(start)}`)).toHaveLength(0);
    expect(await audits(`target_id=${u.id}&action=admin.quota_set`)).toHaveLength(0);
    expect((await audits(`actor_id=${server.owner.id}&limit=100`)).every((e) => e.actor_id === server.owner.id)).toBe(
      true,
    );
    for (const q of ['since=yesterday', 'actor_id=nope', 'cursor=abc', 'limit=500', 'foo=bar']) {
      expect((await call(server.fetch, `${admin}/audit?${q}`)).status, q).toBe(400);
    }
  });
});

describe('admin API across api processes (distributed)', () => {
  let one: TestServer;
  let two: TestServer;
  beforeAll(async () => {
    one = await startTestServer('distributed', { ROLE: 'api' });
    two = await startTestServer('distributed', { ROLE: 'api' }, { share: { from: one } });
  }, 180_000);
  afterAll(async () => {
    await one?.close();
  });

  it('a role change or a disable on one process applies at once on the other', async () => {
    const u: TestUser = await createTestUser(one.services, 'user');
    const s = await session(two.url, u.username, u.password);
    expect((await call(s.fetch, `${two.url}/api/v2/admin/users`)).status).toBe(403);
    expect((await call(one.fetch, `${one.url}/api/v2/admin/users/${u.id}`, 'PATCH', { role: 'admin' })).status).toBe(
      200,
    );
    expect((await call(s.fetch, `${two.url}/api/v2/admin/users`)).status).toBe(200);
    expect((await call(one.fetch, `${one.url}/api/v2/admin/users/${u.id}`, 'PATCH', { is_active: false })).status).toBe(
      200,
    );
    expect((await call(s.fetch, `${two.url}/api/v2/users/me`)).status).toBe(401);
    const logged = await call(two.fetch, `${two.url}/api/v2/admin/audit?target_id=${u.id}&action=admin.user_updated`);
    expect(logged.body.items.map((e: Body) => e.action)).toEqual(['admin.user_updated', 'admin.user_updated']);
  });

  it('two admins demoting each other through different processes leave one admin', async () => {
    for (let round = 0; round < 3; round++) {
      const a = await createTestUser(one.services, 'admin');
      const b = await createTestUser(one.services, 'admin');
      // Only these two are active admins.
      await one.services.database.db
        .updateTable('users')
        .set({ role: 'user' })
        .where('role', '=', 'admin')
        .where('id', 'not in', [a.id, b.id])
        .execute();
      const [x, y] = await Promise.all([
        call(a.fetch, `${one.url}/api/v2/admin/users/${b.id}`, 'PATCH', { role: 'user' }),
        call(b.fetch, `${two.url}/api/v2/admin/users/${a.id}`, 'PATCH', { is_active: false }),
      ]);
      const statuses = [x.status, y.status].sort();
      expect(statuses[0]).toBe(200);
      expect([403, 409]).toContain(statuses[1]);
      const admins = await one.services.database.db
        .selectFrom('users')
        .select('id')
        .where('role', '=', 'admin')
        .where('is_active', '=', true)
        .execute();
      expect(admins).toHaveLength(1);
    }
  });
});
