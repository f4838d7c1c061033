/**
 * Hostile input against a live server, generated from the server's own
 * OpenAPI document: malformed and deeply nested JSON, wrong types in every
 * body field, oversized bodies and strings, control characters, injection
 * strings in every string field and query parameter, path traversal in every
 * path parameter, SSRF URLs in every URL field, forged credentials, reused
 * refresh tokens and other users' ids. Every refused case must be a 4xx with
 * our JSON error body; inputs the schema allows may also succeed, but never
 * 5xx. Afterwards the server still answers, nothing was written outside its
 * DATA_DIR and no rejected request left a task behind.
 *
 * Two servers: the main one is production-like (no private addresses, no
 * upstream rewrite, api role so queued tasks stay put); the trap server sends
 * every platform request to an upstream that redirects to 169.254.169.254.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import dns from 'node:dns/promises';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import ipaddr from 'ipaddr.js';
import { ROOT, startTestServer } from '../support/server.js';
import { createTestUser, login, NO_RATE_LIMITS, sessionOf } from '../support/auth.js';
import { rawRequest, type RawResponse } from '../support/raw-http.js';
import { forgeJwt, decodeJwt, tamperJwt } from '../support/forged-jwt.js';
import {
  fieldName,
  fieldsOf,
  isValid,
  operationsOf,
  sample,
  typeOf,
  withValue,
  wrongTypeValues,
  type OpenApiDoc,
  type Operation,
  type Schema,
  type SampleHints,
} from '../support/openapi-cases.js';
import {
  CANARY_MARKER,
  CONTROL_STRINGS,
  injectionStrings,
  RAW_TRAVERSALS,
  ssrfUrls,
  traversalSegments,
} from '../support/hostile-values.js';
import { METADATA_HOST, startRedirectTrap } from '../support/redirect-trap.js';

const STACK_TRACE = /\n\s+at |node_modules|\.ts:\d+:\d+/;
const YOUTUBE_URL = 'https://www.youtube.com/watch?v=dQw4w9WgXcQ';
/** A URL every extraction path refuses without going out (the address check). */
const PRIVATE_SAMPLE_URL = 'http://127.0.0.1/h4-sample.mp4';

// --- setup (top level: the cases are generated from what the live server describes) ---

const trap = await startRedirectTrap();
// One after the other: two servers registering their plugins at once on a busy machine can exceed
// Fastify's plugin timeout.
const server = await startTestServer('embedded', {
  ...NO_RATE_LIMITS,
  ROLE: 'api',
  // Behind a "proxy" (the test itself): each request comes from its own address, so the sign-in
  // throttle, which counts failures per address, does not answer 429 before the input is looked at.
  TRUST_PROXY: '127.0.0.1',
});
const trapServer = await startTestServer('distributed', {
  ...NO_RATE_LIMITS,
  YTBH_UPSTREAM_REWRITE: trap.url,
  DOWNLOAD_MAX_ATTEMPTS: '1',
});
const base = server.url;
const markedTmpEntries = () => readdirSync(os.tmpdir()).filter((n) => n.includes(CANARY_MARKER));
const tmpBefore = new Set(markedTmpEntries());
const canaryDir = mkdtempSync(path.join(os.tmpdir(), `ytbh-${CANARY_MARKER}-`));
afterAll(async () => {
  await Promise.all([server.close(), trapServer.close()]);
  await trap.stop();
  rmSync(canaryDir, { recursive: true, force: true });
});
const db = server.services.database.db;
const bodyLimit = server.services.config.bodyLimit;
const jwtSecret = server.services.config.jwtSecret;

const owner = await sessionOf(base, server.owner);
const other = await createTestUser(server.services, 'user');
const otherSession = await sessionOf(base, other);
/** sessions spent by the refresh-token cases */
const reuseSession = await login(base, server.owner.username, server.owner.password);
const logoutSession = await login(base, other.username, other.password);
const ownerKey = await db
  .selectFrom('api_keys')
  .select('id')
  .where('user_id', '=', server.owner.id)
  .executeTakeFirstOrThrow();

