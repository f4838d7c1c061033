/** The pure parts of the media module: progress parsing, path scrubbing, codec tables. */
import { describe, expect, it } from 'vitest';
import { audioFits, audioOnlyFits, languageTag, subtitleCodec, videoFits } from '../../src/media/codecs.js';
import { ffmpegFailure } from '../../src/media/ffmpeg.js';
import { assertLocalPath, scrubPaths } from '../../src/media/local-path.js';
import { parseMediaInfo } from '../../src/media/probe.js';
import { createProgressParser, type MediaProgress } from '../../src/media/progress.js';

function block(outTimeUs: number | 'N/A', end = false): string[] {
  return [
    'frame=10',
    `out_time_us=${outTimeUs}`,
    `out_time_ms=${outTimeUs}`,
    `out_time=${outTimeUs === 'N/A' ? 'N/A' : '00:00:09.999999'}`, // ignored: out_time_us wins
    'speed=2x',
    `progress=${end ? 'end' : 'continue'}`,
  ];
}

describe('createProgressParser', () => {
  function setup(durationSeconds: number | null = 10) {
    let t = 0;
    const events: MediaProgress[] = [];
    const parser = createProgressParser({ durationSeconds, onProgress: (p) => events.push(p), now: () => t });
    const feed = (lines: string[], advanceMs = 500): void => {
      t += advanceMs;
      lines.forEach((l) => parser.line(l));
    };
    return { parser, events, feed };
  }

  it('reports percent and time per block, then 100 once on finish', () => {
    const { parser, events, feed } = setup();
    feed(block('N/A'));
    feed(block(2_500_000));
    feed(block(5_000_000));
    feed(block(10_000_000, true));
    expect(events).toEqual([
      { percent: 0, outTimeSeconds: 0 },
      { percent: 25, outTimeSeconds: 2.5 },
      { percent: 50, outTimeSeconds: 5 },
    ]);
    parser.finish();
    parser.finish();
    expect(events.at(-1)).toEqual({ percent: 100, outTimeSeconds: 10 });
    expect(events).toHaveLength(4);
  });

  it('throttles to one report per 250 ms', () => {
    const { events, feed } = setup();
    for (let i = 1; i <= 20; i++) feed(block(i * 100_000), 100);
    // 2 s of blocks every 100 ms → a report every third block at most
    expect(events.length).toBeLessThanOrEqual(8);
    expect(events.length).toBeGreaterThanOrEqual(6);
  });

  it('never goes backwards, even when ffmpeg’s out_time does', () => {
    const { events, feed } = setup();
    feed(block(4_000_000));
    feed(block(3_000_000));
    feed(block(-50_000));
    feed(block(6_000_000));
    expect(events.map((e) => e.percent)).toEqual([40, 60]);
  });

  it('caps at 100 and falls back to out_time_ms / out_time', () => {
    const { events, feed } = setup(2);
    feed(['out_time_ms=1000000', 'progress=continue']);
    feed(['out_time=00:00:03.500000', 'progress=continue']);
    expect(events).toEqual([
      { percent: 50, outTimeSeconds: 1 },
      { percent: 100, outTimeSeconds: 3.5 },
    ]);
  });

  it('reports time with a null percent while the duration is unknown', () => {
    const { parser, events, feed } = setup(null);
    feed(block(1_000_000));
    feed(block(2_000_000));
    parser.finish();
    expect(events).toEqual([
      { percent: null, outTimeSeconds: 1 },
      { percent: null, outTimeSeconds: 2 },
      { percent: 100, outTimeSeconds: 2 },
    ]);
  });

  it('ignores junk lines', () => {
    const { events, feed } = setup();
    feed(['', '=', 'garbage', 'out_time_us=abc', 'progress=continue']);
    expect(events).toEqual([{ percent: 0, outTimeSeconds: 0 }]);
  });
});

