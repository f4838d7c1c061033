/**
 * Every page of the dashboard at a desktop (1280×800) and a phone (390×844)
 * size: screenshots kept under test-artifacts/web/, an axe-core scan with no
 * serious or critical violations, no sideways scrolling on the phone, no
 * script errors or CSP violations; plus keyboard use, the Chinese UI and the
 * dark theme.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../../scripts/chromium.js';
import { makeMedia, type MediaFile } from '../support/media.js';
import { startMediaServer, pageTitle, type MediaServer } from '../support/media-server.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { ensureWebBuilt } from './support/build.js';
import {
  DESKTOP,
  nav,
  openPage,
  overflowsHorizontally,
  PHONE,
  screenshot,
  seriousViolations,
  signIn,
  type TestPage,
  type Viewport,
} from './support/browser.js';

let mediaDir: string;
let clip: MediaFile;
let media: MediaServer;
let server: TestServer;
let browser: Browser;
let doneId: string;
const json = { 'content-type': 'application/json' };

async function waitForStatus(id: string, statuses: string[]): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const t = (await (await server.fetch(`${server.url}/api/v2/downloads/${id}`)).json()) as { status: string };
    if (statuses.includes(t.status)) return;
    if (Date.now() > deadline) throw new Error(`task ${id} stayed ${t.status}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

beforeAll(async () => {
  mediaDir = mkdtempSync(path.join(os.tmpdir(), 'ytbh-web-pages-'));
  [clip] = await Promise.all([
    makeMedia(mediaDir, { durationS: 3, width: 320, height: 240, kind: 'muxed', container: 'mp4' }),
    ensureWebBuilt(),
  ]);
  media = await startMediaServer(mediaDir);
  server = await startTestServer('embedded', { ALLOW_PRIVATE_ADDRESSES: 'true' });
  // Something in every list: a finished download and a failed one.
  const create = async (url: string) =>
    (
      (await (
        await server.fetch(`${server.url}/api/v2/downloads`, {
          method: 'POST',
          headers: json,
          body: JSON.stringify({ url }),
        })
      ).json()) as { id: string }
    ).id;
  doneId = await create(`${media.url}/page/${clip.name.replace(/\.mp4$/, '')}.html`);
  const failedId = await create(`${media.url}/missing.mp4`);
  await Promise.all([waitForStatus(doneId, ['completed']), waitForStatus(failedId, ['failed'])]);
  browser = await launchChromium();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await media?.stop();
  rmSync(mediaDir, { recursive: true, force: true });
});

/** Checks a page the way every page must pass, and keeps its screenshot. */
async function checkPage(t: TestPage, name: string, viewport: Viewport) {
  const label = `${name}-${viewport === PHONE ? 'phone' : 'desktop'}`;
  await t.page.waitForFunction(() => !document.querySelector('.loading'), undefined, { timeout: 30_000 });
  await screenshot(t.page, label);
  expect(await seriousViolations(t.page), label).toEqual([]);
  expect(await overflowsHorizontally(t.page, viewport), `${label} scrolls sideways`).toBe(false);
}

describe.each([
  ['desktop', DESKTOP],
  ['phone', PHONE],
] as const)('every page at %s size', (_name, viewport) => {
  let t: TestPage;
  beforeAll(async () => {
    t = await openPage(browser, server.url, viewport);
  });
  afterAll(async () => {
    await t?.context.close();
  });

  it('sign-in page', async () => {
    await t.page.goto('/');
    await t.page.waitForURL('**/login?next=%2F');
    await t.page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    await checkPage(t, 'login', viewport);
    await signIn(t.page, server.owner.username, server.owner.password);
  });

  it('home with a looked-up video', async () => {
    const name = clip.name.replace(/\.mp4$/, '');
    await t.page.getByLabel('Video or playlist link').fill(`${media.url}/page/${name}.html`);
    await t.page.getByRole('button', { name: 'Look up' }).click();
    await t.page
      .locator('article.video-card')
      .getByRole('heading', { name: pageTitle(name) })
      .waitFor({ timeout: 30_000 });
    await t.page.locator('details.formats summary').click();
    await checkPage(t, 'home', viewport);
    // On a phone the navigation sits at the bottom, within thumb reach, and stays on screen.
    const box = await nav(t.page, 'Queue').boundingBox();
    expect(box).not.toBeNull();
    if (viewport === PHONE) expect(box!.y).toBeGreaterThan(viewport.height - 100);
    else expect(box!.y).toBeLessThan(100);
  });

  it('queue with a finished and a failed download', async () => {
    await nav(t.page, 'Queue').click();
    await t.page.locator('li.task[data-status="completed"]').first().waitFor();
    const failed = t.page.locator('li.task[data-status="failed"]').first();
    await failed.waitFor();
    // The reason in words, and the way out.
    await expect(failed.locator('.task-error').textContent()).resolves.toMatch(/^Failed: .{5,}/);
    await expect(failed.getByRole('button', { name: 'Retry' }).isVisible()).resolves.toBe(true);
    await checkPage(t, 'queue', viewport);
  });

  it('library with the player open', async () => {
    await nav(t.page, 'Library').click();
    await t.page.locator(`li.library-item[data-task-id="${doneId}"]`).getByRole('button', { name: 'Play' }).click();
    await t.page.locator('section.player video').waitFor();
    await t.page.waitForFunction(
      () => (document.querySelector('section.player video') as HTMLVideoElement).readyState >= 1,
    );
    await checkPage(t, 'library', viewport);
    // The filters narrow the list: no audio-only downloads exist.
    await t.page.getByLabel('Type').selectOption('audio');
    await t.page.getByText('Nothing matches these filters.').waitFor();
    await t.page.getByLabel('Type').selectOption('all');
    await t.page.getByLabel('Search').fill('no such title anywhere');
    await t.page.getByText('Nothing matches these filters.').waitFor();
    await t.page.getByLabel('Search').fill(pageTitle(clip.name.replace(/\.mp4$/, '')).slice(0, 9));
    await t.page.locator(`li.library-item[data-task-id="${doneId}"]`).waitFor();
  });

  it('settings', async () => {
    await nav(t.page, 'Settings').click();
    await t.page.getByRole('heading', { level: 2, name: 'Download defaults and notifications' }).waitFor();
    await t.page.locator('[data-quota="daily"] meter').waitFor();
    await checkPage(t, 'settings', viewport);
  });

  it('admin', async () => {
    await nav(t.page, 'Admin').click();
    await t.page.getByRole('heading', { level: 2, name: 'System status' }).waitFor();
    await t.page.getByText('pglite').first().waitFor();
    await t.page.locator('li.user-row').first().waitFor();
    await t.page.locator('table.audit tbody tr').first().waitFor();
    await checkPage(t, 'admin', viewport);
    expect(t.problems).toEqual([]);
  });
});

