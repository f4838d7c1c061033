/**
 * Account pages in Chromium: download defaults that the home page then uses,
 * API keys (shown once, working, revoked), quota bars, password change, the
 * admin's user management, and silent token refresh.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../../scripts/chromium.js';
import { makeMedia, type MediaFile } from '../support/media.js';
import { startMediaServer, type MediaServer } from '../support/media-server.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { createTestUser, login } from '../support/auth.js';
import { ensureWebBuilt } from './support/build.js';
import { DESKTOP, nav, openPage, signIn, type TestPage } from './support/browser.js';

let mediaDir: string;
let clip: MediaFile;
let media: MediaServer;
let server: TestServer;
let browser: Browser;
let t: TestPage;

beforeAll(async () => {
  mediaDir = mkdtempSync(path.join(os.tmpdir(), 'ytbh-web-account-'));
  [clip] = await Promise.all([
    makeMedia(mediaDir, { durationS: 2, width: 320, height: 240, kind: 'muxed', container: 'mp4' }),
    ensureWebBuilt(),
  ]);
  media = await startMediaServer(mediaDir);
  server = await startTestServer('embedded', { ALLOW_PRIVATE_ADDRESSES: 'true' });
  browser = await launchChromium();
  t = await openPage(browser, server.url, DESKTOP);
  await t.page.goto('/login');
  await signIn(t.page, server.owner.username, server.owner.password);
}, 180_000);

afterAll(async () => {
  await browser?.close();
  // Let the downloads these tests started finish, so shutdown never races a conversion in flight.
  for (let i = 0; server && i < 120; i++) {
    const page = await api<{ items: { status: string }[] }>('/api/v2/downloads?limit=100');
    if (!page.items.some((t) => ['queued', 'extracting', 'downloading', 'processing'].includes(t.status))) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  await server?.close();
  await media?.stop();
  rmSync(mediaDir, { recursive: true, force: true });
}, 120_000);

const api = async <T>(p: string): Promise<T> => (await (await server.fetch(`${server.url}${p}`)).json()) as T;

describe('account pages (Chromium)', () => {
  it('saves download defaults, and the home page starts from them', async () => {
    const { page } = t;
    await nav(page, 'Settings').click();
    const defaults = page.locator('section', {
      has: page.getByRole('heading', { name: 'Download defaults and notifications' }),
    });
    await defaults.getByLabel('Quality').selectOption('720');
    await defaults.getByLabel('Video format').selectOption('webm');
    await defaults.getByLabel('Audio-only format').selectOption('mp3');
    await defaults.getByRole('button', { name: 'Save' }).click();
    await defaults.getByRole('status').getByText('Saved').waitFor();
    const prefs = await api<Record<string, unknown>>('/api/v2/users/me/preferences');
    expect(prefs).toMatchObject({ default_quality: '720', default_format: 'webm', default_audio_format: 'mp3' });

    await nav(page, 'Home').click();
    await page.getByLabel('Video or playlist link').fill(`${media.url}/${clip.name}`);
    await page.getByRole('button', { name: 'Look up' }).click();
    const card = page.locator('article.video-card');
    await card.waitFor({ timeout: 30_000 });
    await expect(card.getByLabel('Quality', { exact: true }).inputValue()).resolves.toBe('720');
    await expect(card.getByLabel('Format', { exact: true }).inputValue()).resolves.toBe('webm');
    await card.getByLabel('Audio only').check();
    await expect(card.getByLabel('Format', { exact: true }).inputValue()).resolves.toBe('mp3');
    // What gets sent is what is shown.
    const created = page.waitForResponse(
      (r) => r.url().endsWith('/api/v2/downloads') && r.request().method() === 'POST',
    );
    await card.getByRole('button', { name: 'Download', exact: true }).click();
    expect(await (await created).json()).toMatchObject({ quality: '720', format: 'mp3', audio_only: true });
  });

  it('shows quota usage as the API counts it', async () => {
    const { page } = t;
    const made = await server.fetch(`${server.url}/api/v2/downloads`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ url: `${media.url}/${clip.name}`, options: { format: 'mkv' } }),
    });
    expect([200, 202]).toContain(made.status);
    const quota = await api<{ daily: { used: number; limit: number } }>('/api/v2/users/me/quota');
    expect(quota.daily.used).toBeGreaterThanOrEqual(1);
    await nav(page, 'Settings').click();
    const meter = page.locator('[data-quota="daily"] meter');
    await meter.waitFor();
    await expect(meter.getAttribute('value')).resolves.toBe(String(quota.daily.used));
    await expect(meter.getAttribute('max')).resolves.toBe(String(Math.max(quota.daily.limit, 1)));
  });

  it('creates an API key shown once, which works until it is revoked', async () => {
    const { page } = t;
    await nav(page, 'Settings').click();
    const keys = page.locator('section', { has: page.getByRole('heading', { name: 'API keys' }) });
    await keys.getByLabel('Name').fill('my script');
    await keys.getByRole('button', { name: 'Create key' }).click();
    const secret = (await keys.getByTestId('new-api-key').textContent())!;
    expect(secret).toMatch(/^ytbh_/);
    const me = await fetch(`${server.url}/api/v2/users/me`, { headers: { 'x-api-key': secret } });
    expect(me.status).toBe(200);
    const listed = keys.locator('li.row', { hasText: 'my script' });
    await listed.waitFor();
    // Only its prefix stays on the page after a reload.
    await page.reload();
    await listed.waitFor();
    expect(await page.content()).not.toContain(secret);
    await listed.getByRole('button', { name: 'Revoke' }).click();
    await listed.waitFor({ state: 'detached' });
    const after = await fetch(`${server.url}/api/v2/users/me`, { headers: { 'x-api-key': secret } });
    expect(after.status).toBe(401);
  });

  it('changes the password', async () => {
    const user = await createTestUser(server.services, 'user');
    const other = await openPage(browser, server.url, DESKTOP);
    try {
      await other.page.goto('/login');
      await signIn(other.page, user.username, user.password);
      await nav(other.page, 'Settings').click();
      await other.page.getByLabel('Current password').fill('not my password');
      await other.page.getByLabel('New password').fill('a brand new secret');
      await other.page.getByRole('button', { name: 'Change password' }).click();
      await other.page.getByRole('alert').waitFor();
      await expect(login(server.url, user.username, 'a brand new secret')).rejects.toThrow(/401/);

      await other.page.getByLabel('Current password').fill(user.password);
      await other.page.getByRole('button', { name: 'Change password' }).click();
      await other.page.getByText('Password changed.').waitFor();
      await expect(login(server.url, user.username, 'a brand new secret')).resolves.toMatchObject({
        user: { username: user.username },
      });
      await expect(login(server.url, user.username, user.password)).rejects.toThrow(/401/);
    } finally {
      await other.context.close();
    }
  });

  it("lets the admin change a user's role, active state and quota", async () => {
    const { page } = t;
    const user = await createTestUser(server.services, 'user');
    await nav(page, 'Admin').click();
    await page.getByLabel('Find by username or email').fill(user.username);
    await page.getByRole('button', { name: 'Search' }).click();
    const row = page.locator(`li.user-row[data-user="${user.username}"]`);
    await row.waitFor();
    // The unfiltered list shows this user too: wait for the search's answer to replace it.
    await expect.poll(() => page.locator('li.user-row').count()).toBe(1);

    await row.getByLabel(`Role of ${user.username}`).selectOption('guest');
    await expect.poll(async () => (await api<{ role: string }>(`/api/v2/admin/users/${user.id}`)).role).toBe('guest');
    await row.getByLabel('Active').uncheck();
    await expect
      .poll(async () => (await api<{ is_active: boolean }>(`/api/v2/admin/users/${user.id}`)).is_active)
      .toBe(false);

    await row.getByRole('button', { name: 'Quota' }).click();
    await row.getByLabel('Downloads per day').fill('5');
    await row.getByRole('button', { name: 'Save limits' }).click();
    await expect
      .poll(
        async () =>
          (await api<{ quota_overrides: { daily_limit: number | null } }>(`/api/v2/admin/users/${user.id}`))
            .quota_overrides.daily_limit,
      )
      .toBe(5);

    // A refused change reads as the API's reason: the last active admin cannot demote themselves.
    await page.getByLabel('Find by username or email').fill(server.owner.username);
    await page.getByRole('button', { name: 'Search' }).click();
    const self = page.locator(`li.user-row[data-user="${server.owner.username}"]`);
    await self.getByLabel(`Role of ${server.owner.username}`).selectOption('user');
    await expect(self.getByRole('alert').textContent()).resolves.toMatch(/admin/i);
    expect((await api<{ role: string }>(`/api/v2/admin/users/${server.owner.id}`)).role).toBe('admin');

    // The audit log shows what just happened.
    await page.reload();
    await page.locator('table.audit tbody tr').first().waitFor();
    const audit = (await page.locator('table.audit').textContent())!;
    expect(audit).toContain('admin.user_updated');
    expect(audit).toContain('admin.quota_set');
  });

  it('refreshes an expired access token silently, rotating the refresh token', async () => {
    const { page } = t;
    const before = JSON.parse((await page.evaluate(() => localStorage.getItem('ytbh.session')))!) as Record<
      string,
      any
    >;
    // A token the server refuses (as after expiry), with the clock saying it is still good: the 401 path.
    await page.evaluate(() => {
      const s = JSON.parse(localStorage.getItem('ytbh.session')!);
      localStorage.setItem('ytbh.session', JSON.stringify({ ...s, access_token: 'not-a-valid-token' }));
    });
    const refreshed = page.waitForResponse((r) => r.url().endsWith('/api/v2/auth/refresh'));
    await page.goto('/queue');
    expect((await refreshed).status()).toBe(200);
    await page.getByRole('heading', { level: 1, name: 'Queue' }).waitFor();
    await page.locator('li.task').first().waitFor();
    const after = JSON.parse((await page.evaluate(() => localStorage.getItem('ytbh.session')))!) as Record<string, any>;
    expect(after.refresh_token).not.toBe(before.refresh_token);
    expect(after.access_token).not.toBe('not-a-valid-token');

    // Expired by the clock: refreshed before the request is even sent.
    await page.evaluate(() => {
      const s = JSON.parse(localStorage.getItem('ytbh.session')!);
      localStorage.setItem('ytbh.session', JSON.stringify({ ...s, expires_at: Date.now() - 1000 }));
    });
    const again = page.waitForResponse((r) => r.url().endsWith('/api/v2/auth/refresh'));
    await page.goto('/library');
    expect((await again).status()).toBe(200);
    await page.getByRole('heading', { level: 1, name: 'Library' }).waitFor();
    // The old refresh token is spent: using it again is refused (and would end the session).
    const reuse = await fetch(`${server.url}/api/v2/auth/refresh`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ refresh_token: before.refresh_token }),
    });
    expect(reuse.status).toBe(401);
  });
});