const ownerTaskRes = await owner.fetch(`${base}/api/v2/downloads`, {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ url: YOUTUBE_URL }),
});
if (ownerTaskRes.status !== 202) throw new Error(`setup download: ${ownerTaskRes.status} ${await ownerTaskRes.text()}`);
const ownerTaskId = ((await ownerTaskRes.json()) as { id: string }).id;

const doc = (await (await fetch(`${base}/api/v2/openapi.json`)).json()) as OpenApiDoc;
const ops = operationsOf(doc);
const setupTaskIds = new Set((await db.selectFrom('download_tasks').select('id').execute()).map((r) => r.id));
/** tasks the server said it created or reused: every task row must be one of these or the setup's */
const acceptedTaskIds = new Set<string>();

/** Host names that resolve to this machine (from /etc/hosts, no network needed). */
const loopbackNames: string[] = [];
for (const name of [os.hostname(), 'localhost.localdomain', 'ip6-localhost']) {
  try {
    const addrs = await dns.lookup(name, { all: true });
    if (addrs.length && addrs.every((a) => ipaddr.process(a.address).range() === 'loopback')) loopbackNames.push(name);
  } catch {
    /* not resolvable here */
  }
}

// --- helpers ---

interface Req {
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  chunked?: boolean;
}

const json = { 'content-type': 'application/json' };

let clientNo = 0;
/** An address of the benchmarking range (RFC 2544) per request. */
const nextClient = () => {
  const n = clientNo++;
  return `198.18.${(n >> 8) & 255}.${n & 255}`;
};

async function send(req: Req, headers: Record<string, string> = owner.headers, to = base): Promise<RawResponse> {
  const res = await rawRequest(to, {
    ...req,
    headers: { 'x-forwarded-for': nextClient(), ...headers, ...req.headers },
  });
  if (to === base) noteTasks(req.path, res);
  return res;
}

function noteTasks(p: string, res: RawResponse): void {
  if (!p.startsWith('/api/v2/downloads') || res.status >= 300 || !res.json) return;
  const body = res.json as { id?: string; status?: string; items?: Array<{ task?: { id: string } }> };
  if (body.id && body.status) acceptedTaskIds.add(body.id);
  for (const i of body.items ?? []) if (i.task) acceptedTaskIds.add(i.task.id);
}

function expectErrorBody(res: RawResponse): void {
  expect(res.headers['content-type'], res.text.slice(0, 200)).toMatch(/^application\/json/);
  expect(res.json).toMatchObject({ error: { code: expect.any(String), message: expect.any(String) } });
  expect(res.text).not.toMatch(STACK_TRACE);
}

/** Refused: a 4xx with our error body (optionally one of `statuses`). */
function expectRefused(res: RawResponse, statuses?: number[]): void {
  const why = `${res.status} ${res.text.slice(0, 300)}`;
  if (statuses) expect(statuses, why).toContain(res.status);
  expect(res.status, why).toBeGreaterThanOrEqual(400);
  expect(res.status, why).toBeLessThan(500);
  expectErrorBody(res);
}

/** Same-origin redirects (the legacy routes send players on to our own proxy) are followed. */
async function follow(res: RawResponse, headers: Record<string, string>, to = base): Promise<RawResponse> {
  for (let hop = 0; hop < 3 && res.status >= 300 && res.status < 400; hop++) {
    const location = new URL(String(res.headers.location), to);
    expect(location.origin, `redirected away to ${location.href}`).toBe(new URL(to).origin);
    res = await send({ path: location.pathname + location.search }, headers, to);
  }
  return res;
}

/** An input the schema allows: it may be refused or succeed, but the server must stay in control. */
async function expectHandled(res: RawResponse, headers: Record<string, string> = owner.headers): Promise<void> {
  res = await follow(res, headers);
  const why = `${res.status} ${res.text.slice(0, 300)}`;
  expect(res.status, why).toBeLessThan(500);
  if (res.status >= 400) expectErrorBody(res);
  expect(res.text).not.toMatch(STACK_TRACE);
}

