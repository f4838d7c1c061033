/** ffprobe over HTTP against every kind of generated media, plus its local-file lockout. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ffprobe } from '../../../src/extract/ytdlp/probe.js';
import { makeHls, makeMedia, type MediaOptions } from '../../support/media.js';
import { type MediaServer, startMediaServer } from '../../support/media-server.js';

let dir: string;
let server: MediaServer;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ytbh-probe-'));
  server = await startMediaServer(dir);
});
afterAll(async () => {
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

const CASES: Array<[Omit<MediaOptions, 'durationS' | 'width' | 'height'>, string | null, string | null]> = [
  [{ kind: 'muxed', container: 'mp4' }, 'h264', 'aac'],
  [{ kind: 'video', container: 'mp4' }, 'h264', null],
  [{ kind: 'audio', container: 'm4a' }, null, 'aac'],
  [{ kind: 'muxed', container: 'webm' }, 'vp9', 'opus'],
];

describe('makeMedia + ffprobe', () => {
  it.each(CASES)('%o → video %s, audio %s', async (kind, vcodec, acodec) => {
    const media = await makeMedia(dir, { durationS: 2, width: 160, height: 120, ...kind });
    const p = await ffprobe(`${server.url}/${media.name}`, { timeoutMs: 10_000 });
    expect(Math.abs(p.duration! - 2)).toBeLessThan(0.2);
    expect(p.video?.codec ?? null).toBe(vcodec);
    expect(p.audio?.codec ?? null).toBe(acodec);
    if (vcodec) expect(p.video).toMatchObject({ width: 160, height: 120, fps: 25 });
  });

  it('caches by parameters', () => {
    const o: MediaOptions = { durationS: 2, width: 160, height: 120, kind: 'muxed', container: 'mp4' };
    expect(makeMedia(dir, o)).toBe(makeMedia(dir, { ...o }));
  });

  it('will not let an HLS playlist pull in local files', async () => {
    // A real segment on disk, so only protocol restrictions (ours, and ffmpeg's nested default) can stop it.
    const hls = await makeHls(dir, { durationS: 2, width: 160, height: 120 });
    const segment = path.join(path.dirname(hls.path), 'seg000.ts');
    const playlist = `#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\nfile://${segment}\n#EXT-X-ENDLIST\n`;
    await writeFile(path.join(dir, 'evil.m3u8'), playlist);
    await expect(ffprobe(`${server.url}/evil.m3u8`, { timeoutMs: 10_000 })).rejects.toMatchObject({
      code: 'unsupported_url',
    });
    expect((await ffprobe(`${server.url}/${hls.name}`, { timeoutMs: 10_000 })).duration).toBeCloseTo(2, 0);
  });
});
