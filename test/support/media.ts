/**
 * Synthetic test media made with ffmpeg (lavfi testsrc2 / sine), so tests never
 * need checked-in binaries or the network. Results are cached per directory and
 * parameters: a test file asking twice for the same clip encodes it once.
 */
import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';

export type MediaKind = 'muxed' | 'video' | 'audio';
export type MediaContainer = 'mp4' | 'webm' | 'm4a';

export interface MediaOptions {
  durationS: number;
  width: number;
  height: number;
  kind: MediaKind;
  container: MediaContainer;
}

export interface HlsOptions {
  durationS: number;
  width: number;
  height: number;
  /** target segment length in seconds (default 1) */
  segmentS?: number;
}

export interface MediaFile {
  /** absolute path on disk */
  path: string;
  /** path relative to the directory, with forward slashes: what a media server URL uses */
  name: string;
}

const FFMPEG = process.env.FFMPEG_PATH ?? 'ffmpeg';
const cache = new Map<string, Promise<MediaFile>>();

/** Runs ffmpeg to completion; rejects with its stderr tail on a non-zero exit. */
export function runFfmpeg(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(FFMPEG, ['-hide_banner', '-loglevel', 'error', '-nostdin', '-y', ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-8192);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`ffmpeg exited with ${code ?? signal}: ${stderr.trim()}`));
    });
  });
}

function cached(key: string, make: () => Promise<MediaFile>): Promise<MediaFile> {
  let p = cache.get(key);
  if (!p) {
    p = make();
    cache.set(key, p);
    // A failed encode should not poison later calls.
    p.catch(() => cache.delete(key));
  }
  return p;
}

function videoInput(o: { durationS: number; width: number; height: number }): string[] {
  return ['-f', 'lavfi', '-i', `testsrc2=size=${o.width}x${o.height}:rate=25:duration=${o.durationS}`];
}

function audioInput(durationS: number): string[] {
  return ['-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=44100:duration=${durationS}`];
}

// Small bitrates and fast presets keep generation well under a second per clip.
const H264 = ['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-b:v', '200k', '-g', '25'];
const VP9 = ['-c:v', 'libvpx-vp9', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '200k', '-g', '25'];
const AAC = ['-c:a', 'aac', '-b:a', '64k'];
const OPUS = ['-c:a', 'libopus', '-b:a', '48k'];

function codecArgs(kind: MediaKind, container: MediaContainer): string[] {
  if (container === 'm4a' && kind !== 'audio') throw new Error('m4a holds audio only');
  const webm = container === 'webm';
  const video = kind === 'audio' ? ['-vn'] : webm ? VP9 : H264;
  const audio = kind === 'video' ? ['-an'] : webm ? OPUS : AAC;
  return [...video, ...audio];
}

/** Encodes one clip into `dir`; returns its path. */
export function makeMedia(dir: string, o: MediaOptions): Promise<MediaFile> {
  const name =
    o.kind === 'audio'
      ? `audio-${o.durationS}s.${o.container}`
      : `${o.kind}-${o.durationS}s-${o.width}x${o.height}.${o.container}`;
  const file = path.join(dir, name);
  return cached(file, async () => {
    await mkdir(dir, { recursive: true });
    const inputs = [
      ...(o.kind === 'audio' ? [] : videoInput(o)),
      ...(o.kind === 'video' ? [] : audioInput(o.durationS)),
    ];
    // faststart puts the moov atom first, so players (and yt-dlp's probing) need no seek to the end.
    const mux = o.container === 'webm' ? [] : ['-movflags', '+faststart'];
    await runFfmpeg([...inputs, ...codecArgs(o.kind, o.container), ...mux, '-t', String(o.durationS), file]);
    return { path: file, name };
  });
}

/** Encodes a muxed clip as an HLS VOD playlist (`index.m3u8` + .ts segments) in its own subdirectory. */
export function makeHls(dir: string, o: HlsOptions): Promise<MediaFile> {
  const segmentS = o.segmentS ?? 1;
  const sub = `hls-${o.durationS}s-${o.width}x${o.height}-${segmentS}`;
  const name = `${sub}/index.m3u8`;
  const file = path.join(dir, sub, 'index.m3u8');
  return cached(file, async () => {
    await mkdir(path.join(dir, sub), { recursive: true });
    await runFfmpeg([
      ...videoInput(o),
      ...audioInput(o.durationS),
      ...H264,
      // A keyframe every segment boundary so segments really are `segmentS` long.
      '-force_key_frames',
      `expr:gte(t,n_forced*${segmentS})`,
      ...AAC,
      '-t',
      String(o.durationS),
      '-f',
      'hls',
      '-hls_time',
      String(segmentS),
      '-hls_playlist_type',
      'vod',
      '-hls_segment_filename',
      path.join(dir, sub, 'seg%03d.ts'),
      file,
    ]);
    return { path: file, name };
  });
}
