import { Type } from '@sinclair/typebox';
import type { DownloadTask } from '../../infra/db/schema.js';
import { subtitleRecordOf } from '../../delivery/subtitles.js';
import type { TaskVideo } from '../../delivery/task-videos.js';

const Nullable = <T extends ReturnType<typeof Type.String> | ReturnType<typeof Type.Number>>(t: T) =>
  Type.Union([t, Type.Null()]);

export const TaskSchema = Type.Object(
  {
    id: Type.String(),
    url: Type.String(),
    platform: Type.String(),
    video_id: Nullable(Type.String()),
    parent_id: Nullable(Type.String()),
    status: Type.String({
      description: 'queued | extracting | downloading | processing | completed | failed | cancelled',
    }),
    quality: Type.String(),
    format: Nullable(Type.String()),
    audio_only: Type.Boolean(),
    options: Type.Record(Type.String(), Type.Unknown()),
    selected_formats: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
    progress: Type.Number(),
    bytes_done: Type.Number(),
    bytes_total: Nullable(Type.Number()),
    speed_bps: Nullable(Type.Number()),
    eta_seconds: Nullable(Type.Number()),
    error: Type.Union([Type.Object({ code: Type.String(), message: Type.String() }), Type.Null()]),
    title: Nullable(Type.String({ description: 'the video’s title (a playlist’s, for a playlist download)' })),
    uploader: Nullable(Type.String()),
    duration: Nullable(Type.Number({ description: 'seconds' })),
    thumbnail_url: Nullable(
      Type.String({
        description:
          'GET /api/v2/downloads/{id}/thumbnail once the download stored one (same credentials as the file), else the platform’s thumbnail',
      }),
    ),
    file_size: Nullable(Type.Number()),
    file_url: Nullable(Type.String()),
    subtitles: Type.Union(
      [
        Type.Object({
          mode: Type.String({ description: 'embed | sidecar' }),
          requested: Type.Array(Type.String()),
          embedded: Type.Array(Type.String(), { description: 'languages embedded in the file' }),
          files: Type.Array(
            Type.Object({
              language: Type.String(),
              format: Type.String({ description: 'vtt | srt' }),
              size: Type.Number(),
              url: Type.String({ description: 'GET it for the sidecar file' }),
            }),
          ),
          missing: Type.Array(Type.String(), {
            description: 'requested languages the video does not offer (or that could not be fetched or read)',
          }),
        }),
        Type.Null(),
      ],
      { description: 'What became of the requested subtitles, once the download completed' },
    ),
    attempts: Type.Number(),
    created_at: Type.String(),
    updated_at: Type.String(),
    started_at: Nullable(Type.String()),
    completed_at: Nullable(Type.String()),
  },
  { $id: 'DownloadTask' },
);

/** The stored thumbnail's address, when the task is done and has one. */
export function thumbnailUrl(t: Pick<DownloadTask, 'id' | 'status' | 'thumbnail_path'>): string | null {
  return t.status === 'completed' && t.thumbnail_path ? `/api/v2/downloads/${t.id}/thumbnail` : null;
}

function playlistTitle(t: DownloadTask): string | null {
  const title = (t.selected_formats as { playlist?: { title?: unknown } } | null)?.playlist?.title;
  return typeof title === 'string' && title ? title : null;
}

/** A task as the API shows it; `video` is what videosOfTasks found (title, uploader, …). */
export function taskView(t: DownloadTask, video?: TaskVideo) {
  return {
    id: t.id,
    url: t.url,
    platform: t.platform,
    video_id: t.video_key,
    parent_id: t.parent_id,
    status: t.status,
    quality: t.quality,
    format: t.format,
    audio_only: t.audio_only,
    options: t.options,
    selected_formats: (t.selected_formats as Record<string, unknown> | null) ?? null,
    progress: t.progress,
    bytes_done: t.bytes_done,
    bytes_total: t.bytes_total,
    speed_bps: t.speed_bps,
    eta_seconds: t.eta_seconds,
    error: t.error_code ? { code: t.error_code, message: t.error_message ?? '' } : null,
    title: video?.title ?? playlistTitle(t),
    uploader: video?.uploader ?? null,
    duration: video?.duration ?? null,
    thumbnail_url: thumbnailUrl(t) ?? video?.thumbnail_url ?? null,
    file_size: t.file_size,
    file_url: t.status === 'completed' && t.file_path ? `/api/v2/downloads/${t.id}/file` : null,
    subtitles: subtitlesView(t),
    attempts: t.attempts,
    created_at: t.created_at.toISOString(),
    updated_at: t.updated_at.toISOString(),
    started_at: t.started_at?.toISOString() ?? null,
    completed_at: t.completed_at?.toISOString() ?? null,
  };
}

function subtitlesView(t: DownloadTask) {
  const r = t.status === 'completed' ? subtitleRecordOf(t.selected_formats) : null;
  if (!r) return null;
  return {
    ...r,
    files: r.files.map((f) => ({ ...f, url: `/api/v2/downloads/${t.id}/subtitles/${encodeURIComponent(f.language)}` })),
  };
}
