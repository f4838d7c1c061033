import { describe, expect, it } from 'vitest';
import type { ErrorCode } from '../../../src/errors/app-error.js';
import { cleanLine, lastErrorLine, ytdlpError } from '../../../src/extract/ytdlp/errors.js';

const REPORT =
  '; please report this issue on  https://github.com/yt-dlp/yt-dlp/issues?q= , filling out the appropriate issue template. Confirm you are on the latest version using  yt-dlp -U';

// Real yt-dlp ERROR lines (as printed by 2023.x–2024.x releases).
const CASES: Array<[string, ErrorCode]> = [
  ['ERROR: Unsupported URL: http://127.0.0.1:8080/plain.html', 'unsupported_url'],
  ["ERROR: [youtube] dQw4w9WgXcQ: Private video. Sign in if you've been granted access to this video", 'private'],
  ['ERROR: [vimeo] 123456: This video is private', 'private'],
  ['ERROR: [youtube] xxxxxxxxxxx: Video unavailable. This video has been removed by the uploader', 'removed'],
  [
    'ERROR: [youtube] xxxxxxxxxxx: Video unavailable. This video is no longer available because the YouTube account associated with this video has been terminated.',
    'removed',
  ],
  ["ERROR: [youtube] xxxxxxxxxxx: This video has been removed for violating YouTube's Terms of Service", 'removed'],
  ['ERROR: [youtube] xxxxxxxxxxx: Video unavailable', 'unavailable'],
  ['ERROR: [youtube] xxxxxxxxxxx: Video unavailable. This content isn’t available.', 'unavailable'],
  [
    `ERROR: [generic] None: Unable to download webpage: HTTP Error 404: Not Found (caused by <HTTPError 404: 'Not Found'>)${REPORT}`,
    'not_found',
  ],
  ['ERROR: [generic] None: Unable to download webpage: HTTP Error 410: Gone', 'removed'],
  [
    'ERROR: [youtube] xxxxxxxxxxx: Sign in to confirm your age. This video may be inappropriate for some users.',
    'age_restricted',
  ],
  [
    'ERROR: [youtube] xxxxxxxxxxx: Sign in to confirm you’re not a bot. Use --cookies-from-browser or --cookies for the authentication. See  https://github.com/yt-dlp/yt-dlp/wiki/FAQ#how-do-i-pass-cookies-to-yt-dlp  for how to manually pass cookies.',
    'login_required',
  ],
  [
    'ERROR: [Instagram] Cxxxxxxxxxx: Requested content is not available, rate-limit reached or login required. Use --cookies, --cookies-from-browser, --username and --password, --netrc-cmd, or --netrc (instagram) to provide account credentials',
    'login_required',
  ],
  [
    'ERROR: [TikTok] 7000000000000000000: This post may not be comfortable for some audiences. Log in for access',
    'login_required',
  ],
  [
    'ERROR: [youtube] xxxxxxxxxxx: Video unavailable. The uploader has not made this video available in your country',
    'region_blocked',
  ],
  [
    'ERROR: [BiliBili] BV1xx411c7mD: This video may be deleted or geo-restricted. You might want to try a VPN or a proxy server (with --proxy)',
    'region_blocked',
  ],
  ['ERROR: [youtube] xxxxxxxxxxx: This live event will begin in 3 hours.', 'live_not_started'],
  ['ERROR: [youtube] xxxxxxxxxxx: Premieres in 2 days', 'live_not_started'],
  ['ERROR: [twitch:stream] somechannel: The channel is not currently live', 'live_not_started'],
  [
    'ERROR: [youtube] xxxxxxxxxxx: Join this channel to get access to members-only content like this video, and other exclusive perks.',
    'payment_required',
  ],
  [`ERROR: [generic] None: Unable to download webpage: HTTP Error 429: Too Many Requests${REPORT}`, 'rate_limited'],
  [
    `ERROR: [generic] None: Unable to download webpage: timed out (caused by TimeoutError('timed out'))${REPORT}`,
    'upstream_timeout',
  ],
  [
    "ERROR: [youtube] xxxxxxxxxxx: Unable to download API page: HTTPSConnectionPool(host='www.youtube.com', port=443): Read timed out. (read timeout=20.0)",
    'upstream_timeout',
  ],
  ['ERROR: [generic] None: Unable to download webpage: HTTP Error 403: Forbidden', 'upstream_error'],
  [
    "ERROR: [generic] None: Unable to download webpage: <urlopen error [Errno 111] Connection refused> (caused by URLError(ConnectionRefusedError(111, 'Connection refused')))",
    'upstream_error',
  ],
];

describe('ytdlpError', () => {
  it.each(CASES)('%s → %s', (line, code) => {
    const err = ytdlpError(`[generic] Extracting URL: http://x\n${line}\n`);
    expect(err.code).toBe(code);
    expect((err.details as { reason: string }).reason).not.toMatch(/^ERROR:|please report/);
  });

  it('keeps the last ERROR line as the reason, even when a traceback follows', () => {
    const stderr = [
      'ERROR: [generic] None: first problem',
      'ERROR: [generic] None: HTTP Error 403: Forbidden',
      'Traceback (most recent call last):',
      '  File "/usr/lib/python3/dist-packages/yt_dlp/YoutubeDL.py", line 1, in x',
    ].join('\n');
    const err = ytdlpError(stderr);
    expect(err.code).toBe('upstream_error');
    expect(err.details).toEqual({ reason: '[generic] None: HTTP Error 403: Forbidden' });
  });

  it('falls back to upstream_error with an empty reason on empty stderr', () => {
    const err = ytdlpError('');
    expect(err.code).toBe('upstream_error');
    expect(err.message).toBe('yt-dlp failed');
  });
});

describe('cleanLine', () => {
  it('hides local paths but keeps URLs', () => {
    const line = cleanLine(
      "ERROR: unable to open for writing: [Errno 13] Permission denied: '/home/app/.cache/yt-dlp/x.json' for https://example.com/a/b?next=/c/d",
    );
    expect(line).toBe(
      "unable to open for writing: [Errno 13] Permission denied: '<path>' for https://example.com/a/b?next=/c/d",
    );
    expect(cleanLine('ERROR: could not read C:\\Users\\me\\cookies.txt')).toBe('could not read <path>');
  });

  it('lastErrorLine takes the last non-empty line when there is no ERROR line', () => {
    expect(lastErrorLine('one\n  two  \n\n')).toBe('two');
  });
});
