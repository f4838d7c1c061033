/**
 * One download task, end to end: extract → choose formats → fetch (our
 * downloader) → subtitles (subtitles.ts) → merge/convert (ffmpeg child
 * process) → storage (media, thumbnail, sidecar subtitles) → completed.
 * Every step is resumable: the work directory is keyed by the task, so a
 * rerun after a crash continues the `.part` files it finds.
 */
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { AppError } from '../errors/app-error.js';
import type { ExtractionService } from '../extract/service.js';
import type { Format, VideoInfo } from '../extract/model.js';
import type { DB, DownloadTask } from '../infra/db/schema.js';
import type { HttpClient } from '../infra/http-client/http-client.js';
import type { ObjectStorage } from '../infra/storage/storage.js';
import { abortKindOf } from '../infra/queue/memory-queue.js';
import { extractThumbnail, mergeAv, remuxOrTranscodeAudio, remuxToContainer } from '../media/ffmpeg.js';
import { downloadFormat, reasonOf, type DownloadProgress } from './downloader/index.js';
import { downloadWithYtdlp, needsYtdlp, ytdlpSettingsOf } from './downloader/ytdlp-download.js';
import type { DownloadOptions, SubtitleMode } from './options.js';
import { isAudioContainer, isValidLanguage } from './options.js';
import { taskEvent, type ProgressPublisher } from './progress.js';
import { selectFormats, type Selection } from './select-formats.js';
import { CONTENT_TYPES, storageKeys } from './storage-key.js';
import {
  prepareSubtitles,
  sidecarKey,
  SUBTITLE_CONTENT_TYPES,
  type PreparedSubtitles,
  type SidecarFile,
  type SubtitleRecord,
} from './subtitles.js';
import { getTask, transition, updateProgress } from './tasks.js';
import { upsertVideo } from '../extract/store.js';
import { RUNNING_STATUSES } from './task-status.js';

export interface PipelineDeps {
  db: Kysely<DB>;
  http: HttpClient;
  extraction: ExtractionService;
  storage: ObjectStorage;
  publisher: ProgressPublisher;
  log: Logger;
  dataDir: string;
  ffmpegPath: string;
}

/** Database progress rows are written at most this often; the cache gets every (throttled) event. */
const DB_PROGRESS_INTERVAL_MS = 2000;

export function workDir(dataDir: string, taskId: string): string {
  return path.join(dataDir, 'work', taskId);
}

/** BiliBili's DASH formats are plain files at one URL each; only real manifests need another tool. */
function fetchable(f: Format): Format {
  return f.protocol === 'dash' && !/\.mpd(\?|$)/i.test(f.url) ? { ...f, protocol: 'https' } : f;
}

function explain(sel: Selection) {
  const brief = (f: Format | null) =>
    f && {
      format_id: f.format_id,
      kind: f.kind,
      ext: f.ext,
      vcodec: f.vcodec,
      acodec: f.acodec,
      height: f.height,
      protocol: f.protocol,
    };
  return {
    video: brief(sel.video),
    audio: brief(sel.audio),
    muxed: brief(sel.muxed),
    container: sel.container,
    reason: sel.reason,
  };
}

