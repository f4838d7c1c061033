/**
 * The dashboard end to end in Debian's Chromium: first run, sign-in, paste a
 * link, download with live progress, play it back from the library, cancel
 * and retry, readable errors, per-user libraries, deleting from the library,
 * the admin's system status, removing finished downloads from the queue and
 * deletions reaching another open tab, and the installable PWA with its share target. One server (embedded, no accounts at start) and one
 * browser for the file; the tests run in order and build on each other.
 */
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, launchChromiumProfile } from '../../scripts/chromium.js';
import { makeMedia, type MediaFile } from '../support/media.js';
import { startMediaServer, pageTitle, type MediaServer } from '../support/media-server.js';
import { createTestUser } from '../support/auth.js';
import { ensureWebBuilt } from './support/build.js';
import { startTestServer, type TestServer } from '../support/server.js';
import {
  accessToken,
  DESKTOP,
  nav,
  openPage,
  pasteInto,
  screenshot,
  seriousViolations,
  signIn,
  watch,
  type TestPage,
} from './support/browser.js';

const ADMIN = { username: 'admin', email: 'admin@example.test', password: 'correct horse battery' };
const TASK_TIMEOUT = 60_000;

let mediaDir: string;
let clip: MediaFile;
let media: MediaServer;
let server: TestServer;
let browser: Browser;
let admin: TestPage;

beforeAll(async () => {
  mediaDir = mkdtempSync(path.join(os.tmpdir(), 'ytbh-web-'));
  [clip] = await Promise.all([
    makeMedia(mediaDir, { durationS: 3, width: 320, height: 240, kind: 'muxed', container: 'mp4' }),
    ensureWebBuilt(),
  ]);
  for (const name of ['slow.mp4', 'b.mp4', 'c.mp4', 'd.mp4']) copyFileSync(clip.path, path.join(mediaDir, name));
  // A page yt-dlp's generic extractor turns into a playlist: several <video> elements.
  writeFileSync(
    path.join(mediaDir, 'list.html'),
    '<!DOCTYPE html><html><head><meta charset="utf-8"><title>Three clips</title></head><body>' +
      ['b.mp4', 'c.mp4', 'd.mp4'].map((f) => `<video src="/${f}" controls></video>`).join('') +
      '</body></html>',
  );
  media = await startMediaServer(mediaDir, { paths: { '/slow.mp4': { throttleBytesPerSec: 20_000 } } });
  // No accounts at all: the first-run flow creates the admin.
  server = await startTestServer('embedded', { ALLOW_PRIVATE_ADDRESSES: 'true' }, { noUser: true });
  browser = await launchChromium();
  admin = await openPage(browser, server.url, DESKTOP);
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await media?.stop();
  rmSync(mediaDir, { recursive: true, force: true });
});

/** The task row of a download, found by its id from the API answer the page got. */
const row = (page: Page, id: string) => page.locator(`li.task[data-task-id="${id}"]`);

async function lookUpAndDownload(page: Page, url: string): Promise<string> {
  await page.goto('/');
  await page.getByLabel('Video or playlist link').fill(url);
  await page.getByRole('button', { name: 'Look up' }).click();
  const created = page.waitForResponse((r) => r.url().endsWith('/api/v2/downloads') && r.request().method() === 'POST');
  await page.getByRole('button', { name: 'Download', exact: true }).click();
  const res = await created;
  expect([200, 202]).toContain(res.status());
  return ((await res.json()) as { id: string }).id;
}

