/** The seed's storage layout: downloads/{user_id}/{yyyy}/{mm}/{video_id}.{ext} (+ {video_id}_thumbnail.jpg). */
import { createHash } from 'node:crypto';

const SAFE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/** Platform ids are mostly safe already; anything else is hashed rather than trusted in a path. */
export function safeSegment(raw: string): string {
  return SAFE.test(raw) && !raw.includes('..') ? raw : createHash('sha256').update(raw).digest('hex').slice(0, 24);
}

export interface StorageKeys {
  media: string;
  thumbnail: string;
}

export function storageKeys(
  userId: string | null,
  videoKey: string,
  ext: string,
  taskId: string,
  at = new Date(),
): StorageKeys {
  const yyyy = String(at.getUTCFullYear());
  const mm = String(at.getUTCMonth() + 1).padStart(2, '0');
  const dir = `downloads/${userId ?? 'anonymous'}/${yyyy}/${mm}`;
  // The task id keeps two downloads of one video with different options apart.
  const base = `${safeSegment(videoKey)}.${taskId.slice(0, 8)}`;
  return { media: `${dir}/${base}.${ext}`, thumbnail: `${dir}/${base}_thumbnail.jpg` };
}

export const CONTENT_TYPES: Record<string, string> = {
  mp4: 'video/mp4',
  webm: 'video/webm',
  mkv: 'video/x-matroska',
  m4a: 'audio/mp4',
  mp3: 'audio/mpeg',
  opus: 'audio/ogg',
  jpg: 'image/jpeg',
};
