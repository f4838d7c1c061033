/**
 * The SSRF guard: the standalone checks (isPrivateAddress, parseUserUrl,
 * assertPublicUrl, guardedDispatcher) and `guard: true` on HttpClient
 * requests, against a real echo server on 127.0.0.1.
 *
 * No traffic leaves loopback: public addresses are only parsed (never
 * connected to), literal IPs are refused before any connect, the only names
 * resolved are `localhost` and /etc/hosts entries (no DNS queries), and the
 * guarded requests that start at a "public" URL go through the upstream
 * rewrite to the local echo server.
 */
import http from 'node:http';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { fetch as undiciFetch } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors/app-error.js';
import { HttpClient } from '../../src/infra/http-client/http-client.js';
import { rewriteUrl } from '../../src/infra/http-client/upstream-rewrite.js';
import {
  assertPublicUrl,
  guardedDispatcher,
  isPrivateAddress,
  MAX_URL_LENGTH,
  parseUserUrl,
} from '../../src/infra/http-client/ssrf-guard.js';

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
}

async function catchError(p: Promise<unknown> | (() => unknown)): Promise<AppError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    return err as AppError;
  }
  throw new Error('expected an AppError');
}

/** Names /etc/hosts maps to loopback (resolved from the file, so no DNS query), other than localhost. */
function loopbackHostsNames(): string[] {
  let text = '';
  try {
    text = readFileSync('/etc/hosts', 'utf8');
  } catch {
    return [];
  }
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const [addr, ...rest] = line.replace(/#.*/, '').trim().split(/\s+/);
    if (!addr || !(addr.startsWith('127.') || addr === '::1')) continue;
    for (const n of rest)
      if (n && n !== 'localhost' && !n.endsWith('.localhost') && !n.includes(':')) names.add(n.toLowerCase());
  }
  return [...names];
}
const HOSTS_NAMES = loopbackHostsNames();

describe('isPrivateAddress', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.0.0.2', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['10.0.0.1', 'private 10/8'],
    ['10.255.255.255', 'private 10/8'],
    ['172.16.0.1', 'private 172.16/12'],
    ['172.20.10.5', 'private 172.16/12'],
    ['172.31.255.255', 'private 172.16/12'],
    ['192.168.0.1', 'private 192.168/16'],
    ['192.168.255.254', 'private 192.168/16'],
    ['169.254.0.1', 'link-local'],
    ['169.254.169.254', 'cloud metadata'],
    ['100.64.0.1', 'CGNAT'],
    ['100.127.255.254', 'CGNAT'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast (SSDP)'],
    ['240.0.0.1', 'reserved 240/4'],
    ['255.255.255.255', 'broadcast'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'this network 0/8'],
    ['192.0.2.1', 'TEST-NET-1'],
    ['198.51.100.7', 'TEST-NET-2'],
    ['203.0.113.9', 'TEST-NET-3'],
    ['198.18.0.1', 'benchmarking'],
    ['192.0.0.1', 'IETF protocol assignments'],
    ['::1', 'IPv6 loopback'],
    ['::', 'IPv6 unspecified'],
    ['fc00::1', 'IPv6 ULA'],
    ['fd12:3456:789a::1', 'IPv6 ULA'],
    ['fd00:ec2::254', 'AWS IPv6 metadata (ULA)'],
    ['fe80::1', 'IPv6 link-local'],
    ['fe80::1%eth0', 'IPv6 link-local with zone'],
    ['ff02::1', 'IPv6 multicast'],
    ['::ffff:127.0.0.1', 'IPv4-mapped loopback'],
    ['::ffff:7f00:1', 'IPv4-mapped loopback (hex)'],
    ['::ffff:10.0.0.1', 'IPv4-mapped private'],
    ['::ffff:169.254.169.254', 'IPv4-mapped metadata'],
    ['64:ff9b::7f00:1', 'NAT64 of loopback'],
    ['2002:7f00:1::', '6to4 of loopback'],
    ['2001:db8::1', 'IPv6 documentation'],
    ['2130706433', 'decimal 127.0.0.1'],
    ['0x7f000001', 'hex 127.0.0.1'],
    ['127.1', 'short 127.0.0.1'],
    ['not-an-ip', 'not an address'],
    ['', 'empty'],
    ['localhost', 'a name, not an address'],
  ])('%s (%s) is blocked', (address) => {
    expect(isPrivateAddress(address)).toBe(true);
  });

  it.each([
    '8.8.8.8',
    '1.1.1.1',
    '9.9.9.9',
    '93.184.215.14',
    '172.15.255.255',
    '172.32.0.1',
    '100.63.255.255',
    '100.128.0.1',
    '169.253.255.255',
    '11.0.0.1',
    '2606:4700:4700::1111',
    '2001:4860:4860::8888',
    '2a00:1450:4001:80b::200e',
    '::ffff:8.8.8.8',
  ])('%s is a public address', (address) => {
    expect(isPrivateAddress(address)).toBe(false);
  });
});

