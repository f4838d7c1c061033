/**
 * `npm run gen:icons`: renders web/public/icons/icon.svg into the PNG icons
 * the web app manifest needs (Chromium's install criteria want raster
 * 192 and 512 px icons; the maskable one keeps the artwork in the safe zone).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { launchChromium } from './chromium.js';

const DIR = 'web/public/icons';
const svg = readFileSync(`${DIR}/icon.svg`, 'utf8');
const dataUrl = `data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}`;

const browser = await launchChromium();
try {
  const page = await browser.newPage();
  for (const { file, size, maskable } of [
    { file: 'icon-192.png', size: 192, maskable: false },
    { file: 'icon-512.png', size: 512, maskable: false },
    { file: 'maskable-512.png', size: 512, maskable: true },
  ]) {
    await page.setViewportSize({ width: size, height: size });
    // Maskable: a full-bleed background and the artwork shrunk to the 80 % safe zone.
    const inner = maskable ? Math.round(size * 0.8) : size;
    await page.setContent(
      `<html><body style="margin:0;background:${maskable ? '#1d4ed8' : 'transparent'};display:grid;place-items:center;width:${size}px;height:${size}px">` +
        `<img src="${dataUrl}" width="${inner}" height="${inner}"></body></html>`,
    );
    writeFileSync(`${DIR}/${file}`, await page.screenshot({ omitBackground: !maskable, type: 'png' }));
    console.log(`wrote ${DIR}/${file}`);
  }
} finally {
  await browser.close();
}
