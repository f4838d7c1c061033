/**
 * Platform cookies below the API: the Netscape parser (good and bad files),
 * which cookies a URL gets, the HTTP client adding them per hop, and yt-dlp
 * (the real one) receiving them as a private temporary file, for extraction
 * and for downloads.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors/app-error.js';
import {
  formatNetscapeCookies,
  MAX_COOKIE_FILE_BYTES,
  MAX_COOKIES,
  parseNetscapeCookies,
  type Cookie,
} from '../../src/extract/cookies/netscape.js';
import { cookieHeaderFor } from '../../src/extract/cookies/match.js';
import { COOKIE_DIR_PREFIX } from '../../src/extract/cookies/cookie-file.js';
import { createYtdlpExtractor } from '../../src/extract/ytdlp/extractor.js';
import { downloadWithYtdlp } from '../../src/delivery/downloader/ytdlp-download.js';
import { HttpClient } from '../../src/infra/http-client/http-client.js';
import { makeMedia, type MediaFile } from '../support/media.js';
import { ReplayServer } from '../support/replay-server.js';
import { serveFile } from '../support/serve-file.js';

const FUTURE = Math.floor(Date.now() / 1000) + 365 * 24 * 3600;
const PAST = Math.floor(Date.now() / 1000) - 3600;
const line = (...fields: (string | number)[]): string => fields.join('\t');

function parseError(text: string): AppError {
  try {
    parseNetscapeCookies(text);
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    return err as AppError;
  }
  throw new Error('expected the file to be refused');
}

// ---------------------------------------------------------------- parser

describe('parseNetscapeCookies: good files', () => {
  it('reads a typical export: header comments, blank lines, #HttpOnly_, CRLF', () => {
    const text = [
      '# Netscape HTTP Cookie File',
      '# https://curl.se/docs/http-cookies.html',
      '',
      line('.youtube.com', 'TRUE', '/', 'TRUE', FUTURE, 'SID', 'abc.def-ghi'),
      line('#HttpOnly_.youtube.com', 'TRUE', '/', 'TRUE', FUTURE, 'HSID', 'A1b2'),
      '   ',
      line('www.youtube.com', 'FALSE', '/feed', 'FALSE', 0, 'PREF', 'f6=40000000&hl=en'),
      '',
    ].join('\r\n');
    expect(parseNetscapeCookies(text)).toEqual<Cookie[]>([
      {
        domain: 'youtube.com',
        hostOnly: false,
        path: '/',
        secure: true,
        httpOnly: false,
        expires: FUTURE,
        name: 'SID',
        value: 'abc.def-ghi',
      },
      {
        domain: 'youtube.com',
        hostOnly: false,
        path: '/',
        secure: true,
        httpOnly: true,
        expires: FUTURE,
        name: 'HSID',
        value: 'A1b2',
      },
      {
        domain: 'www.youtube.com',
        hostOnly: true,
        path: '/feed',
        secure: false,
        httpOnly: false,
        expires: 0,
        name: 'PREF',
        value: 'f6=40000000&hl=en',
      },
    ]);
  });

  it.each<[string, string, Partial<Cookie>]>([
    ['a byte-order mark', `\uFEFF${line('.a.com', 'TRUE', '/', 'FALSE', 0, 'n', 'v')}`, { domain: 'a.com' }],
    ['an empty value', line('.a.com', 'TRUE', '/', 'FALSE', 0, 'n', ''), { value: '' }],
    ['lower-case booleans', line('.a.com', 'true', '/', 'false', 0, 'n', 'v'), { hostOnly: false, secure: false }],
    ['a fractional expiry', line('.a.com', 'TRUE', '/', 'FALSE', '1767225600.75', 'n', 'v'), { expires: 1767225600 }],
    ['an upper-case domain', line('.WWW.A.COM', 'TRUE', '/', 'FALSE', 0, 'n', 'v'), { domain: 'www.a.com' }],
    ['an IP address', line('127.0.0.1', 'FALSE', '/', 'FALSE', 0, 'n', 'v'), { domain: '127.0.0.1', hostOnly: true }],
    ['spaces and = in a value', line('.a.com', 'TRUE', '/', 'FALSE', 0, 'n', 'a b=c'), { value: 'a b=c' }],
  ])('accepts %s', (_name, text, expected) => {
    const [cookie] = parseNetscapeCookies(text);
    expect(cookie).toMatchObject(expected);
  });

  it('keeps the last of duplicate cookies (same domain, path and name)', () => {
    const text = [
      line('.a.com', 'TRUE', '/', 'FALSE', 0, 'n', 'first'),
      line('.a.com', 'TRUE', '/x', 'FALSE', 0, 'n', 'other-path'),
      line('.a.com', 'TRUE', '/', 'FALSE', 0, 'n', 'second'),
    ].join('\n');
    expect(parseNetscapeCookies(text).map((c) => c.value)).toEqual(['other-path', 'second']);
  });

  it('accepts exactly the cookie limit', () => {
    const lines = Array.from({ length: MAX_COOKIES }, (_, i) => line('.a.com', 'TRUE', '/', 'FALSE', 0, `c${i}`, 'v'));
    expect(parseNetscapeCookies(lines.join('\n'))).toHaveLength(MAX_COOKIES);
  });

  it('formats back into a file that parses to the same cookies (leading dot iff subdomains)', () => {
    const text = [
      line('#HttpOnly_.a.com', 'TRUE', '/', 'TRUE', FUTURE, 'h', '1'),
      line('www.a.com', 'FALSE', '/p', 'FALSE', 0, 's', '2'),
    ].join('\n');
    const cookies = parseNetscapeCookies(text);
    const formatted = formatNetscapeCookies(cookies);
    expect(formatted).toContain(line('#HttpOnly_.a.com', 'TRUE', '/', 'TRUE', FUTURE, 'h', '1'));
    expect(formatted).toContain(line('www.a.com', 'FALSE', '/p', 'FALSE', 0, 's', '2'));
    expect(parseNetscapeCookies(formatted)).toEqual(cookies);
  });
});

describe('parseNetscapeCookies: bad files name the line', () => {
  const ok = line('.a.com', 'TRUE', '/', 'FALSE', 0, 'ok', 'v');
  it.each<[string, string, RegExp]>([
    ['six fields', line('.a.com', 'TRUE', '/', 'FALSE', 0, 'n'), /7 tab-separated fields, found 6/],
    ['eight fields', line('.a.com', 'TRUE', '/', 'FALSE', 0, 'n', 'v', 'x'), /found 8/],
    ['spaces for tabs', '.a.com TRUE / FALSE 0 n v', /found 1/],
    ['an invalid domain', line('exa mple.com', 'TRUE', '/', 'FALSE', 0, 'n', 'v'), /invalid domain/],
    ['an empty domain', line('', 'TRUE', '/', 'FALSE', 0, 'n', 'v'), /invalid domain/],
    ['a bad subdomain flag', line('.a.com', 'YES', '/', 'FALSE', 0, 'n', 'v'), /include-subdomains/],
    ['a relative path', line('.a.com', 'TRUE', 'x', 'FALSE', 0, 'n', 'v'), /path/],
    ['a bad secure flag', line('.a.com', 'TRUE', '/', '1', 0, 'n', 'v'), /secure/],
    ['a negative expiry', line('.a.com', 'TRUE', '/', 'FALSE', -1, 'n', 'v'), /expires/],
    ['a text expiry', line('.a.com', 'TRUE', '/', 'FALSE', 'soon', 'n', 'v'), /expires/],
    ['an empty name', line('.a.com', 'TRUE', '/', 'FALSE', 0, '', 'v'), /cookie name/],
    ['a name with a space', line('.a.com', 'TRUE', '/', 'FALSE', 0, 'a b', 'v'), /cookie name/],
    ['a ; in a value (header injection)', line('.a.com', 'TRUE', '/', 'FALSE', 0, 'n', 'v; admin=1'), /value/],
    ['a control character', line('.a.com', 'TRUE', '/', 'FALSE', 0, 'n', 'v\x01'), /value/],
    ['a lone CR inside a value', line('.a.com', 'TRUE', '/', 'FALSE', 0, 'n', 'v\rX-Evil: 1'), /value/],
    ['a non-ASCII value', line('.a.com', 'TRUE', '/', 'FALSE', 0, 'n', 'héllo'), /value/],
  ])('%s', (_name, bad, message) => {
    const err = parseError(['# header', '', ok, bad, ok].join('\n'));
    expect(err.code).toBe('validation_failed');
    expect(err.message).toMatch(/^Cookie file line 4: /);
    expect(err.message).toMatch(message);
    expect(err.details).toEqual({ line: 4 });
  });

  it('counts lines the same with CRLF endings', () => {
    const err = parseError(['# header', ok, 'garbage'].join('\r\n'));
    expect(err.details).toEqual({ line: 3 });
  });

  it('refuses a file with no cookies', () => {
    expect(parseError('# Netscape HTTP Cookie File\n\n# nothing else\n').message).toMatch(/no cookies/);
    expect(parseError('').message).toMatch(/no cookies/);
  });

  it('refuses more than the cookie limit, naming the line that overflows', () => {
    const lines = Array.from({ length: MAX_COOKIES + 1 }, (_, i) =>
      line('.a.com', 'TRUE', '/', 'FALSE', 0, `c${i}`, 'v'),
    );
    const err = parseError(['# header', ...lines].join('\n'));
    expect(err.message).toMatch(new RegExp(`more than ${MAX_COOKIES} cookies`));
    expect(err.details).toEqual({ line: MAX_COOKIES + 2 });
  });

  it('refuses a file over 1 MiB', () => {
    const big = `# ${'x'.repeat(MAX_COOKIE_FILE_BYTES)}\n${ok}`;
    expect(parseError(big).message).toMatch(/larger than 1048576 bytes/);
  });
});

// ---------------------------------------------------------------- matching

describe('cookieHeaderFor', () => {
  const cookies = parseNetscapeCookies(
    [
      line('.example.com', 'TRUE', '/', 'FALSE', 0, 'domain', '1'),
      line('www.example.com', 'FALSE', '/', 'FALSE', FUTURE, 'hostonly', '2'),
      line('.example.com', 'TRUE', '/api', 'FALSE', 0, 'api', '3'),
      line('.example.com', 'TRUE', '/', 'TRUE', FUTURE, 'secure', '4'),
      line('.example.com', 'TRUE', '/', 'FALSE', PAST, 'expired', '5'),
      line('.other.org', 'TRUE', '/', 'FALSE', 0, 'other', '6'),
      line('127.0.0.1', 'FALSE', '/', 'FALSE', 0, 'ip', '7'),
    ].join('\n'),
  );
  it.each<[string, string | undefined]>([
    ['https://example.com/', 'domain=1; secure=4'],
    ['https://www.example.com/watch', 'domain=1; hostonly=2; secure=4'],
    ['https://a.b.example.com/', 'domain=1; secure=4'],
    ['http://www.example.com/', 'domain=1; hostonly=2'],
    ['https://example.com/api', 'api=3; domain=1; secure=4'],
    ['https://example.com/api/v1?x=1', 'api=3; domain=1; secure=4'],
    ['https://example.com/apix', 'domain=1; secure=4'],
    ['https://notexample.com/', undefined],
    ['https://example.com.evil.net/', undefined],
    ['https://other.org/', 'other=6'],
    ['http://127.0.0.1:8080/x', 'ip=7'],
    ['http://1.127.0.0.1.example.net/', undefined],
  ])('%s → %s', (url, expected) => {
    expect(cookieHeaderFor(cookies, new URL(url))).toBe(expected);
  });

  it('stops sending a cookie once it expires', () => {
    const url = new URL('https://www.example.com/');
    expect(cookieHeaderFor(cookies, url, FUTURE - 1)).toBe('domain=1; hostonly=2; secure=4');
    expect(cookieHeaderFor(cookies, url, FUTURE)).toBe('domain=1');
  });
});

// ---------------------------------------------------------------- the HTTP client

describe('HttpClient.withCookies', () => {
  let replay: ReplayServer;
  let base: HttpClient;
  beforeAll(async () => {
    const redirectTo =
      (location: string) =>
      (_req: unknown, res: import('node:http').ServerResponse): void => {
        res.writeHead(302, { location });
        res.end();
      };
    replay = await new ReplayServer([
      { name: 'start', method: 'GET', host: 'www.example.com', path: '/start', handler: redirectTo('/api/next') },
      {
        name: 'next',
        method: 'GET',
        host: 'www.example.com',
        path: '/api/next',
        handler: redirectTo('https://cdn.elsewhere.net/file'),
      },
      { name: 'cdn', method: 'GET', host: 'cdn.elsewhere.net', path: '/file', body: 'ok' },
    ]).start();
    base = new HttpClient({ upstreamRewrite: replay.url });
  });
  afterAll(async () => {
    await base.close();
    await replay.stop();
  });

  it('picks the cookies per hop: each redirect target gets its own, other hosts none', async () => {
    const cookies = parseNetscapeCookies(
      [
        line('.example.com', 'TRUE', '/', 'TRUE', 0, 'sid', 's'),
        line('.example.com', 'TRUE', '/api', 'TRUE', 0, 'api', 'a'),
      ].join('\n'),
    );
    const client = base.withCookies((url) => cookieHeaderFor(cookies, url));
    const { text } = await client.getText('https://www.example.com/start', { headers: { Cookie: 'own=1' } });
    expect(text).toBe('ok');
    const seen = replay.requests.map((r) => [r.route, r.headers.cookie]);
    expect(seen).toEqual([
      ['start', 'own=1; sid=s'],
      ['next', 'own=1; api=a; sid=s'],
      ['cdn', 'own=1'],
    ]);
    // the derived client shares the pool; closing it leaves the base usable
    await client.close();
    expect((await base.getText('https://cdn.elsewhere.net/file')).text).toBe('ok');
    expect(replay.requests.at(-1)!.headers.cookie).toBeUndefined();
  });
});

// ---------------------------------------------------------------- yt-dlp

describe('yt-dlp gets the cookies as a private temporary file', () => {
  let workDir: string;
  let wrapper: string;
  let argLog: string;
  let replay: ReplayServer;
  let mp4: MediaFile;
  const cookies = parseNetscapeCookies(
    [
      line('127.0.0.1', 'FALSE', '/', 'FALSE', 0, 'gen', 'yes'),
      line('.example.com', 'TRUE', '/', 'FALSE', 0, 'elsewhere', 'no'),
    ].join('\n'),
  );

  /** What the wrapper saw: the --cookies path, the file's mode and its directory's. */
  const seenFiles = (): { file: string; mode: string; dirMode: string; content: string }[] =>
    existsSync(argLog)
      ? readFileSync(argLog, 'utf8')
          .trim()
          .split('\n')
          .map((l) => {
            const [file, mode, dirMode, ...content] = l.split(' ');
            return { file: file!, mode: mode!, dirMode: dirMode!, content: content.join(' ') };
          })
      : [];

  beforeAll(async () => {
    workDir = mkdtempSync(path.join(os.tmpdir(), 'ytbh-cookie-ytdlp-'));
    argLog = path.join(workDir, 'args.log');
    wrapper = path.join(workDir, 'yt-dlp-wrapper.sh');
    // A pass-through to the real yt-dlp that notes the cookie file while it exists.
    writeFileSync(
      wrapper,
      [
        '#!/bin/sh',
        'prev=',
        'for a in "$@"; do',
        '  if [ "$prev" = "--cookies" ]; then',
        `    echo "$a $(stat -c %a "$a") $(stat -c %a "$(dirname "$a")") $(grep -c gen "$a")" >> '${argLog}'`,
        '  fi',
        '  prev=$a',
        'done',
        `exec '${process.env.YTDLP_PATH ?? 'yt-dlp'}' "$@"`,
        '',
      ].join('\n'),
    );
    chmodSync(wrapper, 0o755);
    mp4 = await makeMedia(workDir, { durationS: 2, width: 160, height: 120, kind: 'muxed', container: 'mp4' });
    replay = await new ReplayServer([
      {
        name: 'clip',
        method: 'GET',
        host: 'media.test',
        path: '/clip.mp4',
        handler: (req, res) => serveFile(mp4.path, req, res),
      },
      { name: 'clip-head', method: 'HEAD', host: 'media.test', path: '/clip.mp4', body: '' },
    ]).start();
  });
  afterAll(async () => {
    await replay?.stop();
    await http.close();
    rmSync(workDir, { recursive: true, force: true });
  });

  const clipUrl = (): string => `${replay.url}/media.test/clip.mp4`;
  const http = new HttpClient();
  const log = pino({ level: 'silent' });
  const extractor = () =>
    createYtdlpExtractor({ ytdlpPath: wrapper, timeoutMs: 60_000, allowPrivateAddresses: true, probe: false });

  it('extraction: yt-dlp sends the matching cookie; the file was 0600 in a 0700 dir and is gone', async () => {
    const engine = extractor();
    const url = new URL(clipUrl());
    const before = replay.requests.length;
    const info = await engine.extract(engine.match(url)!, { http, log, cookies });
    expect(info.formats.length).toBeGreaterThan(0);
    const sent = replay.requests.slice(before).map((r) => r.headers.cookie);
    expect(sent.length).toBeGreaterThan(0);
    expect(sent.every((c) => c === 'gen=yes')).toBe(true);

    const [seen] = seenFiles();
    expect(seen).toMatchObject({ mode: '600', dirMode: '700', content: '1' });
    expect(path.basename(path.dirname(seen!.file))).toMatch(new RegExp(`^${COOKIE_DIR_PREFIX}`));
    expect(existsSync(seen!.file)).toBe(false);
    expect(existsSync(path.dirname(seen!.file))).toBe(false);
  });

  it('extraction without cookies passes no --cookies', async () => {
    const engine = extractor();
    const filesBefore = seenFiles().length;
    const before = replay.requests.length;
    await engine.extract(engine.match(new URL(clipUrl()))!, { http, log });
    expect(seenFiles()).toHaveLength(filesBefore);
    expect(replay.requests.slice(before).every((r) => r.headers.cookie === undefined)).toBe(true);
  });

  it('download: downloadWithYtdlp loads the cookies, hands them over, removes the file', async () => {
    const dir = mkdtempSync(path.join(workDir, 'dl-'));
    const filesBefore = seenFiles().length;
    const before = replay.requests.length;
    let loads = 0;
    const file = await downloadWithYtdlp({
      allowPrivateAddresses: true, // the test servers are on loopback
      pageUrl: clipUrl(),
      formatId: 'best',
      dir,
      basename: 'part0',
      ytdlpPath: wrapper,
      loadCookies: () => {
        loads++;
        return Promise.resolve(cookies);
      },
    });
    expect(loads).toBe(1);
    expect(readFileSync(file).equals(readFileSync(mp4.path))).toBe(true);
    const sent = replay.requests.slice(before).map((r) => r.headers.cookie);
    expect(sent.length).toBeGreaterThan(0);
    expect(sent.every((c) => c === 'gen=yes')).toBe(true);
    const seen = seenFiles().slice(filesBefore);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ mode: '600', dirMode: '700' });
    expect(existsSync(path.dirname(seen[0]!.file))).toBe(false);
  });

  it('the file is removed when yt-dlp fails too', async () => {
    const engine = extractor();
    const filesBefore = seenFiles().length;
    const missing = new URL(`${replay.url}/media.test/missing.mp4`);
    await expect(engine.extract(engine.match(missing)!, { http, log, cookies })).rejects.toBeInstanceOf(AppError);
    const seen = seenFiles().slice(filesBefore);
    expect(seen).toHaveLength(1);
    expect(existsSync(path.dirname(seen[0]!.file))).toBe(false);
  });
});
