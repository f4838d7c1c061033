/** Versions of the external programs we drive, probed asynchronously and cached. */
import { execFile } from 'node:child_process';

export type ToolVersion = string | 'missing';

export function probeVersion(command: string, args: string[], pattern: RegExp): Promise<ToolVersion> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: 10_000, maxBuffer: 1024 * 1024 }, (err, stdout) => {
      if (err) return resolve('missing');
      const m = pattern.exec(stdout);
      resolve(m?.[1] ?? (stdout.trim().split('\n')[0] || 'unknown'));
    });
  });
}

export interface ToolVersions {
  ytdlp: ToolVersion;
  ffmpeg: ToolVersion;
}

export function createToolProbe(paths: { ytdlpPath: string; ffmpegPath: string }): () => Promise<ToolVersions> {
  let cached: Promise<ToolVersions> | undefined;
  return () =>
    (cached ??= Promise.all([
      probeVersion(paths.ytdlpPath, ['--version'], /^(\S+)/),
      probeVersion(paths.ffmpegPath, ['-hide_banner', '-version'], /ffmpeg version (\S+)/),
    ]).then(([ytdlp, ffmpeg]) => ({ ytdlp, ffmpeg })));
}