/** Percent-encodes UTF-8, and a lone surrogate as the (invalid) bytes a hostile client would send. */
function pct(value: string): string {
  let out = '';
  for (const ch of value) {
    const cp = ch.codePointAt(0)!;
    if (cp >= 0xd800 && cp <= 0xdfff) {
      out += [0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f)]
        .map((b) => `%${b.toString(16).toUpperCase()}`)
        .join('');
    } else out += encodeURIComponent(ch);
  }
  return out;
}

const HINTS: SampleHints = {
  byName: {
    url: YOUTUBE_URL,
    urls: YOUTUBE_URL,
    // `generic` cannot be addressed by id: by-id routes refuse it without going out.
    platform: 'generic',
    role: 'guest',
  },
};
const QUERY_HINTS: SampleHints = { byName: { ...HINTS.byName, url: PRIVATE_SAMPLE_URL } };

function pathOf(op: Operation, override: Record<string, string> = {}): string {
  return op.path.replace(/\{([^}]+)\}/g, (_m, name: string) => {
    if (name in override) return override[name]!;
    const p = op.pathParams.find((x) => x.name === name);
    return pct(String(sample(p?.schema ?? {}, HINTS, name)));
  });
}

function queryOf(op: Operation, override: Record<string, string> = {}): string {
  const parts: string[] = [];
  for (const q of op.queryParams) {
    if (q.name in override) parts.push(`${q.name}=${override[q.name]}`);
    else if (q.required) parts.push(`${q.name}=${pct(String(sample(q.schema, QUERY_HINTS, q.name)))}`);
  }
  for (const [k, v] of Object.entries(override)) if (!op.queryParams.some((q) => q.name === k)) parts.push(`${k}=${v}`);
  return parts.length ? `?${parts.join('&')}` : '';
}

const label = (op: Operation) => `${op.method} ${op.path}`;
const bodyOps = ops.filter((o) => o.body);
const stringFields = (op: Operation) => fieldsOf(op.body!).filter((f) => typeOf(f.schema) === 'string');
const isUrlField = (p: Array<string | number>) =>
  p.some((k) => k === 'url' || k === 'urls') && !p.some((k) => k === 'options');

// --- cases ---

describe('every string input declares a maximum length', () => {
  const cases: Array<[string, Schema]> = [];
  for (const op of ops) {
    for (const f of op.body ? fieldsOf(op.body) : []) {
      if (typeOf(f.schema) === 'string') cases.push([`${label(op)} body${fieldName(f.path)}`, f.schema]);
    }
    for (const p of [...op.queryParams, ...op.pathParams]) {
      if (typeOf(p.schema) === 'string') cases.push([`${label(op)} ${p.name}`, p.schema]);
    }
  }
  // An anchored pattern without unbounded repetition bounds the length as well as maxLength does.
  const boundedPattern = (p: unknown) =>
    typeof p === 'string' && p.startsWith('^') && p.endsWith('$') && !/[*+]|\{\d+,\}/.test(p);
  it.each(cases)('%s', (_name, schema) => {
    const bounded =
      schema.maxLength !== undefined ||
      boundedPattern(schema.pattern) ||
      Boolean(schema.enum) ||
      Boolean((schema.anyOf as Schema[] | undefined)?.every((s) => s.enum)) ||
      ['uuid', 'date-time', 'date'].includes(schema.format as string);
    expect(bounded, JSON.stringify(schema)).toBe(true);
  });
});