export async function runPipeline(deps: PipelineDeps, task: DownloadTask, signal: AbortSignal): Promise<DownloadTask> {
  const { db, publisher, log } = deps;
  const options = task.options as unknown as DownloadOptions;
  const dir = workDir(deps.dataDir, task.id);
  await mkdir(dir, { recursive: true });

  let info: VideoInfo = (await deps.extraction.info(task.url, { signal })).info;
  let selection = selectFormats(info.formats, options);
  // The task shows its video's title and thumbnail from the `videos` row, written here too: an answer from the
  // cache (say, put there by a CLI run that had no database) did not write one.
  const videoId = await upsertVideo(db, task.url, info).catch((err: unknown) => {
    log.warn({ err, task: task.id }, 'could not store the video row');
    return null;
  });
  let current = await transition(
    db,
    task.id,
    'downloading',
    { selected_formats: JSON.stringify(explain(selection)), ...(videoId ? { video_id: videoId } : {}) },
    RUNNING_STATUSES,
  );
  if (!current) throw new AppError('conflict', 'The task changed state while it was being prepared');
  await publisher.publish('task_status', taskEvent(current));

  const parts = (): Format[] => [selection.muxed, selection.video, selection.audio].filter((f): f is Format => !!f);
  let files: string[];
  try {
    files = await fetchParts(deps, current, parts(), dir, signal);
  } catch (err) {
    // An expired or IP-bound media URL: extract once more (fresh URLs) and try again.
    if (reasonOf(err) !== 'forbidden') throw err;
    log.info({ task: task.id }, 'media URL refused; re-extracting once');
    info = (await deps.extraction.info(task.url, { refresh: true, signal })).info;
    selection = selectFormats(info.formats, options);
    files = await fetchParts(deps, current, parts(), dir, signal);
  }

  current = await transition(db, task.id, 'processing', {}, ['downloading']);
  if (!current) throw new AppError('conflict', 'The task changed state during the download');
  await publisher.publish('task_status', taskEvent(current));

  const ext = selection.container;
  const audio = options.audio_only || isAudioContainer(ext);
  const subs = await fetchSubtitles(deps, task, info, parts(), options, audio, dir, signal);
  // `pt_BR` is a fine request but not a language tag a container takes.
  const embedded =
    subs?.mode === 'embed' ? subs.ready.map((s) => ({ path: s.path, lang: s.language.replace(/_/g, '-') })) : [];
  const output = path.join(dir, `output.${ext}`);
  const common = {
    signal,
    ffmpegPath: deps.ffmpegPath,
    metadata: { title: info.title, ...(info.uploader ? { artist: info.uploader } : {}) },
  };
  if (audio) {
    await remuxOrTranscodeAudio({
      ...common,
      input: files[files.length - 1]!,
      output,
      format: ext as 'm4a' | 'mp3' | 'opus',
    });
  } else if (selection.video && selection.audio) {
    await mergeAv({
      ...common,
      video: files[0]!,
      audio: files[1]!,
      output,
      container: ext as 'mp4' | 'webm' | 'mkv',
      durationHint: info.duration,
      subtitles: embedded,
    });
  } else {
    await remuxToContainer({
      ...common,
      input: files[0]!,
      output,
      container: ext as 'mp4' | 'webm' | 'mkv',
      subtitles: embedded,
    });
  }

  const keys = storageKeys(task.user_id, task.video_key ?? info.id, ext, task.id);
  // Everything stored so far goes again if the task does not end `completed` (a failure, or a cancel
  // that came while the files were going up): a cancelled or failed task leaves nothing in storage.
  const storedKeys: string[] = [];
  try {
    // The thumbnail is cut from the output before storage takes the file (putFile moves it).
    const thumbnail =
      !audio && (await storeThumbnail(deps, dir, output, keys.thumbnail, info, signal)) ? keys.thumbnail : null;
    if (thumbnail) storedKeys.push(thumbnail);
    const stored = await deps.storage.putFile(keys.media, output, CONTENT_TYPES[ext] ?? 'application/octet-stream');
    storedKeys.push(stored.key);
    const record = subs && (await storeSidecars(deps, subs, stored.key, storedKeys));

    // The work files go before the row says `completed`: a reader that sees the task completed never finds
    // them, and a crash in between leaves a `processing` task that simply runs again (no orphaned files).
    await rm(dir, { recursive: true, force: true }).catch((err: unknown) =>
      log.warn({ err, task: task.id }, 'could not remove the work directory'),
    );
    const done = await transition(
      db,
      task.id,
      'completed',
      {
        file_path: stored.key,
        file_size: stored.size,
        thumbnail_path: thumbnail,
        progress: 100,
        eta_seconds: 0,
        completed_at: new Date(),
        ...(record ? { selected_formats: JSON.stringify({ ...explain(selection), subtitles: record }) } : {}),
      },
      ['processing'],
    );
    if (!done) throw new AppError('conflict', 'The task changed state while it was being stored');
    return done;
  } catch (err) {
    await removeStored(deps, task.id, storedKeys, signal);
    throw err;
  }
}

/**
 * A run that did not complete takes its stored files back, except where they
 * may be someone else's: the keys are the task's, so a row another worker
 * completed points at them, and after a lost job lock another worker may be
 * storing them right now.
 */
async function removeStored(deps: PipelineDeps, taskId: string, keys: string[], signal: AbortSignal): Promise<void> {
  if (keys.length === 0 || abortKindOf(signal) === 'lost') return;
  // A row that is gone (the user removed the task) points at nothing: its files go too. A database error keeps them.
  const row = await getTask(deps.db, taskId).catch(() => null);
  if (row === null || row?.status === 'completed') return;
  await Promise.all(
    keys.map((key) =>
      deps.storage.delete(key).catch((err: unknown) => deps.log.warn({ err, key }, 'could not remove a stored file')),
    ),
  );
}

interface FetchedSubtitles extends PreparedSubtitles {
  mode: SubtitleMode;
  requested: string[];
}

/**
 * The requested subtitle tracks, fetched and normalized into the work
 * directory; null when none were asked for, or only embedded ones for an
 * audio file (which has nowhere to put them).
 */
async function fetchSubtitles(
  deps: PipelineDeps,
  task: DownloadTask,
  info: VideoInfo,
  formats: Format[],
  options: DownloadOptions,
  audio: boolean,
  dir: string,
  signal: AbortSignal,
): Promise<FetchedSubtitles | null> {
  // Checked again here: the languages name storage keys, and task rows outlive code versions.
  const languages = Array.isArray(options.subtitles?.languages)
    ? options.subtitles.languages.filter(isValidLanguage)
    : [];
  const mode: SubtitleMode = options.subtitles?.mode === 'sidecar' ? 'sidecar' : 'embed';
  if (!languages.length || (audio && mode === 'embed')) return null;
  // Only what identifies the client: a cookie for the media host is not for the subtitle host.
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(formats[0]?.http_headers ?? {})) {
    if (/^(referer|user-agent|origin)$/i.test(k)) headers[k.toLowerCase()] = v;
  }
  const prepared = await prepareSubtitles({
    http: deps.http,
    ffmpegPath: deps.ffmpegPath,
    log: deps.log,
    subtitles: info.subtitles,
    languages,
    mode,
    dir,
    guard: task.platform === 'generic',
    headers,
    signal,
  });
  return { ...prepared, mode, requested: languages };
}

