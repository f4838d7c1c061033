/**
 * Browser helpers for the dashboard's end-to-end tests: pages at phone and
 * desktop sizes that record console errors (CSP violations show up there),
 * screenshots kept under test-artifacts/web/, and an axe-core scan.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { ROOT } from '../../support/server.js';

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };
export type Viewport = typeof DESKTOP;

export const ARTIFACTS = path.join(ROOT, 'test-artifacts', 'web');

export interface TestPage {
  context: BrowserContext;
  page: Page;
  /** console errors and uncaught exceptions seen so far */
  problems: string[];
}

export function watch(page: Page, problems: string[]): void {
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
}

export async function openPage(browser: Browser, baseURL: string, viewport: Viewport = DESKTOP): Promise<TestPage> {
  const phone = viewport.width < 600;
  const context = await browser.newContext({
    baseURL,
    viewport,
    isMobile: phone,
    hasTouch: phone,
    locale: 'en-US',
  });
  const page = await context.newPage();
  const problems: string[] = [];
  watch(page, problems);
  return { context, page, problems };
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  targets: string[];
}

/** Serious and critical WCAG violations on the page as it is now (axe-core, WCAG 2.1 A/AA rules). */
export async function seriousViolations(page: Page): Promise<AxeViolation[]> {
  // Evaluated over the DevTools protocol, which the page's CSP (script-src 'self') does not apply to.
  await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const axe = (
      window as unknown as { axe: { run: (ctx: Document, o: object) => Promise<{ violations: unknown[] }> } }
    ).axe;
    const result = await axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
      resultTypes: ['violations'],
    });
    return result.violations as {
      id: string;
      impact: string | null;
      help: string;
      nodes: { target: string[] }[];
    }[];
  });
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map((n) => n.target.join(' ')) }));
}

/**
 * Horizontal overflow: a page that needs sideways scrolling on a phone is
 * broken there. Compared with the device width, not innerWidth: mobile
 * emulation widens the layout viewport to fit overflowing content.
 */
export async function overflowsHorizontally(page: Page, viewport: Viewport): Promise<boolean> {
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  return width > viewport.width;
}

/** Dispatches a real paste event carrying `text`, as a user's Ctrl+V / long-press paste does. */
export async function pasteInto(page: Page, selector: string, text: string): Promise<void> {
  await page.focus(selector);
  await page.evaluate(
    ([sel, value]) => {
      const dt = new DataTransfer();
      dt.setData('text/plain', value!);
      document
        .querySelector(sel!)!
        .dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
    },
    [selector, text],
  );
}

/** Signs in on the login page (already open) and waits for the home page. */
export async function signIn(page: Page, login: string, password: string): Promise<void> {
  await page.getByLabel('Username or email').fill(login);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Download a video' }).waitFor();
}

/** A link of the main navigation. */
export const nav = (page: Page, name: string) => page.getByRole('navigation').getByRole('link', { name, exact: true });

/** The signed-in session's access token, as the page stored it. */
export async function accessToken(page: Page): Promise<string> {
  const raw = await page.evaluate(() => localStorage.getItem('ytbh.session'));
  if (!raw) throw new Error('the page is not signed in');
  return (JSON.parse(raw) as { access_token: string }).access_token;
}