describe('the accessibility scan itself', () => {
  it('reports serious violations when a page has them', async () => {
    // Guards the guard: a scan that silently found nothing would pass every page above.
    const t = await openPage(browser, server.url, DESKTOP);
    try {
      await t.page.setContent(
        '<html><body><input type="text"><img src="x.png"><p style="color:#ddd;background:#fff">faint</p></body></html>',
      );
      const ids = (await seriousViolations(t.page)).map((v) => v.id);
      expect(ids).toEqual(expect.arrayContaining(['label', 'image-alt', 'color-contrast']));
    } finally {
      await t.context.close();
    }
  });
});

describe('beyond the mouse and English', () => {
  let t: TestPage;
  beforeAll(async () => {
    t = await openPage(browser, server.url, DESKTOP);
    await t.page.goto('/login');
    await signIn(t.page, server.owner.username, server.owner.password);
  });
  afterAll(async () => {
    await t?.context.close();
  });

  it('works from the keyboard: skip link, the link box, Enter to look up', async () => {
    const { page } = t;
    await page.goto('/');
    await page.getByRole('heading', { level: 1 }).waitFor();
    await page.keyboard.press('Tab');
    await expect(page.evaluate(() => document.activeElement?.textContent)).resolves.toBe('Skip to content');
    const focused = async () => page.evaluate(() => document.activeElement?.id ?? document.activeElement?.tagName);
    let tabs = 0;
    while ((await focused()) !== 'url-input' && tabs++ < 20) await page.keyboard.press('Tab');
    expect(await focused()).toBe('url-input');
    // The focus ring is visible (an outline, not only a colour change).
    const outline = await page.evaluate(() => getComputedStyle(document.activeElement!).outlineStyle);
    expect(outline).not.toBe('none');
    await page.keyboard.type(`${media.url}/page/${clip.name.replace(/\.mp4$/, '')}.html`);
    await page.keyboard.press('Enter');
    await page.locator('article.video-card').waitFor({ timeout: 30_000 });
  });

  it('speaks Simplified Chinese after the language switch, and keeps it', async () => {
    const { page } = t;
    await page.getByRole('combobox', { name: 'Language' }).selectOption('zh-CN');
    await page.getByRole('heading', { level: 1, name: '下载视频' }).waitFor();
    await expect(page.evaluate(() => document.documentElement.lang)).resolves.toBe('zh-CN');
    await expect(nav(page, '媒体库').isVisible()).resolves.toBe(true);
    await checkPage(t, 'home-zh-CN', DESKTOP);
    // Saved on the account too.
    const prefs = (await (await server.fetch(`${server.url}/api/v2/users/me/preferences`)).json()) as {
      language: string;
    };
    expect(prefs.language).toBe('zh-CN');
    await page.reload();
    await page.getByRole('heading', { level: 1, name: '下载视频' }).waitFor();
    await page.getByRole('combobox', { name: '语言' }).selectOption('en');
    await page.getByRole('heading', { level: 1, name: 'Download a video' }).waitFor();
  });

  it('switches to the dark theme and stays readable', async () => {
    const { page } = t;
    await nav(page, 'Settings').click();
    await page.getByRole('radio', { name: 'Dark' }).check();
    await expect(page.evaluate(() => document.documentElement.dataset.theme)).resolves.toBe('dark');
    const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    const [r, g, b] = bg.match(/\d+/g)!.map(Number);
    expect(r! + g! + b!).toBeLessThan(150);
    await checkPage(t, 'settings-dark', DESKTOP);
    await nav(page, 'Queue').click();
    await page.locator('li.task').first().waitFor();
    await checkPage(t, 'queue-dark', DESKTOP);
    await nav(page, 'Settings').click();
    await page.getByRole('radio', { name: 'Same as the system' }).check();
    expect(t.problems).toEqual([]);
  });
});