/** Puts the sidecar files next to the media (same key stem + `.{lang}.{vtt|srt}`); returns what the task records. */
async function storeSidecars(
  deps: PipelineDeps,
  subs: FetchedSubtitles,
  mediaKey: string,
  storedKeys: string[],
): Promise<SubtitleRecord> {
  const files: SidecarFile[] = [];
  if (subs.mode === 'sidecar') {
    for (const s of subs.ready) {
      const format = s.format === 'srt' ? 'srt' : 'vtt';
      const stored = await deps.storage.putFile(
        sidecarKey(mediaKey, s.language, format),
        s.path,
        SUBTITLE_CONTENT_TYPES[format],
      );
      storedKeys.push(stored.key);
      files.push({ language: s.language, format, size: stored.size });
    }
  }
  return {
    mode: subs.mode,
    requested: subs.requested,
    embedded: subs.mode === 'embed' ? subs.ready.map((s) => s.language) : [],
    files,
    missing: subs.missing,
  };
}

/** Best effort: a video without a thumbnail is still a finished download. True when it was stored. */
async function storeThumbnail(
  deps: PipelineDeps,
  dir: string,
  media: string,
  key: string,
  info: VideoInfo,
  signal: AbortSignal,
): Promise<boolean> {
  const jpg = path.join(dir, 'thumbnail.jpg');
  try {
    await extractThumbnail({
      input: media,
      output: jpg,
      atSeconds: Math.min(5, (info.duration ?? 2) / 2),
      width: 640,
      signal,
      ffmpegPath: deps.ffmpegPath,
    });
    await deps.storage.putFile(key, jpg, 'image/jpeg');
    return true;
  } catch (err) {
    deps.log.warn({ err }, 'could not make a thumbnail');
    return false;
  }
}

/** Fetches the chosen formats in parallel into the work directory, reporting combined progress. */
async function fetchParts(
  deps: PipelineDeps,
  task: DownloadTask,
  formats: Format[],
  dir: string,
  signal: AbortSignal,
): Promise<string[]> {
  const progress = formats.map<DownloadProgress>((f) => ({
    bytesDone: 0,
    bytesTotal: f.filesize,
    speedBps: 0,
    etaSeconds: null,
  }));
  let lastDbWrite = 0;
  const report = () => {
    const done = progress.reduce((s, p) => s + p.bytesDone, 0);
    const totals = progress.map((p) => p.bytesTotal);
    const total = totals.every((t): t is number => typeof t === 'number' && t > 0)
      ? totals.reduce((s, t) => s + t, 0)
      : null;
    const speed = progress.reduce((s, p) => s + p.speedBps, 0);
    const event = {
      ...taskEvent(task),
      status: 'downloading' as const,
      // The download is 90% of the work; merging and storing take the rest.
      progress: total ? Math.min(90, (done / total) * 90) : 0,
      bytes_done: done,
      bytes_total: total,
      speed_bps: Math.round(speed),
      eta_seconds: total && speed > 0 ? Math.max(0, Math.round((total - done) / speed)) : null,
    };
    void deps.publisher.progress(event).catch(() => {});
    if (Date.now() - lastDbWrite >= DB_PROGRESS_INTERVAL_MS) {
      lastDbWrite = Date.now();
      void updateProgress(deps.db, task.id, event).catch(() => {});
    }
  };
  return Promise.all(
    formats.map(async (f, i) => {
      // --- yt-dlp-only formats (DASH manifests, protocols we do not fetch): see downloader/ytdlp-download.ts
      if (needsYtdlp(fetchable(f))) {
        return downloadWithYtdlp({
          ...ytdlpSettingsOf(deps, task),
          pageUrl: task.url,
          formatId: f.format_id,
          dir,
          basename: `part${i}`,
          guardUrls: [f.url],
          signal,
          onProgress: (p) => {
            progress[i] = p;
            report();
          },
        });
      }
      // --- end yt-dlp-only formats
      const dest = path.join(dir, `part${i}.${f.protocol === 'hls' ? 'ts' : f.ext || 'bin'}`);
      await downloadFormat(fetchable(f), dest, {
        client: deps.http,
        // Generic media URLs come from user-supplied pages: they get the SSRF guard on every request.
        guard: task.platform === 'generic',
        signal,
        onProgress: (p) => {
          progress[i] = p;
          report();
        },
      });
      return dest;
    }),
  );
}
