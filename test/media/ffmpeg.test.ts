/**
 * The ffmpeg post-processing jobs against real ffmpeg/ffprobe, on short clips
 * made by test/support/media.ts. Results are checked with a plain ffprobe run,
 * not with the code under test.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors/app-error.js';
import {
  convertSubtitle,
  extractThumbnail,
  type MediaProgress,
  mergeAv,
  probeMedia,
  remuxOrTranscodeAudio,
  remuxToContainer,
} from '../../src/media/ffmpeg.js';
import { makeMedia, type MediaFile, runFfmpeg } from '../support/media.js';

const run = promisify(execFile);

interface Probed {
  format: { format_name: string; duration: string; tags?: Record<string, string> };
  streams: Array<{
    codec_type: string;
    codec_name: string;
    width?: number;
    height?: number;
    tags?: Record<string, string>;
  }>;
}

async function ffprobe(file: string): Promise<Probed> {
  const { stdout } = await run('ffprobe', [
    '-v',
    'error',
    '-print_format',
    'json',
    '-show_format',
    '-show_streams',
    file,
  ]);
  return JSON.parse(stdout) as Probed;
}

const codecs = (p: Probed): string[] => p.streams.map((s) => `${s.codec_type}:${s.codec_name}`);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Progress reports never go backwards and end with exactly one 100 %. */
function expectProgressSane(events: MediaProgress[]): void {
  expect(events.length).toBeGreaterThan(0);
  for (let i = 1; i < events.length; i++) {
    expect(events[i]!.percent!).toBeGreaterThanOrEqual(events[i - 1]!.percent!);
    expect(events[i]!.outTimeSeconds).toBeGreaterThanOrEqual(events[i - 1]!.outTimeSeconds);
  }
  expect(events.at(-1)!.percent).toBe(100);
  expect(events.filter((e) => e.percent === 100 && e !== events.at(-1)).length).toBeLessThanOrEqual(1);
}

let dir: string;
let out: string;
const m: Record<string, MediaFile> = {};
const SIZE = { width: 160, height: 120 };

