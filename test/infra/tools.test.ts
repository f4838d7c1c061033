import { describe, expect, it } from 'vitest';
import { createToolProbe, probeVersion } from '../../src/infra/tools.js';

describe('tool version probes', () => {
  it('read the installed yt-dlp and ffmpeg versions', async () => {
    const versions = await createToolProbe({ ytdlpPath: 'yt-dlp', ffmpegPath: 'ffmpeg' })();
    expect(versions.ytdlp).toMatch(/^\d{4}\.\d{2}\.\d{2}/);
    expect(versions.ffmpeg).toMatch(/^n?\d+\.\d+/);
  });

  it('report a missing program as missing', async () => {
    expect(await probeVersion('/nonexistent/yt-dlp', ['--version'], /^(\S+)/)).toBe('missing');
    const versions = await createToolProbe({ ytdlpPath: '/nonexistent/yt-dlp', ffmpegPath: '/nonexistent/ffmpeg' })();
    expect(versions).toEqual({ ytdlp: 'missing', ffmpeg: 'missing' });
  });
});
