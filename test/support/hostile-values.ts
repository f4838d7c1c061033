/**
 * Inputs an attacker would send: injection strings, path traversal, control
 * characters and URLs aimed at internal addresses. Strings that try to write
 * files name a canary directory and carry a marker, so a test can prove
 * afterwards that nothing was written.
 */

/** Marker in every file name a hostile input tries to create. */
export const CANARY_MARKER = 'h4canary';

export function injectionStrings(canaryDir: string): Array<{ label: string; value: string }> {
  const f = (n: string) => `${canaryDir}/${CANARY_MARKER}-${n}`;
  return [
    { label: 'sql quote or', value: `' OR '1'='1` },
    { label: 'sql drop table', value: `'; DROP TABLE users; --` },
    { label: 'sql union', value: `x' UNION SELECT password_hash FROM users --` },
    { label: 'sql sleep', value: `1; SELECT pg_sleep(10); --` },
    { label: 'sql dollar quote', value: `$$; DELETE FROM api_keys; $$` },
    { label: 'html script', value: `<script>alert(1)</script>` },
    { label: 'html attribute', value: `"><img src=x onerror=alert(1)>` },
    { label: 'shell subshell', value: `$(touch ${f('subshell')})` },
    { label: 'shell backticks', value: `\`touch ${f('backtick')}\`` },
    { label: 'shell separator', value: `x; touch ${f('semicolon')} #` },
    { label: 'shell pipe', value: `x | touch ${f('pipe')}` },
    { label: 'shell option', value: `--exec=touch ${f('option')}` },
    { label: 'template', value: `{{7*7}}\${7*7}{title}/../../../../${f('template')}` },
    { label: 'format string', value: '%s%s%s%n%x' },
    { label: 'unicode bidi and emoji', value: 'a\u202eb\u{1F600}\uFEFF' },
    { label: 'prototype key', value: '__proto__' },
  ];
}

export const CONTROL_STRINGS: Array<{ label: string; value: string }> = [
  { label: 'NUL', value: 'a\u0000b' },
  { label: 'CR LF header injection', value: 'a\r\nSet-Cookie: h4=1' },
  { label: 'escape and bell', value: 'a\u001b[31m\u0007b' },
  { label: 'DEL and C1', value: 'a\u007f\u0085b' },
  { label: 'lone surrogate', value: 'a\ud800b' },
];

/** Path parameter values, already percent-encoded as they go into the URL path. */
export function traversalSegments(canaryDir: string): Array<{ label: string; segment: string }> {
  return [
    { label: 'encoded ../', segment: '..%2F..%2F..%2Fetc%2Fpasswd' },
    { label: 'lowercase %2e%2e%2f', segment: '%2e%2e%2f%2e%2e%2fetc%2fpasswd' },
    { label: 'double encoded', segment: '..%252f..%252fetc%252fpasswd' },
    { label: 'backslashes', segment: encodeURIComponent('..\\..\\..\\windows\\win.ini') },
    { label: 'absolute path', segment: encodeURIComponent('/etc/passwd') },
    { label: 'absolute canary path', segment: encodeURIComponent(`${canaryDir}/${CANARY_MARKER}-param`) },
    { label: 'NUL byte', segment: 'x%00.mp4' },
    { label: 'overlong UTF-8 slash', segment: '..%c0%af..%c0%afetc' },
    { label: 'dots and slashes', segment: encodeURIComponent('....//....//etc') },
    { label: 'windows drive', segment: encodeURIComponent('C:\\Windows\\System32') },
  ];
}

/** Raw (unencoded) traversal: the path itself climbs out of the route. */
export const RAW_TRAVERSALS = ['../../../../etc/passwd', '..\\..\\..\\etc\\passwd', '%2e%2e/%2e%2e/etc/passwd'];

/** URLs that point at this machine, the private network or cloud metadata. */
export function ssrfUrls(loopbackNames: string[]): Array<{ label: string; url: string }> {
  return [
    { label: 'loopback', url: 'http://127.0.0.1/video.mp4' },
    { label: 'loopback with port', url: 'http://127.0.0.1:5432/' },
    { label: 'loopback 127.1', url: 'http://127.1/' },
    { label: 'localhost', url: 'http://localhost/video.mp4' },
    { label: 'localhost trailing dot', url: 'http://localhost./' },
    { label: 'sub.localhost', url: 'http://h4.localhost/' },
    { label: 'IPv6 loopback', url: 'http://[::1]/' },
    { label: 'IPv4-mapped IPv6 loopback', url: 'http://[::ffff:127.0.0.1]/' },
    { label: 'IPv6 unspecified', url: 'http://[::]/' },
    { label: 'IPv6 unique local', url: 'http://[fd00::1]/' },
    { label: 'IPv6 link-local', url: 'http://[fe80::1]/' },
    { label: 'cloud metadata', url: 'http://169.254.169.254/latest/meta-data/' },
    { label: 'private 10/8', url: 'http://10.0.0.1/video.mp4' },
    { label: 'private 172.16/12', url: 'http://172.16.0.1/' },
    { label: 'private 172.31', url: 'https://172.31.255.254/' },
    { label: 'private 192.168/16', url: 'http://192.168.1.1/' },
    { label: 'carrier-grade NAT', url: 'http://100.64.0.1/' },
    { label: 'unspecified 0.0.0.0', url: 'http://0.0.0.0/' },
    { label: 'zero', url: 'http://0/' },
    { label: 'decimal 2130706433', url: 'http://2130706433/' },
    { label: 'octal 0177.0.0.1', url: 'http://0177.0.0.1/' },
    { label: 'hex 0x7f000001', url: 'http://0x7f000001/' },
    { label: 'hex dotted 0x7f.0.0.1', url: 'http://0x7f.0.0.1/' },
    { label: 'multicast', url: 'http://224.0.0.1/' },
    { label: 'broadcast', url: 'http://255.255.255.255/' },
    { label: 'file scheme', url: 'file:///etc/passwd' },
    { label: 'gopher scheme', url: 'gopher://127.0.0.1:6379/_INFO' },
    { label: 'credentials in URL', url: 'http://user:pass@127.0.0.1/' },
    { label: 'javascript scheme', url: 'javascript:alert(1)' },
    ...loopbackNames.map((n) => ({ label: `name ${n} resolving to loopback`, url: `http://${n}/video.mp4` })),
  ];
}