/** extra clips support/media.ts does not make: FLAC audio and an MPEG-TS with H.264 + AAC */
async function makeExtra(name: string, args: string[]): Promise<MediaFile> {
  const file = path.join(dir, name);
  await runFfmpeg([...args, file]);
  return { path: file, name };
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ytbh-media-'));
  out = path.join(dir, 'out');
  const [vMp4, aM4a, vWebm, aWebm, muxMp4, muxWebm] = await Promise.all([
    makeMedia(dir, { durationS: 2, ...SIZE, kind: 'video', container: 'mp4' }),
    makeMedia(dir, { durationS: 2, ...SIZE, kind: 'audio', container: 'm4a' }),
    makeMedia(dir, { durationS: 2, ...SIZE, kind: 'video', container: 'webm' }),
    makeMedia(dir, { durationS: 2, ...SIZE, kind: 'audio', container: 'webm' }),
    makeMedia(dir, { durationS: 2, ...SIZE, kind: 'muxed', container: 'mp4' }),
    makeMedia(dir, { durationS: 2, ...SIZE, kind: 'muxed', container: 'webm' }),
  ]);
  Object.assign(m, { vMp4, aM4a, vWebm, aWebm, muxMp4, muxWebm });
  m.aFlac = await makeExtra('audio.flac', ['-f', 'lavfi', '-i', 'sine=frequency=440:duration=2', '-c:a', 'flac']);
  m.ts = await makeExtra('muxed.ts', [
    ...['-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=25:duration=2'],
    ...['-f', 'lavfi', '-i', 'sine=duration=2', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p'],
    ...['-c:a', 'aac', '-t', '2', '-f', 'mpegts'],
  ]);
  // 5 s of 320x240: its VP9 transcode takes a second or more, long enough to abort or time out
  m.medium = await makeExtra('medium.mp4', [
    ...['-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=25:duration=5'],
    ...['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-g', '25', '-an'],
  ]);
  await writeFile(
    path.join(dir, 'subs.vtt'),
    'WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nHello\n\n00:00:01.000 --> 00:00:02.000\nWorld\n',
  );
  await writeFile(path.join(dir, 'subs.srt'), '1\n00:00:00,000 --> 00:00:01,500\nHallo\n');
  await run('mkdir', ['-p', out]);
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const o = (name: string): string => path.join(out, name);

describe('mergeAv', () => {
  it('copies H.264 + AAC into a faststart mp4, with subtitles, tags and progress', async () => {
    const events: MediaProgress[] = [];
    const res = await mergeAv({
      video: m.vMp4!.path,
      audio: m.aM4a!.path,
      output: o('merged.mp4'),
      container: 'mp4',
      subtitles: [{ path: path.join(dir, 'subs.vtt'), lang: 'en' }],
      metadata: { title: 'A "title"; with $(shell) `chars`', artist: 'Someone', date: '2024' },
      onProgress: (p) => events.push(p),
    });
    expect(res).toEqual({ video: 'copy', audio: 'copy', subtitles: 1, durationSeconds: expect.closeTo(2, 0) });
    const p = await ffprobe(o('merged.mp4'));
    expect(codecs(p)).toEqual(['video:h264', 'audio:aac', 'subtitle:mov_text']);
    expect(Number(p.format.duration)).toBeCloseTo(2, 0);
    expect(p.streams[2]!.tags?.language).toBe('eng');
    expect(p.format.tags).toMatchObject({ title: 'A "title"; with $(shell) `chars`', artist: 'Someone' });
    // +faststart: the moov box comes before mdat
    const head = (await readFile(o('merged.mp4'))).subarray(0, 4096).toString('latin1');
    expect(head.indexOf('moov')).toBeGreaterThan(0);
    expect(head.indexOf('moov')).toBeLessThan(head.indexOf('mdat') === -1 ? Infinity : head.indexOf('mdat'));
    expectProgressSane(events);
  });

  it('copies VP9 + Opus into webm', async () => {
    const res = await mergeAv({
      video: m.vWebm!.path,
      audio: m.aWebm!.path,
      output: o('merged.webm'),
      container: 'webm',
      durationHint: 2.5,
    });
    expect(res).toMatchObject({ video: 'copy', audio: 'copy', durationSeconds: 2.5 });
    const p = await ffprobe(o('merged.webm'));
    expect(codecs(p)).toEqual(['video:vp9', 'audio:opus']);
    expect(p.format.format_name).toContain('webm');
    expect(Number(p.format.duration)).toBeCloseTo(2, 0);
  });

  it('copies Opus into mp4 (allowed by ffmpeg 5.1)', async () => {
    const res = await mergeAv({ video: m.vMp4!.path, audio: m.aWebm!.path, output: o('opus.mp4'), container: 'mp4' });
    expect(res).toMatchObject({ video: 'copy', audio: 'copy' });
    expect(codecs(await ffprobe(o('opus.mp4')))).toEqual(['video:h264', 'audio:opus']);
  });

  it('re-encodes only FLAC audio for mp4 (→ AAC) and webm (→ Opus)', async () => {
    const mp4 = await mergeAv({ video: m.vMp4!.path, audio: m.aFlac!.path, output: o('flac.mp4'), container: 'mp4' });
    expect(mp4).toMatchObject({ video: 'copy', audio: 'transcode' });
    expect(codecs(await ffprobe(o('flac.mp4')))).toEqual(['video:h264', 'audio:aac']);

    const webm = await mergeAv({
      video: m.vWebm!.path,
      audio: m.aFlac!.path,
      output: o('flac.webm'),
      container: 'webm',
    });
    expect(webm).toMatchObject({ video: 'copy', audio: 'transcode' });
    const p = await ffprobe(o('flac.webm'));
    expect(codecs(p)).toEqual(['video:vp9', 'audio:opus']);
    expect(Number(p.format.duration)).toBeCloseTo(2, 0);
  });

  it('re-encodes H.264 video for webm', async () => {
    const res = await mergeAv({ video: m.vMp4!.path, audio: m.aWebm!.path, output: o('h264.webm'), container: 'webm' });
    expect(res).toMatchObject({ video: 'transcode', audio: 'copy' });
    expect(codecs(await ffprobe(o('h264.webm')))).toEqual(['video:vp9', 'audio:opus']);
  });

  it('puts anything into mkv as it is, subtitles as SRT', async () => {
    const res = await mergeAv({
      video: m.vMp4!.path,
      audio: m.aFlac!.path,
      output: o('any.mkv'),
      container: 'mkv',
      subtitles: [
        { path: path.join(dir, 'subs.vtt'), lang: 'pt-BR' },
        { path: path.join(dir, 'subs.srt'), lang: 'not a language!' },
      ],
    });
    expect(res).toMatchObject({ video: 'copy', audio: 'copy', subtitles: 2 });
    const p = await ffprobe(o('any.mkv'));
    expect(codecs(p)).toEqual(['video:h264', 'audio:flac', 'subtitle:subrip', 'subtitle:subrip']);
    expect(p.streams[2]!.tags?.language).toBe('pt-BR');
    expect(p.streams[3]!.tags?.language).toBeUndefined();
  });
});

describe('remuxOrTranscodeAudio', () => {
  it.each([
    ['aM4a', 'm4a', 'copy', 'aac'],
    ['aM4a', 'mp3', 'transcode', 'mp3'],
    ['aWebm', 'opus', 'copy', 'opus'],
    ['aM4a', 'opus', 'transcode', 'opus'],
    ['aWebm', 'm4a', 'transcode', 'aac'],
    ['muxMp4', 'm4a', 'copy', 'aac'],
  ] as const)('%s → %s: %s to %s, video dropped', async (input, format, action, codec) => {
    const output = o(`${input}-audio.${format}`);
    const res = await remuxOrTranscodeAudio({ input: m[input]!.path, output, format });
    expect(res.audio).toBe(action);
    const p = await ffprobe(output);
    expect(codecs(p)).toEqual([`audio:${codec}`]);
    expect(Number(p.format.duration)).toBeCloseTo(2, 0);
    if (format === 'opus') expect(p.format.format_name).toBe('ogg');
  });
});

describe('remuxToContainer', () => {
  it('remuxes MPEG-TS (H.264 + ADTS AAC) into mp4 without re-encoding', async () => {
    const events: MediaProgress[] = [];
    const res = await remuxToContainer({
      input: m.ts!.path,
      output: o('ts.mp4'),
      container: 'mp4',
      onProgress: (p) => events.push(p),
    });
    expect(res).toMatchObject({ video: 'copy', audio: 'copy' });
    const p = await ffprobe(o('ts.mp4'));
    expect(codecs(p)).toEqual(['video:h264', 'audio:aac']);
    expect(p.format.format_name).toContain('mp4');
    expect(Number(p.format.duration)).toBeCloseTo(2, 0);
    expectProgressSane(events);
  });

  it('copies webm (VP9 + Opus) into mp4 and mp4 into mkv', async () => {
    expect(await remuxToContainer({ input: m.muxWebm!.path, output: o('w.mp4'), container: 'mp4' })).toMatchObject({
      video: 'copy',
      audio: 'copy',
    });
    expect(codecs(await ffprobe(o('w.mp4')))).toEqual(['video:vp9', 'audio:opus']);
    expect(await remuxToContainer({ input: m.muxMp4!.path, output: o('m.mkv'), container: 'mkv' })).toMatchObject({
      video: 'copy',
      audio: 'copy',
    });
    expect(codecs(await ffprobe(o('m.mkv')))).toEqual(['video:h264', 'audio:aac']);
  });
});

describe('remuxToContainer with subtitles', () => {
  it('adds mov_text (mp4), WebVTT (webm) and ASS as it is (mkv), each with its language tag', async () => {
    const ass = path.join(dir, 'subs.ass');
    await writeFile(
      ass,
      [
        '[Script Info]',
        'ScriptType: v4.00+',
        '',
        '[V4+ Styles]',
        'Format: Name, Fontname, Fontsize, PrimaryColour, Bold, Italic, Alignment, MarginL, MarginR, MarginV',
        'Style: Default,Arial,20,&H00FFFFFF,0,0,2,10,10,10',
        '',
        '[Events]',
        'Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text',
        'Dialogue: 0,0:00:00.00,0:00:01.50,Default,,0,0,0,,{\\i1}Bonjour{\\i0}',
        '',
      ].join('\n'),
    );
    const vtt = { path: path.join(dir, 'subs.vtt'), lang: 'en' };
    const srt = { path: path.join(dir, 'subs.srt'), lang: 'de' };
    const res = await remuxToContainer({
      input: m.muxMp4!.path,
      output: o('subbed.mp4'),
      container: 'mp4',
      subtitles: [vtt, srt],
    });
    expect(res).toMatchObject({ video: 'copy', audio: 'copy', subtitles: 2 });
    let p = await ffprobe(o('subbed.mp4'));
    expect(codecs(p)).toEqual(['video:h264', 'audio:aac', 'subtitle:mov_text', 'subtitle:mov_text']);
    expect(p.streams.slice(2).map((s) => s.tags?.language)).toEqual(['eng', 'deu']);

    await remuxToContainer({ input: m.muxWebm!.path, output: o('subbed.webm'), container: 'webm', subtitles: [srt] });
    p = await ffprobe(o('subbed.webm'));
    expect(codecs(p)).toEqual(['video:vp9', 'audio:opus', 'subtitle:webvtt']);
    expect(p.streams[2]!.tags?.language).toBe('de');

    await remuxToContainer({
      input: m.muxMp4!.path,
      output: o('subbed.mkv'),
      container: 'mkv',
      subtitles: [{ path: ass, lang: 'fr-CA' }, vtt],
    });
    p = await ffprobe(o('subbed.mkv'));
    expect(codecs(p)).toEqual(['video:h264', 'audio:aac', 'subtitle:ass', 'subtitle:subrip']);
    expect(p.streams.slice(2).map((s) => s.tags?.language)).toEqual(['fr-CA', 'en']);
  });

  it('drops the input’s own subtitle streams when given none', async () => {
    await remuxToContainer({ input: o('subbed.mkv'), output: o('nosubs.mp4'), container: 'mp4' });
    expect(codecs(await ffprobe(o('nosubs.mp4')))).toEqual(['video:h264', 'audio:aac']);
  });
});

describe('convertSubtitle', () => {
  it('rewrites SRT as WebVTT and WebVTT as SRT, cues intact', async () => {
    await convertSubtitle({ input: path.join(dir, 'subs.srt'), output: o('from-srt.vtt'), format: 'vtt' });
    const vtt = await readFile(o('from-srt.vtt'), 'utf8');
    expect(vtt).toMatch(/^WEBVTT/);
    expect(vtt).toMatch(/00:00\.000 --> 00:01\.500\s+Hallo/);
    await convertSubtitle({ input: path.join(dir, 'subs.vtt'), output: o('from-vtt.srt'), format: 'srt' });
    const srt = await readFile(o('from-vtt.srt'), 'utf8');
    expect(srt).toMatch(/^1\r?\n00:00:00,000 --> 00:00:01,000\r?\nHello/);
    expect(srt).toMatch(/00:00:01,000 --> 00:00:02,000\r?\nWorld/);
  });

  it('refuses what is not a subtitle file: a media file, a playlist, garbage', async () => {
    const playlist = path.join(dir, 'fake.vtt');
    await writeFile(playlist, `#EXTM3U\n#EXTINF:1,\nfile:${path.join(dir, 'subs.srt')}\n#EXT-X-ENDLIST\n`);
    const garbage = path.join(dir, 'garbage.srt');
    await writeFile(garbage, Buffer.from([0, 1, 2, 3, 255, 254, 10, 13, 0, 7]));
    for (const input of [m.muxMp4!.path, playlist, garbage]) {
      const err = await convertSubtitle({ input, output: o('bad.vtt'), format: 'vtt' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).message).not.toContain(dir);
    }
    expect((await readdir(out)).filter((f) => f.includes('bad.vtt'))).toEqual([]);
  });
});

describe('extractThumbnail', () => {
  it('writes one JPEG frame at the requested width, aspect kept', async () => {
    const res = await extractThumbnail({ input: m.muxMp4!.path, output: o('thumb.jpg'), atSeconds: 1, width: 96 });
    expect(res.atSeconds).toBe(1);
    const jpg = await readFile(o('thumb.jpg'));
    expect([...jpg.subarray(0, 3)]).toEqual([0xff, 0xd8, 0xff]);
    expect([...jpg.subarray(-2)]).toEqual([0xff, 0xd9]);
    const p = await ffprobe(o('thumb.jpg'));
    expect(p.streams).toMatchObject([{ codec_name: 'mjpeg', width: 96, height: 72 }]);
  });

  it('clamps a time past the end instead of producing nothing', async () => {
    const res = await extractThumbnail({ input: m.vWebm!.path, output: o('late.jpg'), atSeconds: 60 });
    expect(res.atSeconds).toBeLessThan(2);
    expect((await ffprobe(o('late.jpg'))).streams).toMatchObject([{ width: 160, height: 120 }]);
  });
});

describe('probeMedia', () => {
  it('reports format, duration and every stream', async () => {
    const info = await probeMedia(m.muxWebm!.path);
    expect(info.formatName).toBe('matroska,webm');
    expect(info.duration).toBeCloseTo(2, 0);
    expect(info.streams.map((s) => [s.kind, s.codec])).toEqual([
      ['video', 'vp9'],
      ['audio', 'opus'],
    ]);
    expect(info.video).toMatchObject({ width: 160, height: 120, fps: 25 });
    expect(info.audio).toMatchObject({ sampleRate: 48000, channels: 1 });
  });
});

describe('progress and the event loop', () => {
  it('keeps the event loop free during a transcode, with throttled monotonic progress', async () => {
    const events: Array<MediaProgress & { at: number }> = [];
    let ticks = 0;
    let maxGap = 0;
    let last = Date.now();
    const timer = setInterval(() => {
      const now = Date.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
      ticks++;
    }, 50);
    const started = Date.now();
    try {
      // 5 s of 320x240 H.264 → VP9: a second or more of real CPU work in the child
      const res = await remuxToContainer({
        input: m.medium!.path,
        output: o('busy.webm'),
        container: 'webm',
        onProgress: (p) => events.push({ ...p, at: Date.now() }),
      });
      expect(res.video).toBe('transcode');
    } finally {
      clearInterval(timer);
    }
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThan(500);
    // A blocked loop would fire once or twice, after one gap as long as the job; a free one ~elapsed/50
    // times. The bounds leave room for a busy CI box.
    expect(ticks).toBeGreaterThanOrEqual(Math.max(5, Math.floor(elapsed / 50 / 4)));
    expect(maxGap).toBeLessThan(Math.max(500, elapsed / 2));
    expectProgressSane(events);
    expect(events.length).toBeGreaterThan(1);
    // at most 4 a second: intermediate reports are ≥ 250 ms apart (the final 100 % is not throttled)
    for (let i = 1; i < events.length - 1; i++) expect(events[i]!.at - events[i - 1]!.at).toBeGreaterThanOrEqual(245);
    expect(codecs(await ffprobe(o('busy.webm')))).toEqual(['video:vp9']);
  });
});

describe('failures', () => {
  it('abort kills ffmpeg promptly and leaves no output', async () => {
    const ac = new AbortController();
    let pid = 0;
    const output = o('aborted.webm');
    const job = remuxToContainer({
      input: m.medium!.path,
      output,
      container: 'webm',
      signal: ac.signal,
      onSpawn: (p) => {
        pid = p;
        setTimeout(() => ac.abort(new Error('cancelled by user')), 300);
      },
    });
    const started = Date.now();
    await expect(job).rejects.toThrow('cancelled by user');
    expect(pid).toBeGreaterThan(0);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(alive(pid)).toBe(false);
    expect((await readdir(out)).filter((f) => f.includes('aborted'))).toEqual([]);
  });

  it('kills ffmpeg at its deadline with internal_error', async () => {
    let pid = 0;
    const err = await remuxToContainer({
      input: m.medium!.path,
      output: o('slow.webm'),
      container: 'webm',
      timeoutMs: 250,
      onSpawn: (p) => (pid = p),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ code: 'internal_error', message: 'Remuxing the media timed out after 250 ms' });
    expect(alive(pid)).toBe(false);
    expect((await readdir(out)).filter((f) => f.includes('slow'))).toEqual([]);
  });

  it('a corrupt input → AppError with a readable message and no paths', async () => {
    const bad = path.join(dir, 'corrupt.mp4');
    const good = await readFile(m.muxMp4!.path);
    await writeFile(bad, Buffer.concat([Buffer.from('this is not a video'), good.subarray(0, 2000)]));
    for (const job of [
      () => remuxToContainer({ input: bad, output: o('c.mkv'), container: 'mkv' }),
      () => mergeAv({ video: m.vMp4!.path, audio: bad, output: o('c.mp4'), container: 'mp4' }),
      () => remuxOrTranscodeAudio({ input: bad, output: o('c.mp3'), format: 'mp3' }),
    ]) {
      const err = (await job().catch((e: unknown) => e)) as AppError;
      expect(err).toBeInstanceOf(AppError);
      expect(err.code).toBe('internal_error');
      expect(err.message).toMatch(/^Could not read the (audio )?input: Invalid data found when processing input$/);
      const body = JSON.stringify(err.toBody());
      expect(body).not.toContain(dir);
      expect(body).not.toContain(os.tmpdir());
      expect(body).not.toMatch(/\bat .*\.(?:ts|js):\d+/);
    }
  });

  it('an ffmpeg failure quotes its cause without local paths', async () => {
    const err = (await mergeAv({
      video: m.vMp4!.path,
      audio: m.aM4a!.path,
      output: path.join(dir, 'missing-dir', 'x.mp4'),
      container: 'mp4',
    }).catch((e: unknown) => e)) as AppError;
    expect(err).toMatchObject({
      code: 'internal_error',
      message: 'Merging video and audio failed: output: No such file or directory',
    });
    expect(JSON.stringify(err.toBody())).not.toContain(dir);
  });

  it('refuses an HLS playlist disguised as mp4 (it could read other local files)', async () => {
    const evil = path.join(dir, 'evil.mp4');
    await writeFile(evil, `#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\nfile://${m.ts!.path}\n#EXT-X-ENDLIST\n`);
    const err = (await remuxToContainer({ input: evil, output: o('evil.mkv'), container: 'mkv' }).catch(
      (e: unknown) => e,
    )) as AppError;
    expect(err).toBeInstanceOf(AppError);
    expect(err.code).toBe('internal_error');
    expect(JSON.stringify(err.toBody())).not.toContain(dir);
    expect((await readdir(out)).filter((f) => f.includes('evil'))).toEqual([]);
  });

  it('refuses relative paths and an output that is an input, without spawning', async () => {
    let spawned = false;
    const onSpawn = (): void => {
      spawned = true;
    };
    await expect(
      mergeAv({ video: 'video.mp4', audio: m.aM4a!.path, output: o('r.mp4'), container: 'mp4', onSpawn }),
    ).rejects.toMatchObject({ code: 'internal_error', message: 'The video input must be an absolute local path' });
    await expect(
      remuxOrTranscodeAudio({ input: m.aM4a!.path, output: '../x.mp3', format: 'mp3', onSpawn }),
    ).rejects.toMatchObject({ code: 'internal_error' });
    await expect(
      remuxToContainer({ input: m.muxMp4!.path, output: m.muxMp4!.path, container: 'mp4', onSpawn }),
    ).rejects.toMatchObject({ message: 'The output must not overwrite an input' });
    await expect(
      extractThumbnail({ input: m.muxMp4!.path, output: o('t.jpg'), atSeconds: 0, width: 3, onSpawn }),
    ).rejects.toMatchObject({ code: 'internal_error' });
    expect(spawned).toBe(false);
  });
});
