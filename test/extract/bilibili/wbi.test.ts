import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  canonicalQuery,
  currentWts,
  MIXIN_KEY_ENC_TAB,
  mixinKey,
  signWbi,
  wbiKeyFromUrl,
  type WbiParams,
} from '../../../src/extract/bilibili/wbi.js';
import { FIXTURES_DIR } from '../../support/replay-server.js';

interface Vector {
  case: string;
  img_key: string;
  sub_key: string;
  params: WbiParams;
  wts: number;
  mixin_key: string;
  signed_query_without_w_rid: string;
  w_rid: string;
  final_query: string;
}

function fixture<T>(file: string): T {
  return JSON.parse(readFileSync(path.join(FIXTURES_DIR, 'bilibili', file), 'utf8')) as T;
}

const vectorFile = fixture<{ mixin_key_enc_tab: number[]; vectors: Vector[] }>('wbi/wbi-sign-vectors.json');

describe('WBI signing', () => {
  it('uses the published mixin table', () => {
    expect(MIXIN_KEY_ENC_TAB).toEqual(vectorFile.mixin_key_enc_tab);
  });

  describe.each(vectorFile.vectors)('$case', (v) => {
    it('derives the mixin key', () => {
      expect(mixinKey(v.img_key, v.sub_key)).toBe(v.mixin_key);
    });

    it('builds the canonical query', () => {
      expect(canonicalQuery({ ...v.params, wts: v.wts })).toBe(v.signed_query_without_w_rid);
    });

    it('signs with w_rid and wts', () => {
      expect(signWbi(v.params, v.mixin_key, v.wts)).toEqual({ wts: v.wts, w_rid: v.w_rid, query: v.final_query });
    });
  });

  it('reads the keys out of the recorded nav answer', () => {
    const nav = fixture<{ data: { wbi_img: { img_url: string; sub_url: string } } }>(
      'api/nav.not-logged-in.x-web-interface-nav.json',
    );
    const last = vectorFile.vectors.at(-1)!;
    expect(wbiKeyFromUrl(nav.data.wbi_img.img_url)).toBe(last.img_key);
    expect(wbiKeyFromUrl(nav.data.wbi_img.sub_url)).toBe(last.sub_key);
  });

  it('stamps wts with the current Unix time in seconds by default', () => {
    const before = currentWts();
    const signed = signWbi({ a: 1 }, 'k');
    expect(signed.wts).toBeGreaterThanOrEqual(before);
    expect(signed.wts).toBeLessThanOrEqual(currentWts());
    expect(currentWts(1_702_204_169_999)).toBe(1_702_204_169);
  });
});