describe('web dashboard (Chromium)', () => {
  it('first run: creates the admin account, signs out and signs back in', async () => {
    const { page } = admin;
    await page.goto('/');
    await page.waitForURL('**/setup');
    await page.getByRole('heading', { level: 1, name: 'Welcome to ytbh' }).waitFor();
    expect(await seriousViolations(page)).toEqual([]);
    await screenshot(page, 'setup-desktop');

    await page.getByLabel('Username').fill(ADMIN.username);
    await page.getByLabel('Email').fill(ADMIN.email);
    await page.getByLabel('Password').fill(ADMIN.password);
    await page.getByRole('button', { name: 'Create admin account' }).click();
    await page.getByRole('heading', { level: 1, name: 'Download a video' }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/');
    // The first account is the admin: the admin page is offered.
    await expect(nav(page, 'Admin').isVisible()).resolves.toBe(true);

    // A second first-run is not possible any more.
    const status = (await (await fetch(`${server.url}/api/v2/auth/status`)).json()) as { setup_required: boolean };
    expect(status.setup_required).toBe(false);

    await page.getByRole('button', { name: /Sign out/ }).click();
    await page.waitForURL('**/login');
    // Signed out for real: the stored session is gone and a protected page sends us back to sign-in.
    expect(await page.evaluate(() => localStorage.getItem('ytbh.session'))).toBeNull();
    await page.goto('/queue');
    await page.waitForURL(/\/login\?next=%2Fqueue$/);

    await page.getByLabel('Username or email').fill(ADMIN.username);
    await page.getByLabel('Password').fill('wrong password!');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.getByRole('alert').textContent()).resolves.toMatch(/Wrong username\/email or password/);

    await page.getByLabel('Password').fill(ADMIN.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    // Back where the guard sent us from.
    await page.getByRole('heading', { level: 1, name: 'Queue' }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/queue');
  });

  it('paste a link → video card → download with live progress → library → plays with seeking', async () => {
    const { page } = admin;
    const name = clip.name.replace(/\.mp4$/, '');
    const url = `${media.url}/page/${name}.html`;
    await page.goto('/');
    await pasteInto(page, '#url-input', url);
    await expect(page.locator('#url-input').inputValue()).resolves.toBe(url);

    const card = page.locator('article.video-card');
    await card.waitFor({ timeout: 30_000 });
    await expect(card.getByRole('heading', { level: 2 }).textContent()).resolves.toBe(pageTitle(name));
    await expect(card.locator('.video-duration').textContent()).resolves.toBe('0:03');
    await expect(card.locator('.badge').textContent()).resolves.toBe('Web');
    await screenshot(page, 'home-card-desktop');

    const created = page.waitForResponse(
      (r) => r.url().endsWith('/api/v2/downloads') && r.request().method() === 'POST',
    );
    await card.getByRole('button', { name: 'Download', exact: true }).click();
    const id = ((await (await created).json()) as { id: string }).id;

    // Live progress over the WebSocket: the bar of this task reaches 100 % and the chip says Completed.
    const task = row(page, id);
    await task.locator('[role="progressbar"][aria-valuenow="100"]').waitFor({ timeout: TASK_TIMEOUT });
    await task.locator('.chip[data-status="completed"]').waitFor({ timeout: TASK_TIMEOUT });
    // No reload happened: the page learnt it from pushed events.
    expect(await page.evaluate(() => performance.getEntriesByType('navigation').length)).toBe(1);

    await nav(page, 'Library').click();
    const item = page.locator(`li.library-item[data-task-id="${id}"]`);
    await item.waitFor();
    await expect(item.getByRole('heading').textContent()).resolves.toBe(pageTitle(name));
    // The download's own stored thumbnail, through the query-token URL (an <img> sends no headers).
    const thumb = item.locator('img.thumb');
    await expect
      .poll(() => thumb.evaluate((img: HTMLImageElement) => (img.complete ? img.naturalWidth : 0)))
      .toBeGreaterThan(0);
    expect(await thumb.getAttribute('src')).toMatch(new RegExp(`^/api/v2/downloads/${id}/thumbnail\\?access_token=.+`));
    await item.getByRole('button', { name: 'Play' }).click();
    await page.waitForURL(`**/library?play=${id}`);

    const video = page.locator('section.player video');
    await video.waitFor();
    const played = await video.evaluate(async (v: HTMLVideoElement) => {
      v.muted = true;
      await v.play();
      const t0 = v.currentTime;
      await new Promise((r) => setTimeout(r, 1000));
      const advanced = v.currentTime > t0;
      const readyState = v.readyState;
      // Seeking asks the file endpoint for a byte range.
      v.currentTime = 2.2;
      await new Promise((r) => v.addEventListener('seeked', r, { once: true }));
      return { advanced, readyState, afterSeek: v.currentTime, duration: v.duration, error: v.error?.code ?? null };
    });
    expect(played.error).toBeNull();
    expect(played.readyState).toBeGreaterThanOrEqual(2);
    expect(played.advanced).toBe(true);
    expect(played.afterSeek).toBeGreaterThanOrEqual(2);
    expect(played.duration).toBeGreaterThan(2.5);
    const ranges = await page.evaluate(
      (taskId) =>
        performance.getEntriesByType('resource').filter((e) => e.name.includes(`/api/v2/downloads/${taskId}/file`))
          .length,
      id,
    );
    expect(ranges).toBeGreaterThanOrEqual(1);
    await screenshot(page, 'library-player-desktop');
  });

  it('shows a readable error for an invalid link and for a page with no video', async () => {
    const { page } = admin;
    await page.goto('/');
    await page.getByLabel('Video or playlist link').fill('not a link at all');
    await page.getByRole('button', { name: 'Look up' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    const text = await alert.textContent();
    expect(text).toContain('Could not look up this link');
    expect(text).toContain('That does not look like a link to a video.');
    // The API's own message, not a code or a blank page.
    expect(text).not.toMatch(/invalid_url|undefined|\[object/);

    await page.getByLabel('Video or playlist link').fill(`${media.url}/missing.mp4`);
    await page.getByRole('button', { name: 'Look up' }).click();
    await page.getByRole('alert').getByText(/.+/).first().waitFor();
    await expect(page.locator('article.video-card').count()).resolves.toBe(0);
    await expect(page.getByRole('alert').textContent()).resolves.toMatch(/Could not look up this link.{10,}/);
  });

  it('lists the videos of a page as a playlist: select all, some, and download the selection', async () => {
    const { page } = admin;
    await page.goto('/');
    await page.getByLabel('Video or playlist link').fill(`${media.url}/list.html`);
    await page.getByRole('button', { name: 'Look up' }).click();
    await page.getByRole('button', { name: 'List every video on this page' }).click({ timeout: 30_000 });
    const list = page.locator('article.playlist');
    await list.waitFor({ timeout: 30_000 });
    await expect(list.getByRole('heading', { level: 2 }).textContent()).resolves.toBe('Three clips');
    const boxes = list.locator('ol.entries input[type="checkbox"]');
    await expect(boxes.count()).resolves.toBe(3);
    const selectAll = list.getByLabel('Select all');
    await expect(selectAll.isChecked()).resolves.toBe(true);
    await selectAll.uncheck();
    await expect(list.getByRole('button', { name: 'Download selected (0)' }).isDisabled()).resolves.toBe(true);
    await selectAll.check();
    await boxes.nth(2).uncheck();
    await expect(selectAll.isChecked()).resolves.toBe(false);

    const batch = page.waitForResponse((r) => r.url().endsWith('/api/v2/downloads/batch'));
    await list.getByRole('button', { name: 'Download selected (2)' }).click();
    const body = (await (await batch).json()) as { items: { url: string; task?: { id: string } }[] };
    expect(body.items.map((i) => new URL(i.url).pathname)).toEqual(['/b.mp4', '/c.mp4']);
    for (const item of body.items) {
      await row(page, item.task!.id).locator('.chip[data-status="completed"]').waitFor({ timeout: TASK_TIMEOUT });
    }
    await screenshot(page, 'home-playlist-desktop');
  });

  it('cancels a download from the queue and retries it to completion', async () => {
    const { page } = admin;
    media.setBehavior('/slow.mp4', { throttleBytesPerSec: 20_000 });
    const id = await lookUpAndDownload(page, `${media.url}/slow.mp4`);
    await nav(page, 'Queue').click();
    const task = row(page, id);
    await task.locator('.chip[data-status="downloading"]').waitFor({ timeout: TASK_TIMEOUT });
    await screenshot(page, 'queue-downloading-desktop');
    await task.getByRole('button', { name: 'Cancel' }).click();
    await task.locator('.chip[data-status="cancelled"]').waitFor();
    await expect(task.getByRole('button', { name: 'Cancel' }).count()).resolves.toBe(0);

    media.setBehavior('/slow.mp4', undefined);
    await task.getByRole('button', { name: 'Retry' }).click();
    await task.locator('.chip[data-status="completed"]').waitFor({ timeout: TASK_TIMEOUT });
    await task.locator('[role="progressbar"][aria-valuenow="100"]').waitFor();
    const stored = (await (
      await fetch(`${server.url}/api/v2/downloads/${id}`, {
        headers: { authorization: `Bearer ${await accessToken(page)}` },
      })
    ).json()) as { status: string };
    expect(stored.status).toBe('completed');
  });

  it('invites someone, who signs up through the link', async () => {
    const { page } = admin;
    await nav(page, 'Admin').click();
    const invites = page.locator('section', { has: page.getByRole('heading', { name: 'Invitations' }) });
    await invites.getByRole('button', { name: 'Create invitation link' }).click();
    const link = (await invites.getByTestId('invite-link').textContent())!;
    expect(link.startsWith(`${server.url}/register?invite=`)).toBe(true);

    const invited = await openPage(browser, server.url, DESKTOP);
    try {
      await invited.page.goto(link);
      await invited.page.getByRole('heading', { level: 1, name: 'Create an account' }).waitFor();
      expect(await seriousViolations(invited.page)).toEqual([]);
      await expect(invited.page.getByLabel('Invite code').inputValue()).resolves.toBe(
        new URL(link).searchParams.get('invite'),
      );
      await invited.page.getByLabel('Username').fill('invited_friend');
      await invited.page.getByLabel('Email').fill('friend@example.test');
      await invited.page.getByLabel('Password').fill('a long enough password');
      await invited.page.getByRole('button', { name: 'Create account' }).click();
      await invited.page.getByRole('heading', { level: 1, name: 'Download a video' }).waitFor();
      await expect(invited.page.getByRole('button', { name: 'Sign out (invited_friend)' }).isVisible()).resolves.toBe(
        true,
      );
      await expect(nav(invited.page, 'Admin').count()).resolves.toBe(0);
      expect(invited.problems).toEqual([]);
    } finally {
      await invited.context.close();
    }
    await page.reload();
    await invites.locator('.chip', { hasText: 'Used' }).waitFor();
  });

  it("keeps each user's library to themselves", async () => {
    const adminTasks = (await (
      await fetch(`${server.url}/api/v2/downloads?status=completed`, {
        headers: { authorization: `Bearer ${await accessToken(admin.page)}` },
      })
    ).json()) as { items: { id: string }[] };
    expect(adminTasks.items.length).toBeGreaterThanOrEqual(1);

    const other = await createTestUser(server.services, 'user');
    const second = await openPage(browser, server.url, DESKTOP);
    try {
      await second.page.goto('/login');
      await signIn(second.page, other.username, other.password);
      await nav(second.page, 'Library').click();
      await second.page.getByText('No finished downloads yet.').waitFor();
      await expect(second.page.locator('li.library-item').count()).resolves.toBe(0);
      // Nor by address: the admin's task and file are "not found" for this user.
      await second.page.goto(`/library?play=${adminTasks.items[0]!.id}`);
      await second.page.getByText('No finished downloads yet.').waitFor();
      await expect(second.page.locator('section.player').count()).resolves.toBe(0);
      const token = await accessToken(second.page);
      const file = await fetch(`${server.url}/api/v2/downloads/${adminTasks.items[0]!.id}/file?access_token=${token}`);
      expect(file.status).toBe(404);
      // Not an admin: no admin page in the navigation.
      await expect(nav(second.page, 'Admin').count()).resolves.toBe(0);
    } finally {
      await second.context.close();
    }
  });

  it('deletes a download from the library: a keyboard-usable confirm dialog, errors in words, then it is gone', async () => {
    const { page } = admin;
    const headers = { authorization: `Bearer ${await accessToken(page)}` };
    const completed = (await (
      await fetch(`${server.url}/api/v2/downloads?status=completed&limit=100`, { headers })
    ).json()) as { items: { id: string; url: string; title: string | null }[] };
    const victim = completed.items.find((t) => new URL(t.url).pathname === '/c.mp4')!;
    expect(victim).toBeDefined();
    const db = server.services.database.db;
    const { file_path: mediaKey } = await db
      .selectFrom('download_tasks')
      .select('file_path')
      .where('id', '=', victim.id)
      .executeTakeFirstOrThrow();
    const isDelete = (r: { url(): string; request(): { method(): string } }) =>
      r.url().endsWith(`/api/v2/downloads/${victim.id}`) && r.request().method() === 'DELETE';

    await nav(page, 'Library').click();
    const item = page.locator(`li.library-item[data-task-id="${victim.id}"]`);
    await item.waitFor();
    const del = item.getByRole('button', { name: /^Delete / });
    const dialog = page.getByRole('dialog', { name: 'Delete this download?' });
    const focused = () => page.evaluate(() => document.activeElement?.textContent ?? '');

    // From the keyboard: Enter opens it with focus on Cancel; Escape backs out and focus returns.
    await del.focus();
    await page.keyboard.press('Enter');
    await dialog.waitFor();
    await expect(dialog.textContent()).resolves.toContain(victim.title ?? victim.url);
    await expect.poll(focused).toBe('Cancel');
    expect(await seriousViolations(page)).toEqual([]);
    await screenshot(page, 'library-delete-dialog-desktop');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    await expect.poll(() => del.evaluate((b) => b === document.activeElement)).toBe(true);
    await expect(item.count()).resolves.toBe(1);

    // Storage refusing (the row names a key storage will not touch): the error in words, nothing removed.
    await db
      .updateTable('download_tasks')
      .set({ file_path: 'downloads/../elsewhere.mp4' })
      .where('id', '=', victim.id)
      .execute();
    await page.keyboard.press('Enter');
    await dialog.waitFor();
    await page.keyboard.press('Tab');
    await expect.poll(focused).toBe('Delete');
    const refused = page.waitForResponse(isDelete);
    await page.keyboard.press('Enter');
    expect((await refused).status()).toBe(502);
    const alert = dialog.getByRole('alert');
    await alert.waitFor();
    await expect(alert.textContent()).resolves.toMatch(/The file storage failed\..*could not be removed.*try again/);
    await expect(item.count()).resolves.toBe(1);
    expect(await server.services.storage.stat(mediaKey!)).not.toBeNull();

    // Storage back in order: the same dialog tries again, and the item, its files and the task go.
    await db.updateTable('download_tasks').set({ file_path: mediaKey }).where('id', '=', victim.id).execute();
    const removed = page.waitForResponse(isDelete);
    await dialog.getByRole('button', { name: 'Delete', exact: true }).click();
    expect((await removed).status()).toBe(204);
    await item.waitFor({ state: 'detached' });
    await dialog.waitFor({ state: 'detached' });
    await page.getByText(`Deleted “${victim.title ?? victim.url}”.`).waitFor({ state: 'attached' });
    await expect.poll(() => page.evaluate(() => document.activeElement?.tagName)).toBe('H1');
    expect(await server.services.storage.stat(mediaKey!)).toBeNull();
    expect((await fetch(`${server.url}/api/v2/downloads/${victim.id}`, { headers })).status).toBe(404);
    // Not just hidden: a fresh read of the library does not bring it back.
    await page.reload();
    await page.locator('li.library-item').first().waitFor();
    await expect(item.count()).resolves.toBe(0);
  });

  it('shows the admin the queue depth and storage used, as the server counts them', async () => {
    const { page } = admin;
    const headers = { authorization: `Bearer ${await accessToken(page)}` };
    await nav(page, 'Admin').click();
    const status = page.locator('section', { has: page.getByRole('heading', { name: 'System status' }) });
    await status.getByTestId('storage-used').waitFor();
    const info = (await (await fetch(`${server.url}/api/v2/system/info`, { headers })).json()) as {
      queue: { queued: number; running: number };
      storage: { used_bytes: number; files: number };
    };
    // Nothing runs now, and the library's files (less the one deleted) are what storage holds.
    const sum = await server.services.database.db
      .selectFrom('download_tasks')
      .select((eb) => [eb.fn.countAll<number>().as('files'), eb.fn.sum<number>('file_size').as('bytes')])
      .where('status', '=', 'completed')
      .executeTakeFirstOrThrow();
    expect(info.queue).toEqual({ queued: 0, running: 0 });
    expect(info.storage).toMatchObject({ files: Number(sum.files), used_bytes: Number(sum.bytes) });
    expect(info.storage.files).toBeGreaterThanOrEqual(3);
    await expect(status.getByTestId('queue-depth').textContent()).resolves.toBe('0 running · 0 waiting');
    await expect(status.getByTestId('storage-used').textContent()).resolves.toMatch(
      new RegExp(`^[\\d.,]+\\s?(B|KB|MB|KiB|MiB) in ${info.storage.files} files \\(local disk\\)$`),
    );
    await screenshot(page, 'admin-status-desktop');
  });

  it('removes a failed download from the queue: a keyboard-usable confirm dialog, then it is gone', async () => {
    const { page } = admin;
    const headers = { authorization: `Bearer ${await accessToken(page)}`, 'content-type': 'application/json' };
    const url = `${media.url}/gone.mp4`;
    const made = await fetch(`${server.url}/api/v2/downloads`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ url }),
    });
    expect(made.status).toBe(202);
    const { id } = (await made.json()) as { id: string };
    await nav(page, 'Queue').click();
    const task = row(page, id);
    await task.locator('.chip[data-status="failed"]').waitFor({ timeout: TASK_TIMEOUT });
    const dialog = page.getByRole('dialog', { name: 'Remove this download?' });
    const focused = () => page.evaluate(() => document.activeElement?.textContent ?? '');

    // A completed row says its file goes too (and Escape backs out of that).
    const done = page.locator('li.task[data-status="completed"]').first();
    await done.getByRole('button', { name: /^Remove / }).click();
    await expect(dialog.textContent()).resolves.toMatch(/downloaded file deleted from the server/);
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    await expect(done.count()).resolves.toBe(1);

    // The failed one, from the keyboard: Enter opens the dialog on Cancel, Tab and Enter remove it.
    const remove = task.getByRole('button', { name: `Remove ${url}` });
    await remove.focus();
    await page.keyboard.press('Enter');
    await dialog.waitFor();
    await expect(dialog.textContent()).resolves.toContain(`“${url}” will be removed from the queue`);
    await expect.poll(focused).toBe('Cancel');
    expect(await seriousViolations(page)).toEqual([]);
    await screenshot(page, 'queue-remove-dialog-desktop');
    await page.keyboard.press('Tab');
    await expect.poll(focused).toBe('Remove');
    const removed = page.waitForResponse(
      (r) => r.url().endsWith(`/api/v2/downloads/${id}`) && r.request().method() === 'DELETE',
    );
    await page.keyboard.press('Enter');
    expect((await removed).status()).toBe(204);
    await task.waitFor({ state: 'detached' });
    await dialog.waitFor({ state: 'detached' });
    await page.getByText(`Removed “${url}”.`).waitFor({ state: 'attached' });
    await expect.poll(() => page.evaluate(() => document.activeElement?.tagName)).toBe('H1');
    expect((await fetch(`${server.url}/api/v2/downloads/${id}`, { headers })).status).toBe(404);
  });

  it('a download deleted in one tab disappears from another without a reload', async () => {
    const { page } = admin;
    const headers = { authorization: `Bearer ${await accessToken(page)}` };
    const completed = (await (
      await fetch(`${server.url}/api/v2/downloads?status=completed&limit=100`, { headers })
    ).json()) as { items: { id: string; url: string }[] };
    const victim = completed.items.find((t) => new URL(t.url).pathname === '/b.mp4')!;
    expect(victim).toBeDefined();

    // This tab shows the queue, live, with the download in it; a marker tells a reload apart.
    await nav(page, 'Queue').click();
    await page.locator('.live-dot.on').waitFor();
    const inQueue = row(page, victim.id);
    await inQueue.waitFor();
    await page.evaluate(() => ((window as unknown as { sameDocument: boolean }).sameDocument = true));
    const reads: string[] = [];
    const onRequest = (r: { url(): string }) => {
      if (new URL(r.url()).pathname.startsWith('/api/v2/downloads')) reads.push(r.url());
    };
    page.on('request', onRequest);

    // A second tab of the same user deletes it from the library.
    const other = await openPage(browser, server.url, DESKTOP);
    try {
      await other.page.goto('/login');
      await signIn(other.page, ADMIN.username, ADMIN.password);
      await nav(other.page, 'Library').click();
      const item = other.page.locator(`li.library-item[data-task-id="${victim.id}"]`);
      await item.getByRole('button', { name: /^Delete / }).click();
      const removed = other.page.waitForResponse(
        (r) => r.url().endsWith(`/api/v2/downloads/${victim.id}`) && r.request().method() === 'DELETE',
      );
      await other.page
        .getByRole('dialog', { name: 'Delete this download?' })
        .getByRole('button', { name: 'Delete', exact: true })
        .click();
      expect((await removed).status()).toBe(204);
      await item.waitFor({ state: 'detached' });
      expect(other.problems).toEqual([]);
    } finally {
      await other.context.close();
    }

    // Gone from the first tab, pushed over its WebSocket: no reload, no new read of the list.
    await inQueue.waitFor({ state: 'detached', timeout: 10_000 });
    page.off('request', onRequest);
    expect(reads).toEqual([]);
    expect(await page.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument)).toBe(true);
    await expect(page.locator('li.task[data-status="completed"]').count()).resolves.toBeGreaterThan(0);
  });

  it('is an installable PWA: manifest, service worker, and a share target that fills the link box', async () => {
    const profile = mkdtempSync(path.join(os.tmpdir(), 'ytbh-chromium-'));
    // A real profile: Chromium never offers installation in incognito contexts (what newContext makes).
    const context = await launchChromiumProfile(profile, { viewport: DESKTOP });
    try {
      const page = await context.newPage();
      const problems: string[] = [];
      watch(page, problems);
      await page.goto(`${server.url}/login`);
      await signIn(page, ADMIN.username, ADMIN.password);

      const sw = await page.evaluate(async () => {
        const reg = await navigator.serviceWorker.ready;
        return { script: reg.active?.scriptURL, scope: reg.scope };
      });
      expect(sw).toEqual({ script: `${server.url}/sw.js`, scope: `${server.url}/` });

      const cdp = await context.newCDPSession(page);
      const manifest = (await cdp.send('Page.getAppManifest')) as { url: string; errors: unknown[]; data?: string };
      expect(manifest.url).toBe(`${server.url}/manifest.webmanifest`);
      expect(manifest.errors).toEqual([]);
      const parsed = JSON.parse(manifest.data!) as Record<string, any>;
      expect(parsed).toMatchObject({
        display: 'standalone',
        start_url: '/',
        share_target: { action: '/', method: 'GET' },
      });
      expect(parsed.icons.map((i: { sizes: string }) => i.sizes)).toEqual(
        expect.arrayContaining(['192x192', '512x512']),
      );
      const installability = (await cdp.send('Page.getInstallabilityErrors')) as { installabilityErrors: unknown[] };
      expect(installability.installabilityErrors).toEqual([]);

      // What Android's share sheet sends from a video app: a title and the link inside free text.
      const shared = `${media.url}/page/${clip.name.replace(/\.mp4$/, '')}.html`;
      await page.goto(
        `${server.url}/?title=${encodeURIComponent('A clip')}&text=${encodeURIComponent(`Watch this! ${shared}`)}`,
      );
      await expect.poll(() => page.locator('#url-input').inputValue()).toBe(shared);
      await page.locator('article.video-card').waitFor({ timeout: 30_000 });

      // The app shell is cached; API answers never are.
      const cached = await page.evaluate(async () => {
        const out: string[] = [];
        for (const name of await caches.keys()) {
          for (const req of await (await caches.open(name)).keys()) out.push(new URL(req.url).pathname);
        }
        return out;
      });
      expect(cached).toContain('/');
      expect(cached.some((p) => p.startsWith('/assets/') && p.endsWith('.js'))).toBe(true);
      expect(cached.filter((p) => p.startsWith('/api/'))).toEqual([]);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    }
  });

  it('logged no script errors or CSP violations on the way', () => {
    // The two lookups that failed on purpose log their 400/404 responses, the refused deletion its 502;
    // nothing else may appear.
    const unexpected = admin.problems.filter(
      (p) => !/Failed to load resource: the server responded with a status of (400|401|404|502)/.test(p),
    );
    expect(unexpected).toEqual([]);
  });
});