describe('parseUserUrl', () => {
  it.each([
    ['ftp scheme', 'ftp://example.com/file'],
    ['file scheme', 'file:///etc/passwd'],
    ['javascript scheme', 'javascript:alert(1)'],
    ['data scheme', 'data:text/html,<script>alert(1)</script>'],
    ['gopher scheme', 'gopher://127.0.0.1:6379/_FLUSHALL'],
    ['ws scheme', 'ws://example.com/socket'],
    ['mailto scheme', 'mailto:someone@example.com'],
    ['dict scheme', 'dict://127.0.0.1:11211/stats'],
    ['user and password', 'https://user:pass@www.youtube.com/watch?v=x'],
    ['user only', 'https://user@www.youtube.com/'],
    ['password only', 'https://:pass@www.youtube.com/'],
    ['credentials hiding the real host', 'https://www.youtube.com@evil.example/'],
    ['over 2048 characters', `https://www.youtube.com/watch?v=${'a'.repeat(MAX_URL_LENGTH)}`],
    ['NUL', 'https://www.youtube.com/\u0000watch'],
    ['CR', 'https://www.youtube.com/watch\r?v=x'],
    ['LF', 'https://www.youtube.com/\nwatch'],
    ['CRLF header injection', 'https://www.youtube.com/\r\nX-Injected: 1'],
    ['TAB', 'https://www.you\ttube.com/'],
    ['ESC', 'https://www.youtube.com/\u001b[0m'],
    ['DEL', 'https://www.youtube.com/\u007f'],
    ['empty', ''],
    ['whitespace only', '   '],
    ['relative path', '/watch?v=x'],
    ['scheme-relative', '//www.youtube.com/watch?v=x'],
    ['no scheme', 'www.youtube.com/watch?v=x'],
    ['no host', 'http://'],
    ['broken IPv6', 'http://[::1/'],
    ['not a string', undefined as unknown as string],
  ])('refuses %s', async (_name, raw) => {
    const err = await catchError(() => parseUserUrl(raw));
    expect(err.code).toBe('invalid_url');
    expect(err.statusCode).toBe(400);
  });

  it.each([
    ['https://www.youtube.com/watch?v=dQw4w9WgXcQ', 'www.youtube.com'],
    ['http://example.com', 'example.com'],
    ['  https://www.bilibili.com/video/BV1xx411c7mD  ', 'www.bilibili.com'],
    ['HTTPS://WWW.YouTube.COM/watch?v=x', 'www.youtube.com'],
    ['https://bücher.example/', 'xn--bcher-kva.example'],
    ['https://[2606:4700:4700::1111]/', '[2606:4700:4700::1111]'],
  ])('accepts %j', (raw, hostname) => {
    const url = parseUserUrl(raw);
    expect(url).toBeInstanceOf(URL);
    expect(url.hostname).toBe(hostname);
  });

  it('accepts exactly 2048 characters and refuses 2049', () => {
    const prefix = 'https://www.youtube.com/watch?v=';
    const exact = prefix + 'a'.repeat(MAX_URL_LENGTH - prefix.length);
    expect(MAX_URL_LENGTH).toBe(2048);
    expect(exact).toHaveLength(2048);
    expect(parseUserUrl(exact).href).toBe(exact);
    expect(() => parseUserUrl(`${exact}a`)).toThrow(AppError);
  });

  it('checks shape only: private hosts are assertPublicUrl’s job', () => {
    expect(parseUserUrl('http://127.0.0.1:8080/x').hostname).toBe('127.0.0.1');
  });
});