describe('scrubPaths / ffmpegFailure', () => {
  it('replaces known paths with labels and hides any other absolute path', () => {
    const text =
      "[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55d722d8d3c0] moov atom not found\nfile:/srv/data/in.mp4: Invalid data\nopening '/etc/other.ts' failed";
    expect(scrubPaths(text, { '/srv/data/in.mp4': 'input' })).toBe(
      "[mov,mp4,m4a,3gp,3g2,mj2] moov atom not found\ninput: Invalid data\nopening '<path>' failed",
    );
  });

  it('quotes the cause, not the generic lines after it', () => {
    const stderr = [
      '[webm @ 0x55d722d8d3c0] Only VP8 or VP9 or AV1 video and Vorbis or Opus audio and WebVTT subtitles are supported for WebM.',
      'Could not write header for output file #0 (incorrect codec parameters ?): Invalid argument',
      'Error initializing output stream 0:1 -- ',
      '',
    ].join('\n');
    const err = ffmpegFailure('Merging video and audio', stderr, 1, {});
    expect(err.code).toBe('internal_error');
    expect(err.message).toBe(
      'Merging video and audio failed: Only VP8 or VP9 or AV1 video and Vorbis or Opus audio and WebVTT subtitles are supported for WebM.',
    );
    expect(err.details).toMatchObject({ tool: 'ffmpeg', exitCode: 1, reason: 'failed' });
    expect(ffmpegFailure('X', '', 1, {}).message).toBe('X failed: ffmpeg exited with code 1');
  });
});

describe('assertLocalPath', () => {
  it.each(['relative.mp4', './x.mp4', '', 'file:/x.mp4', 'http://127.0.0.1/x.mp4', '/tmp/a\nb.mp4', '/tmp/a\0b'])(
    'refuses %j',
    (p) => {
      expect(() => assertLocalPath(p, 'input')).toThrow('The input must be an absolute local path');
    },
  );
  it('accepts an absolute path', () => {
    expect(() => assertLocalPath('/tmp/some dir/ü.mp4', 'input')).not.toThrow();
  });
});

describe('codec tables', () => {
  it('knows what each container takes as it is', () => {
    expect(videoFits('mp4', 'h264')).toBe(true);
    expect(videoFits('mp4', 'vp9')).toBe(true);
    expect(videoFits('webm', 'h264')).toBe(false);
    expect(videoFits('mkv', 'anything')).toBe(true);
    expect(audioFits('mp4', 'opus')).toBe(true);
    expect(audioFits('mp4', 'flac')).toBe(false);
    expect(audioFits('mp4', 'vorbis')).toBe(false);
    expect(audioFits('webm', 'ac3')).toBe(false);
    expect(audioFits('webm', 'eac3')).toBe(false);
    expect(audioFits('webm', 'vorbis')).toBe(true);
    expect(audioOnlyFits('m4a', 'aac')).toBe(true);
    expect(audioOnlyFits('opus', 'vorbis')).toBe(false);
    expect(audioOnlyFits('mp3', null)).toBe(false);
  });

  it('picks the subtitle codec and language tag each container stores', () => {
    expect(subtitleCodec('mp4', '/x.srt')).toBe('mov_text');
    expect(subtitleCodec('webm', '/x.srt')).toBe('webvtt');
    expect(subtitleCodec('mkv', '/x.vtt')).toBe('srt');
    expect(subtitleCodec('mkv', '/x.ASS')).toBe('ass');
    expect(languageTag('mp4', 'en')).toBe('eng');
    expect(languageTag('mp4', 'pt-BR')).toBe('por');
    expect(languageTag('mp4', 'xx')).toBeNull();
    expect(languageTag('mkv', 'zh-Hans')).toBe('zh-Hans');
    expect(languageTag('webm', 'live_chat')).toBeNull();
    expect(languageTag('mkv', 'en;rm -rf')).toBeNull();
  });
});

describe('parseMediaInfo', () => {
  it('skips cover art when picking the video stream, and falls back to stream durations', () => {
    const info = parseMediaInfo({
      format: { format_name: 'mp3' },
      streams: [
        { index: 0, codec_type: 'audio', codec_name: 'mp3', sample_rate: '44100', channels: 2, duration: '3.5' },
        {
          index: 1,
          codec_type: 'video',
          codec_name: 'mjpeg',
          width: 300,
          height: 300,
          disposition: { attached_pic: 1 },
        },
      ],
    });
    expect(info).toMatchObject({ formatName: 'mp3', duration: 3.5, video: null, audio: { index: 0, channels: 2 } });
    expect(info.streams[1]).toMatchObject({ kind: 'video', attachedPic: true });
  });
});
