/**
 * The downloader's entry point: one Format in, one file out. Progressive
 * (https) formats go through the ranged/chunked HTTP downloader, HLS formats
 * through the segment downloader (its output is MPEG-TS, or fragmented MP4 for
 * EXT-X-MAP playlists, for ffmpeg to remux). DASH manifests are not handled here.
 */
import { AppError } from '../../errors/app-error.js';
import type { Format } from '../../extract/model.js';
import { type HlsDownloadOptions, type HlsDownloadResult, downloadHls } from './hls.js';
import { type DownloadResult, type HttpDownloadOptions, downloadHttp } from './http-download.js';

export * from './common.js';
export * from './http-download.js';
export * from './hls.js';
export * from './m3u8.js';

export type FormatDownloadOptions = HttpDownloadOptions & Omit<HlsDownloadOptions, 'onProgress'>;

export type FormatDownloadResult = ({ protocol: 'https' } & DownloadResult) | ({ protocol: 'hls' } & HlsDownloadResult);

/** Downloads one format, sending its http_headers (opts.headers override them) on every request. */
export async function downloadFormat(
  format: Pick<Format, 'url' | 'protocol' | 'http_headers'>,
  destPath: string,
  opts: FormatDownloadOptions,
): Promise<FormatDownloadResult> {
  const headers = { ...format.http_headers, ...opts.headers };
  if (format.protocol === 'https') {
    return { protocol: 'https', ...(await downloadHttp(format.url, destPath, { ...opts, headers })) };
  }
  if (format.protocol === 'hls') {
    return { protocol: 'hls', ...(await downloadHls(format.url, destPath, { ...opts, headers })) };
  }
  throw new AppError('unsupported_url', `Formats delivered as ${format.protocol} cannot be downloaded directly`, {
    reason: 'unsupported_protocol',
    protocol: format.protocol,
  });
}