describe('malformed JSON bodies → 400', () => {
  const BAD: Array<[string, string]> = [
    ['truncated object', '{"url": "https://x'],
    ['trailing garbage', '{"a":1}}'],
    ['single quotes', "{'a': 1}"],
    ['bare word', 'nul'],
    ['NaN', '{"a": NaN}'],
    ['comment', '{"a": 1 /* c */}'],
    ['__proto__ pollution', '{"__proto__": {"role": "admin"}}'],
    ['constructor.prototype pollution', '{"constructor": {"prototype": {"role": "admin"}}}'],
    ['10k nested arrays', '['.repeat(10_000) + ']'.repeat(10_000)],
    ['10k nested objects', '{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000)],
    ['unclosed 100k nesting', '['.repeat(100_000)],
    ['top-level array', '[]'],
    ['top-level string', '"x"'],
    ['top-level null', 'null'],
    ['invalid UTF-8', '{"a": "\xff\xfe"}'],
  ];
  const cases = bodyOps.flatMap((op) => BAD.map(([what, body]) => [`${label(op)} ${what}`, op, body] as const));
  it.each(cases)('%s', async (_name, op, body) => {
    const payload = body.includes('\xff') ? Buffer.from(body, 'latin1') : body;
    const res = await send({ method: op.method, path: pathOf(op), headers: json, body: payload });
    expectRefused(res, [400]);
    expect(['invalid_json', 'validation_failed', 'bad_request']).toContain(res.json.error.code);
  });
});

describe('bodies that are not JSON → 415', () => {
  const TYPES = [
    'text/plain',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    'application/xml',
  ];
  const cases = bodyOps.flatMap((op) => TYPES.map((t) => [`${label(op)} as ${t}`, op, t] as const));
  it.each(cases)('%s', async (_name, op, type) => {
    const res = await send({ method: op.method, path: pathOf(op), headers: { 'content-type': type }, body: 'url=x' });
    expectRefused(res, [415]);
  });
});

describe('bodies over the limit → 413', () => {
  /** A route may declare a larger limit of its own (cookie files); over that it must refuse as well. */
  const ROUTE_LIMIT_CAP = 16 * 1024 * 1024;
  const cases = bodyOps.flatMap((op) => [
    [`${label(op)} with Content-Length`, op, false] as const,
    [`${label(op)} chunked`, op, true] as const,
  ]);
  it.each(cases)('%s', async (_name, op, chunked) => {
    const over = (n: number) => JSON.stringify({ pad: 'x'.repeat(n + 1) });
    let res = await send({ method: op.method, path: pathOf(op), headers: json, body: over(bodyLimit), chunked });
    if (res.status !== 413) {
      expect(res.status, `BODY_LIMIT not applied and the body was rejected otherwise: ${res.text.slice(0, 200)}`).toBe(
        400,
      );
      res = await send({ method: op.method, path: pathOf(op), headers: json, body: over(ROUTE_LIMIT_CAP), chunked });
    }
    expectRefused(res, [413]);
  });
});

describe('wrong types in every body field → 400', () => {
  const cases = bodyOps.flatMap((op) =>
    fieldsOf(op.body!).flatMap((f) =>
      wrongTypeValues(f.schema)
        .map((w) => ({
          op,
          body: withValue(op.body!, f.path, w.value, HINTS),
          name: `${label(op)} body${fieldName(f.path)} = ${w.label}`,
        }))
        .filter((c) => !isValid(c.op.body!, c.body)),
    ),
  );
  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const res = await send({ method: c.op.method, path: pathOf(c.op), headers: json, body: JSON.stringify(c.body) });
    expectRefused(res, [400]);
    expect(res.json.error.code).toBe('validation_failed');
  });
});

/** One string value put into a body field: invalid by the schema → 400; allowed → handled (never 5xx). */
async function bodyStringCase(op: Operation, fieldPath: Array<string | number>, value: string): Promise<void> {
  const body = withValue(op.body!, fieldPath, value, HINTS);
  const res = await send({ method: op.method, path: pathOf(op), headers: json, body: JSON.stringify(body) });
  if (!isValid(op.body!, body)) expectRefused(res, [400]);
  else await expectHandled(res);
}

/** One value in one query parameter, the others valid. */
async function queryCase(op: Operation, name: string, value: string): Promise<void> {
  const param = op.queryParams.find((q) => q.name === name)!;
  const res = await send({ method: op.method, path: pathOf(op) + queryOf(op, { [name]: pct(value) }) });
  if (!isValid(param.schema, value, { coerce: true })) expectRefused(res);
  else await expectHandled(res);
}

const hostileStrings = [
  ...injectionStrings(canaryDir),
  ...CONTROL_STRINGS,
  { label: 'huge 100k', value: 'A'.repeat(100_000) },
];

describe('injection, control characters and huge strings in every body string field', () => {
  const cases = bodyOps.flatMap((op) =>
    stringFields(op).flatMap((f) =>
      hostileStrings.map((v) => [`${label(op)} body${fieldName(f.path)} = ${v.label}`, op, f.path, v.value] as const),
    ),
  );
  it.each(cases)('%s', async (_name, op, fieldPath, value) => bodyStringCase(op, fieldPath, value));
});

