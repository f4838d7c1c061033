/** Debian's Chromium, headless, driven by playwright-core: the web e2e tests and the icon renderer use it. */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

export function chromiumAvailable(): boolean {
  return existsSync(CHROMIUM_PATH);
}

export async function launchChromium(): Promise<Browser> {
  if (!chromiumAvailable()) {
    throw new Error(
      `Chromium not found at ${CHROMIUM_PATH}: apt-get install chromium (npm run setup:test does it as root)`,
    );
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS });
}

/**
 * A browser with a real (non-incognito) profile in `userDataDir`: Chromium
 * never offers to install an app from an incognito context, so the PWA
 * installability check needs one.
 */
export async function launchChromiumProfile(
  userDataDir: string,
  options: { viewport?: { width: number; height: number } } = {},
) {
  if (!chromiumAvailable()) throw new Error(`Chromium not found at ${CHROMIUM_PATH}`);
  return chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_ARGS,
    ...options,
  });
}