describe('assertPublicUrl', () => {
  it.each([
    // The WHATWG parser normalises the legacy IPv4 forms, so the guard sees a dotted quad.
    ['http://2130706433/', '127.0.0.1'],
    ['http://0x7f.1/', '127.0.0.1'],
    ['http://0177.0.0.1/', '127.0.0.1'],
    ['http://0x7f000001/', '127.0.0.1'],
    ['http://017700000001/', '127.0.0.1'],
    ['http://127.1/', '127.0.0.1'],
    ['http://0/', '0.0.0.0'],
    ['http://0xa9fea9fe/', '169.254.169.254'],
    ['http://[::ffff:127.0.0.1]/', '[::ffff:7f00:1]'],
    ['http://[0:0:0:0:0:0:0:1]/', '[::1]'],
    ['http://LOCALHOST/', 'localhost'],
  ])('the URL parser normalises %s to %s', (raw, hostname) => {
    expect(new URL(raw).hostname).toBe(hostname);
  });

  it.each([
    'http://127.0.0.1/',
    'http://127.0.0.1:6379/',
    'https://127.9.9.9/',
    'http://10.0.0.1/',
    'http://172.16.5.4/',
    'http://192.168.1.1/admin',
    'http://169.254.169.254/latest/meta-data/iam/security-credentials/',
    'http://100.64.0.1/',
    'http://224.0.0.251/',
    'http://240.0.0.1/',
    'http://255.255.255.255/',
    'http://0.0.0.0:8080/',
    'http://[::1]/',
    'http://[::]/',
    'http://[fd00::1]/',
    'http://[fe80::1]/',
    'http://[ff02::1]/',
    'http://[::ffff:127.0.0.1]/',
    'http://[::ffff:169.254.169.254]/',
    'http://2130706433/',
    'http://0x7f.1/',
    'http://0177.0.0.1/',
    'http://0xa9fea9fe/',
    'http://127.1/',
    'http://localhost/',
    'http://localhost:3000/',
    'http://LocalHost/',
    'http://foo.localhost/',
    'http://a.b.localhost/',
  ])('refuses %s', async (raw) => {
    const err = await catchError(assertPublicUrl(new URL(raw), false));
    expect(err.code).toBe('invalid_url');
  });

  it('refuses names that resolve to loopback (localhost and /etc/hosts entries)', async () => {
    for (const name of ['localhost', ...HOSTS_NAMES]) {
      const err = await catchError(assertPublicUrl(new URL(`http://${name}:8080/`), false));
      expect(err.code, name).toBe('invalid_url');
    }
  });

  it.each([
    'https://8.8.8.8/',
    'http://1.1.1.1:8080/x',
    'https://[2606:4700:4700::1111]/',
    'https://[::ffff:8.8.8.8]/',
  ])('allows the public literal %s (checked without any I/O)', async (raw) => {
    await expect(assertPublicUrl(new URL(raw), false)).resolves.toBeUndefined();
  });

  it('allows everything with allowPrivate', async () => {
    for (const raw of [
      'http://127.0.0.1/',
      'http://169.254.169.254/',
      'http://localhost/',
      'http://[::1]/',
      'http://10.0.0.1/',
    ]) {
      await expect(assertPublicUrl(new URL(raw), true)).resolves.toBeUndefined();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Request level

let echo: { url: string; port: number; seen: Seen[]; routes: Map<string, (res: http.ServerResponse) => void> };
let server: http.Server;
/** Guarded client whose rewrite points at the echo server. */
let rewritten: HttpClient;
/** Guarded client without a rewrite. */
let direct: HttpClient;

beforeAll(async () => {
  const seen: Seen[] = [];
  const routes = new Map<string, (res: http.ServerResponse) => void>();
  server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const entry: Seen = { method: req.method ?? '', url: req.url ?? '', headers: req.headers };
      seen.push(entry);
      const route = routes.get(new URL(req.url ?? '/', 'http://x').pathname);
      if (route) return route(res);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(entry));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as AddressInfo).port;
  echo = { url: `http://127.0.0.1:${port}`, port, seen, routes };
  rewritten = new HttpClient({ upstreamRewrite: echo.url });
  direct = new HttpClient();
  // Precondition: "public" targets below are sent to loopback, never to the internet.
  for (const target of ['https://8.8.8.8/start', 'https://1.1.1.1/x', 'ftp://8.8.8.8/x']) {
    expect(rewriteUrl(target, echo.url).url.startsWith(`${echo.url}/`)).toBe(true);
  }
});

afterAll(async () => {
  await rewritten.close();
  await direct.close();
  await new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
});

beforeEach(() => {
  echo.seen.length = 0;
  echo.routes.clear();
});

function redirectTo(location: string, status = 302) {
  return (res: http.ServerResponse) => {
    res.writeHead(status, { location });
    res.end();
  };
}

/** Private targets, all pointing at the echo server's port where a connect could succeed. */
function privateTargets(): string[] {
  const p = echo.port;
  return [
    `http://127.0.0.1:${p}/x`,
    `http://127.0.0.1:${p}/x`.replace('http:', 'https:'),
    `http://localhost:${p}/x`,
    `http://sub.localhost:${p}/x`,
    `http://2130706433:${p}/x`,
    `http://0x7f.1:${p}/x`,
    `http://0177.0.0.1:${p}/x`,
    `http://127.1:${p}/x`,
    `http://0.0.0.0:${p}/x`,
    `http://[::1]:${p}/x`,
    `http://[::ffff:127.0.0.1]:${p}/x`,
    'http://169.254.169.254/latest/meta-data/',
    'http://10.0.0.1/',
    'http://192.168.0.1/',
    'http://[fd00::1]/',
    ...HOSTS_NAMES.map((n) => `http://${n}:${p}/x`),
  ];
}

describe('guard: true on a request', () => {
  it('refuses every private target before connecting', async () => {
    for (const target of privateTargets()) {
      const err = await catchError(direct.request(target, { guard: true }));
      expect(err.code, target).toBe('invalid_url');
    }
    expect(echo.seen).toEqual([]);
  });

  it('refuses private targets through the rewrite too (loopback is never rewritten, so it would connect)', async () => {
    for (const target of privateTargets()) {
      const err = await catchError(rewritten.request(target, { guard: true }));
      expect(err.code, target).toBe('invalid_url');
    }
    expect(echo.seen).toEqual([]);
  });

  it('is opt-in: without guard the same client reaches loopback', async () => {
    const res = await direct.request(`${echo.url}/unguarded`);
    expect(res.status).toBe(200);
    await res.body?.cancel();
    expect(echo.seen.map((s) => s.url)).toEqual(['/unguarded']);
  });

  it('lets a public literal through (via the rewrite, so nothing leaves loopback)', async () => {
    const body = await rewritten.json<Seen>('https://8.8.8.8/resolve?name=x', { guard: true });
    expect(body.url).toBe('/8.8.8.8/resolve?name=x');
    expect(body.headers['x-upstream-host']).toBe('8.8.8.8');
  });

  it('re-checks every hop: public → public is followed, each hop rewritten', async () => {
    echo.routes.set('/8.8.8.8/start', redirectTo('https://1.1.1.1/next?y=1'));
    echo.routes.set('/1.1.1.1/next', redirectTo('https://[2606:4700:4700::1111]/last', 307));
    const body = await rewritten.json<Seen>('https://8.8.8.8/start', { guard: true });
    expect(body.url).toBe('/[2606:4700:4700::1111]/last');
    expect(echo.seen.map((s) => [s.url, s.headers['x-upstream-host']])).toEqual([
      ['/8.8.8.8/start', '8.8.8.8'],
      ['/1.1.1.1/next?y=1', '1.1.1.1'],
      ['/[2606:4700:4700::1111]/last', '[2606:4700:4700::1111]'],
    ]);
  });

  it('a redirect to a private address is invalid_url, and the private hop is never requested', async () => {
    for (const [i, target] of privateTargets().entries()) {
      for (const status of [301, 302, 303, 307, 308]) {
        echo.seen.length = 0;
        echo.routes.set('/8.8.8.8/start', redirectTo(target, status));
        const err = await catchError(rewritten.request(`https://8.8.8.8/start?i=${i}`, { guard: true }));
        expect(err.code, `${status} → ${target}`).toBe('invalid_url');
        expect(echo.seen.map((s) => s.url)).toEqual([`/8.8.8.8/start?i=${i}`]);
      }
    }
  });

  it('a redirect to a private address on the second hop is invalid_url too', async () => {
    echo.routes.set('/8.8.8.8/start', redirectTo('https://1.1.1.1/hop'));
    echo.routes.set('/1.1.1.1/hop', redirectTo('http://169.254.169.254/latest/meta-data/'));
    const err = await catchError(rewritten.request('https://8.8.8.8/start', { guard: true }));
    expect(err.code).toBe('invalid_url');
    expect(echo.seen.map((s) => s.url)).toEqual(['/8.8.8.8/start', '/1.1.1.1/hop']);
  });

  it("with redirect: 'manual' a redirect to a private address is returned, not followed", async () => {
    echo.routes.set('/8.8.8.8/start', redirectTo(`${echo.url}/private`));
    const res = await rewritten.request('https://8.8.8.8/start', { guard: true, redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe(`${echo.url}/private`);
    expect(echo.seen).toHaveLength(1);
  });

  it.each([
    ['a non-http(s) scheme', 'ftp://8.8.8.8/x'],
    ['credentials', 'https://user:pass@8.8.8.8/x'],
    ['a URL over 2048 characters', `https://8.8.8.8/x?q=${'a'.repeat(MAX_URL_LENGTH)}`],
    ['control characters', 'https://8.8.8.8/a\nb'],
    ['an unparsable URL', 'not a url'],
    ['a relative URL', '/8.8.8.8/x'],
  ])('refuses %s before any request', async (_name, target) => {
    const err = await catchError(rewritten.request(target, { guard: true }));
    expect(err.code).toBe('invalid_url');
    expect(echo.seen).toEqual([]);
  });

  it.each([
    ['a non-http(s) scheme', 'ftp://8.8.8.8/x'],
    ['file:', 'file:///etc/passwd'],
    ['credentials', 'https://user:pass@1.1.1.1/x'],
  ])('refuses a redirect to %s', async (_name, location) => {
    echo.routes.set('/8.8.8.8/start', redirectTo(location));
    const err = await catchError(rewritten.request('https://8.8.8.8/start', { guard: true }));
    expect(err.code).toBe('invalid_url');
    expect(echo.seen).toHaveLength(1);
  });

  it('with allowPrivateAddresses the guard lets private targets and private redirects through', async () => {
    const open = new HttpClient({ allowPrivateAddresses: true });
    try {
      const a = await open.json<Seen>(`${echo.url}/open`, { guard: true });
      expect(a.url).toBe('/open');
      echo.routes.set('/hop', redirectTo(`http://localhost:${echo.port}/after`));
      const b = await open.json<Seen>(`http://2130706433:${echo.port}/hop`, { guard: true });
      expect(b.url).toBe('/after');
      // Only the address check is relaxed: malformed URLs are still refused.
      for (const bad of [`ftp://127.0.0.1:${echo.port}/x`, `http://u:p@127.0.0.1:${echo.port}/x`]) {
        expect((await catchError(open.request(bad, { guard: true }))).code, bad).toBe('invalid_url');
      }
    } finally {
      await open.close();
    }
  });
});

describe('guardedDispatcher (connect-time check, against DNS rebinding)', () => {
  it('refuses to connect when the name resolves to a private address', async () => {
    for (const name of ['localhost', ...HOSTS_NAMES]) {
      const err = (await undiciFetch(`http://${name}:${echo.port}/rebound`, { dispatcher: guardedDispatcher() }).then(
        () => null,
        (e: unknown) => e,
      )) as { cause?: { code?: string } } | null;
      expect(err, name).not.toBeNull();
      expect(err?.cause?.code, name).toBe('ESSRF');
    }
    expect(echo.seen).toEqual([]);
  });

  it('is one shared dispatcher', () => {
    expect(guardedDispatcher()).toBe(guardedDispatcher());
  });
});