describe('injection, control characters and long values in every query parameter', () => {
  const values = [
    ...injectionStrings(canaryDir),
    ...CONTROL_STRINGS,
    // Long, but under the request-URL limit: the parameter's own limit must refuse it.
    { label: 'long 7k', value: 'A'.repeat(7_000) },
  ];
  const cases = ops.flatMap((op) =>
    op.queryParams.flatMap((q) =>
      values.map((v) => [`${label(op)} ?${q.name}= ${v.label}`, op, q.name, v.value] as const),
    ),
  );
  it.each(cases)('%s', async (_name, op, name, value) => queryCase(op, name, value));

  it('a request URL over the limit → 414', async () => {
    const res = await send({ path: `/api/v2/videos/info?url=${'A'.repeat(9_000)}` });
    expectRefused(res, [414]);
  });
});

describe('path traversal in every path parameter', () => {
  const withParams = ops.filter((o) => o.pathParams.length);
  const encoded = withParams.flatMap((op) =>
    op.pathParams.flatMap((p) =>
      traversalSegments(canaryDir).map(
        (t) => [`${label(op)} {${p.name}} = ${t.label}`, op, p.name, t.segment] as const,
      ),
    ),
  );
  it.each(encoded)('%s', async (_name, op, param, segment) => {
    const res = await send({
      method: op.method,
      path: pathOf(op, { [param]: segment }),
      ...(op.body ? { headers: json, body: '{}' } : {}),
    });
    expectRefused(res);
  });

  const raw = withParams.flatMap((op) => RAW_TRAVERSALS.map((t) => [`${label(op)} raw ${t}`, op, t] as const));
  it.each(raw)('%s', async (_name, op, traversal) => {
    const p = pathOf(op, { [op.pathParams[op.pathParams.length - 1]!.name]: traversal });
    const res = await send({ method: op.method, path: p });
    expectRefused(res);
    expect(res.text).not.toMatch(/root:x:0:0|"name":\s*"ytbh"/);
  });

  const STATIC = [
    '/assets/..%2f..%2fpackage.json',
    '/assets/%2e%2e%2f%2e%2e%2f%2e%2e%2fpackage.json',
    '/icons/..%5c..%5cpackage.json',
    '/assets/../../package.json',
    '/docs/static/..%2f..%2f..%2f..%2fpackage.json',
    '/docs/static/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
    '/..%2f..%2f..%2fetc%2fpasswd',
    '/%00/etc/passwd',
  ];
  it.each(STATIC)('static files: %s', async (p) => {
    const res = await send({ path: p }, {});
    expect(res.status, res.text.slice(0, 200)).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(res.text).not.toMatch(/root:x:0:0|"name":\s*"ytbh"/);
  });
});

describe('SSRF: URLs aimed inside in every URL field → refused', () => {
  const urls = ssrfUrls(loopbackNames);
  const bodyCases = bodyOps.flatMap((op) =>
    fieldsOf(op.body!)
      .filter((f) => typeOf(f.schema) === 'string' && isUrlField(f.path))
      .flatMap((f) =>
        urls.map((u) => [`${label(op)} body${fieldName(f.path)} = ${u.label}`, op, f.path, u.url] as const),
      ),
  );
  it.each(bodyCases)('%s', async (_name, op, fieldPath, url) => {
    const body = withValue(op.body!, fieldPath, url, HINTS);
    const res = await send({ method: op.method, path: pathOf(op), headers: json, body: JSON.stringify(body) });
    if (res.status === 202 && Array.isArray(res.json?.items)) {
      // A batch answers per URL: each refused URL is an error item, never a task.
      for (const item of res.json.items as Array<{ task?: unknown; error?: unknown }>) {
        expect(item.task, JSON.stringify(item).slice(0, 300)).toBeUndefined();
        expect(item.error).toMatchObject({ code: expect.any(String), message: expect.any(String) });
      }
      return;
    }
    expectRefused(await follow(res, owner.headers));
  });

  const queryCases = ops.flatMap((op) =>
    op.queryParams
      .filter((q) => q.name === 'url')
      .flatMap((q) => urls.map((u) => [`${label(op)} ?${q.name}= ${u.label}`, op, q.name, u.url] as const)),
  );
  it.each(queryCases)('%s', async (_name, op, name, url) => {
    const res = await send({ method: op.method, path: pathOf(op) + queryOf(op, { [name]: pct(url) }) });
    expectRefused(await follow(res, owner.headers));
  });
});

