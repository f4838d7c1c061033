/** The UI's message files: the same keys in every language, and the same {placeholders} in each message. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../support/server.js';

const load = (lang: string) =>
  JSON.parse(readFileSync(path.join(ROOT, 'web/src/i18n', `${lang}.json`), 'utf8')) as Record<string, string>;
const placeholders = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

describe('UI messages', () => {
  const en = load('en');
  const zh = load('zh-CN');

  it('has every English key in Simplified Chinese and nothing extra', () => {
    expect(Object.keys(zh).sort()).toEqual(Object.keys(en).sort());
  });

  it('keeps the placeholders of each message, and translates it', () => {
    const wrong = Object.keys(en).filter((k) => placeholders(en[k]!).join() !== placeholders(zh[k] ?? '').join());
    expect(wrong).toEqual([]);
    const empty = Object.entries({ ...en, ...zh }).filter(([, v]) => v.trim() === '');
    expect(empty).toEqual([]);
    // Chinese text, not English left in place (short technical strings like "{done} / {total}" aside).
    const untranslated = Object.keys(en).filter(
      (k) => zh[k] === en[k] && /[a-z]{3,}/i.test(en[k]!.replace(/\{\w+\}/g, '')),
    );
    expect(untranslated).toEqual([]);
  });
});