describe('SSRF: a platform whose answer redirects to the metadata address', () => {
  const PLATFORM_URLS = [
    YOUTUBE_URL,
    'https://youtu.be/dQw4w9WgXcQ',
    'https://www.bilibili.com/video/BV1Et4y1r7Eu',
    'https://b23.tv/h4trap1',
    'https://www.twitch.tv/videos/2404782496',
    'https://clips.twitch.tv/H4TrapClip',
    'https://www.tiktok.com/@h4/video/7300000000000000001',
    'https://vm.tiktok.com/ZMh4trap/',
  ];
  const trapped = () => trap.metadataHits().length;

  it.each(PLATFORM_URLS)('GET /api/v2/videos/info?url=%s is refused without reaching it', async (url) => {
    const before = trapped();
    const res = await send(
      { path: `/api/v2/videos/info?url=${encodeURIComponent(url)}&refresh=true` },
      trapServer.owner.headers,
      trapServer.url,
    );
    expect(trapped(), `the server followed the redirect to ${METADATA_HOST}`).toBe(before);
    expectRefused(res);
  });

  it('a queued download whose platform redirects there fails without reaching it', async () => {
    const before = trapped();
    const res = await send(
      {
        method: 'POST',
        path: '/api/v2/downloads',
        headers: json,
        body: JSON.stringify({ url: 'https://youtu.be/h4trapDL001' }),
      },
      trapServer.owner.headers,
      trapServer.url,
    );
    expect(res.status, res.text).toBe(202);
    const id = (res.json as { id: string }).id;
    let task: { status: string; error: unknown } | undefined;
    for (let i = 0; i < 150; i++) {
      task = (await send({ path: `/api/v2/downloads/${id}` }, trapServer.owner.headers, trapServer.url)).json;
      if (task && ['failed', 'completed', 'cancelled'].includes(task.status)) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(task?.status, JSON.stringify(task)).toBe('failed');
    expect(trapped(), `the worker followed the redirect to ${METADATA_HOST}`).toBe(before);
  });
});

describe('forged and misused credentials → 401', () => {
  const realToken = owner.access_token;
  const claims = decodeJwt(realToken);
  const now = Math.floor(Date.now() / 1000);
  const good = { ...claims, iat: now, exp: now + 600 };
  const hs = (payload: Record<string, unknown>, secret = jwtSecret) => forgeJwt({ payload, secret });
  const forged: Array<[string, Record<string, string>]> = [
    ['garbage bearer', { authorization: 'Bearer not-a-jwt' }],
    ['empty bearer', { authorization: 'Bearer ' }],
    ['Basic auth', { authorization: 'Basic dXNlcjpwYXNz' }],
    ['bearer with two tokens', { authorization: `Bearer ${realToken} ${realToken}` }],
    ['alg none', { authorization: `Bearer ${forgeJwt({ header: { alg: 'none', typ: 'JWT' }, payload: good })}` }],
    ['alg NONE', { authorization: `Bearer ${forgeJwt({ header: { alg: 'NONE' }, payload: good })}` }],
    ['other secret', { authorization: `Bearer ${hs(good, 'some-other-secret-some-other-secret-0000')}` }],
    ['empty secret', { authorization: `Bearer ${hs(good, '')}` }],
    ['expired', { authorization: `Bearer ${hs({ ...good, iat: now - 7200, exp: now - 3600 })}` }],
    ['not yet valid', { authorization: `Bearer ${hs({ ...good, nbf: now + 3600 })}` }],
    ['wrong audience', { authorization: `Bearer ${hs({ ...good, aud: 'someone-else' })}` }],
    ['wrong issuer', { authorization: `Bearer ${hs({ ...good, iss: 'evil' })}` }],
    ['not an access token', { authorization: `Bearer ${hs({ ...good, typ: 'refresh' })}` }],
    ['no session id', { authorization: `Bearer ${hs({ ...good, sid: undefined })}` }],
    ['unknown session id', { authorization: `Bearer ${hs({ ...good, sid: randomUUID() })}` }],
    ["another user's session id", { authorization: `Bearer ${hs({ ...good, sid: otherSession.session_id })}` }],
    ['no expiry', { authorization: `Bearer ${hs({ ...good, exp: undefined })}` }],
    ['tampered payload (sub → other user)', { authorization: `Bearer ${tamperJwt(realToken, { sub: other.id })}` }],
    [
      'tampered signature',
      { authorization: `Bearer ${realToken.slice(0, -4)}${realToken.slice(-4) === 'AAAA' ? 'BBBB' : 'AAAA'}` },
    ],
    [
      'RS256 header, HMAC signature (alg confusion)',
      { authorization: `Bearer ${forgeJwt({ header: { alg: 'RS256' }, payload: good, secret: jwtSecret })}` },
    ],
    ['oversized token', { authorization: `Bearer ${'a'.repeat(5000)}` }],
    ['refresh token as bearer', { authorization: `Bearer ${owner.refresh_token}` }],
    ['API key with a wrong secret', { 'x-api-key': `ytbh_${'0'.repeat(12)}_${'A'.repeat(43)}` }],
    ['API key of the right shape for a real prefix', { 'x-api-key': server.owner.apiKey.slice(0, -5) + 'XXXXX' }],
    ['API key garbage', { 'x-api-key': 'ytbh_../../etc/passwd' }],
  ];
  const targets = [
    { method: 'GET', path: '/api/v2/users/me' },
    { method: 'GET', path: '/api/v2/downloads' },
    { method: 'POST', path: '/api/v2/downloads', body: JSON.stringify({ url: YOUTUBE_URL }) },
    { method: 'GET', path: '/api/v2/users/me/api-keys' },
  ];
  const cases = forged.flatMap(([what, headers]) =>
    targets.map((t) => [`${t.method} ${t.path} with ${what}`, t, headers] as const),
  );
  it.each(cases)('%s', async (_name, target, headers) => {
    const res = await send({ ...target, headers: target.body ? json : {} }, headers);
    expectRefused(res, [401]);
    expect(res.json.error.code).toBe('unauthorized');
    expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
  });

  it('a valid token in ?access_token= on a route that does not take query tokens is ignored → 401', async () => {
    const res = await send({ path: `/api/v2/users/me?access_token=${realToken}` }, {});
    expectRefused(res, [401]);
  });
});

describe('refresh tokens', () => {
  const refresh = (token: string) =>
    send(
      { method: 'POST', path: '/api/v2/auth/refresh', headers: json, body: JSON.stringify({ refresh_token: token }) },
      {},
    );

  it('a rotated refresh token presented again → 401, and the whole session dies with it', async () => {
    const rotated = await refresh(reuseSession.refresh_token);
    expect(rotated.status, rotated.text).toBe(200);
    const next = rotated.json as { access_token: string; refresh_token: string };
    const reuse = await refresh(reuseSession.refresh_token);
    expectRefused(reuse, [401]);
    const me = await send({ path: '/api/v2/users/me' }, { authorization: `Bearer ${next.access_token}` });
    expectRefused(me, [401]);
    expectRefused(await refresh(next.refresh_token), [401]);
  });

  it('the refresh token of a signed-out session → 401', async () => {
    const out = await send(
      { method: 'POST', path: '/api/v2/auth/logout' },
      { authorization: `Bearer ${logoutSession.access_token}` },
    );
    expect(out.status, out.text).toBe(204);
    expectRefused(await refresh(logoutSession.refresh_token), [401]);
  });

  const BAD: Array<[string, string]> = [
    ['random rt_ token', `rt_${'A'.repeat(43)}`],
    ['an access token', owner.access_token.slice(0, 200)],
    ['an API key', server.owner.apiKey],
    ['a SQL string', `rt_' OR '1'='1`],
    ['NUL', 'rt_\u0000'],
  ];
  it.each(BAD)('%s as a refresh token → 4xx', async (_what, token) => {
    expectRefused(await refresh(token));
  });
});

describe("other users' ids → 404, never the resource", () => {
  const TASK_ROUTES: Array<[string, string]> = [
    ['GET', `/api/v2/downloads/${ownerTaskId}`],
    ['DELETE', `/api/v2/downloads/${ownerTaskId}`],
    ['POST', `/api/v2/downloads/${ownerTaskId}/retry`],
    ['GET', `/api/v2/downloads/${ownerTaskId}/file`],
    ['GET', `/api/v2/downloads/${ownerTaskId}/events`],
    ['DELETE', `/api/v2/users/me/api-keys/${ownerKey.id}`],
  ];
  it.each(TASK_ROUTES)("%s %s of the owner's resource by another user → 404", async (method, p) => {
    const res = await send({ method, path: p }, otherSession.headers);
    expectRefused(res, [404]);
    expect(res.text).not.toContain(server.owner.username);
  });

  it("the other user's list does not show the owner's task", async () => {
    const res = await send({ path: `/api/v2/downloads?parent_id=${ownerTaskId}` }, otherSession.headers);
    expect(res.status).toBe(200);
    expect(res.text).not.toContain(ownerTaskId);
    const all = await send({ path: '/api/v2/downloads?limit=100' }, otherSession.headers);
    expect(all.text).not.toContain(ownerTaskId);
  });

  const adminOps = ops.filter((o) => o.path.startsWith('/api/v2/admin/') && o.pathParams.some((p) => p.name === 'id'));
  it.each(adminOps.map((o) => [label(o), o] as const))(
    "%s with the owner's id by a non-admin → 403",
    async (_n, op) => {
      const res = await send(
        {
          method: op.method,
          path: pathOf(op, { id: server.owner.id }),
          headers: json,
          body: op.body ? '{}' : undefined,
        },
        otherSession.headers,
      );
      expectRefused(res, [403]);
    },
  );

  it("the owner's task and key are untouched", async () => {
    const task = await send({ path: `/api/v2/downloads/${ownerTaskId}` });
    expect(task.status).toBe(200);
    expect(task.json.status).toBe('queued');
    const me = await send({ path: '/api/v2/users/me' }, server.owner.headers);
    expect(me.status).toBe(200);
  });
});

describe('after the run', () => {
  it('both servers still answer health', async () => {
    for (const s of [server, trapServer]) {
      const res = await rawRequest(s.url, { path: '/api/v2/system/health' });
      expect(res.status).toBe(200);
      expect(res.json).toMatchObject({ status: 'ok' });
    }
  });

  it('nothing was written to the canary directory or the repository', () => {
    expect(readdirSync(canaryDir)).toEqual([]);
    expect(findNamed(ROOT, CANARY_MARKER)).toEqual([]);
    expect(markedTmpEntries().filter((n) => !tmpBefore.has(n))).toEqual([path.basename(canaryDir)]);
  });

  it('no rejected request left a task behind', async () => {
    const rows = await db.selectFrom('download_tasks').select(['id', 'url']).execute();
    const strays = rows.filter((r) => !setupTaskIds.has(r.id) && !acceptedTaskIds.has(r.id));
    expect(strays).toEqual([]);
  });

  it('the accounts tables are intact', async () => {
    const users = await db.selectFrom('users').select('id').execute();
    expect(users.map((u) => u.id)).toEqual(expect.arrayContaining([server.owner.id, other.id]));
    const me = await send({ path: '/api/v2/users/me' }, server.owner.headers);
    expect(me.status).toBe(200);
  });
});

/** Files and directories under `dir` whose names contain `marker` (skipping dependencies and VCS data). */
function findNamed(dir: string, marker: string, depth = 0): string[] {
  if (depth > 8) return [];
  const found: string[] = [];
  let entries: import('node:fs').Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  for (const e of entries) {
    if (e.name === 'node_modules' || e.name === '.git') continue;
    const p = path.join(dir, e.name);
    if (e.name.includes(marker)) found.push(p);
    if (e.isDirectory()) found.push(...findNamed(p, marker, depth + 1));
  }
  return found;
}
