/**
 * The access matrix: every route the server registered (its route table,
 * not a list kept by hand) × every kind of caller, checked against the
 * route's ROUTE_POLICY rule. Anonymous callers get 401 on anything not
 * public; a role or key scope that is not enough gets 403; everyone allowed
 * gets neither. Routes about one of the owner's resources (/downloads/:id…,
 * /users/me/api-keys/:id) answer 404 to everyone else, admins included, so
 * ids do not leak. A route without a policy entry fails here.
 *
 * Requests carry a body no schema accepts, so an allowed call stops at
 * validation instead of changing anything; ids are random unless they name
 * the owner's real resources (a finished download, a spare API key).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { policyFor, type Rule } from '../../src/accounts/policy.js';
import type { Scope } from '../../src/accounts/principal.js';
import type { UserRole } from '../../src/infra/db/schema.js';
import { startTestServer } from '../support/server.js';
import { createTestUser, NO_RATE_LIMITS, sessionOf, type TestUser } from '../support/auth.js';
import { makeMedia } from '../support/media.js';
import { operationsOf, sample, type OpenApiDoc } from '../support/openapi-cases.js';
import { startMediaServer } from '../support/media-server.js';

// --- setup (top level: the cases are generated from the live route table) ---

const mediaDir = mkdtempSync(path.join(os.tmpdir(), 'ytbh-matrix-'));
const [clip, server] = await Promise.all([
  makeMedia(mediaDir, { durationS: 1, width: 160, height: 120, kind: 'muxed', container: 'mp4' }),
  // Distributed starts fastest (PostgreSQL + Redis); the policy does not depend on the backend.
  startTestServer('distributed', { ...NO_RATE_LIMITS, ALLOW_PRIVATE_ADDRESSES: 'true' }),
]);
const media = await startMediaServer(mediaDir);
const base = server.url;

afterAll(async () => {
  await server?.close();
  await media?.stop();
  rmSync(mediaDir, { recursive: true, force: true });
});

const [ownerUser, otherUser, guestUser] = await Promise.all([
  createTestUser(server.services, 'user'),
  createTestUser(server.services, 'user'),
  createTestUser(server.services, 'guest'),
]);
const adminUser: TestUser = server.owner;
const [ownerSession, otherSession, guestSession, adminSession] = await Promise.all([
  sessionOf(base, ownerUser),
  sessionOf(base, otherUser),
  sessionOf(base, guestUser),
  sessionOf(base, adminUser),
]);

const json = { 'content-type': 'application/json' };

async function createKey(scopes: Scope[], name: string): Promise<{ id: string; key: string }> {
  const res = await ownerSession.fetch(`${base}/api/v2/users/me/api-keys`, {
    method: 'POST',
    headers: json,
    body: JSON.stringify({ name, scopes }),
  });
  if (res.status !== 201) throw new Error(`api key: ${res.status} ${await res.text()}`);
  return (await res.json()) as { id: string; key: string };
}
const readOnlyKey = await createKey(['read'], 'read-only');
const spareKey = await createKey(['read'], 'spare (revoked by the matrix)');

/** A finished download of the owner: file, events, retry and cancel all have something real to act on. */
async function finishedDownload(): Promise<string> {
  const res = await ownerSession.fetch(`${base}/api/v2/downloads`, {
    method: 'POST',
    headers: json,
    body: JSON.stringify({ url: `${media.url}/${clip.name}` }),
  });
  if (res.status !== 202) throw new Error(`download: ${res.status} ${await res.text()}`);
  const { id } = (await res.json()) as { id: string };
  const deadline = Date.now() + 45_000;
  for (;;) {
    const t = (await (await ownerSession.fetch(`${base}/api/v2/downloads/${id}`)).json()) as { status: string };
    if (t.status === 'completed') return id;
    if (t.status === 'failed' || Date.now() > deadline) throw new Error(`download ended ${JSON.stringify(t)}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}
const ownerTaskId = await finishedDownload();

/**
 * DELETE removes a finished download: each cell gets a finished (failed) task
 * of the owner's own, written straight to the database, so removing it leaves
 * the real download for the other cells.
 */
async function spareTask(): Promise<string> {
  const row = await server.services.database.db
    .insertInto('download_tasks')
    .values({
      user_id: ownerUser.id,
      url: `${media.url}/spare.mp4`,
      platform: 'generic',
      status: 'failed',
      options: '{}',
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

// --- callers ---

interface Caller {
  name: string;
  /** whose credentials; null: none */
  role: UserRole | null;
  isOwner: boolean;
  via: 'session' | 'api_key' | 'query' | null;
  scopes: readonly Scope[];
  headers: Record<string, string>;
  /** `?access_token=` value, for the query caller */
  queryToken?: string;
}

const ALL_SCOPES: Scope[] = ['read', 'download', 'admin'];
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const CALLERS: Caller[] = [
  { name: 'anonymous', role: null, isOwner: false, via: null, scopes: [], headers: {} },
  {
    name: 'owner (session)',
    role: 'user',
    isOwner: true,
    via: 'session',
    scopes: ALL_SCOPES,
    headers: ownerSession.headers,
  },
  {
    name: 'other user (session)',
    role: 'user',
    isOwner: false,
    via: 'session',
    scopes: ALL_SCOPES,
    headers: otherSession.headers,
  },
  {
    name: 'admin (session)',
    role: 'admin',
    isOwner: false,
    via: 'session',
    scopes: ALL_SCOPES,
    headers: adminSession.headers,
  },
  {
    name: 'guest (session)',
    role: 'guest',
    isOwner: false,
    via: 'session',
    scopes: ALL_SCOPES,
    headers: guestSession.headers,
  },
  {
    name: "owner's read-only API key",
    role: 'user',
    isOwner: true,
    via: 'api_key',
    scopes: ['read'],
    headers: { 'x-api-key': readOnlyKey.key },
  },
  {
    name: "owner's full API key",
    role: 'user',
    isOwner: true,
    via: 'api_key',
    scopes: ['read', 'download'],
    headers: bearer(ownerUser.apiKey),
  },
  {
    name: 'owner via ?access_token=',
    role: 'user',
    isOwner: true,
    via: 'query',
    scopes: ALL_SCOPES,
    headers: {},
    queryToken: ownerSession.access_token,
  },
];

type Outcome = 'unauthenticated' | 'forbidden' | 'allowed';

/** What the policy promises this caller (mirrors the rules documented in accounts/policy.ts). */
function expected(rule: Rule, queryTokenRoute: boolean, method: string, c: Caller): Outcome {
  if (rule === 'public') return 'allowed';
  // A query token counts only where the route takes one (GET), else the caller is anonymous.
  const via = c.via === 'query' ? (queryTokenRoute && method === 'GET' ? 'session' : null) : c.via;
  if (!via || !c.role) return 'unauthenticated';
  if (rule === 'session' && via !== 'session') return 'forbidden';
  if (rule === 'download' && c.role === 'guest') return 'forbidden';
  if (rule === 'admin' && c.role !== 'admin') return 'forbidden';
  const scope: Partial<Record<Rule, Scope>> = { read: 'read', download: 'download', admin: 'admin' };
  if (scope[rule] && !c.scopes.includes(scope[rule])) return 'forbidden';
  return 'allowed';
}

// --- routes ---

const routes = server.app.routeTable.filter((r) => r.method !== 'HEAD' && !(r.hidden && r.url.startsWith('/docs')));

/** Routes about one resource of the owner: anyone else must get 404, as if it did not exist. */
function ownedResource(url: string): string | null {
  if (url.startsWith('/api/v2/downloads/:id')) return ownerTaskId;
  if (url === '/api/v2/users/me/api-keys/:id') return spareKey.id;
  return null;
}

/** The route's parameters from the OpenAPI document (hidden routes have none there). */
const doc = (await (await fetch(`${base}/api/v2/openapi.json`)).json()) as OpenApiDoc;
const paramsOf = new Map(operationsOf(doc).map((op) => [`${op.method} ${op.route}`, op.pathParams]));

/**
 * Parameters of owner-resource routes get valid values, so the ownership
 * check is what answers. Elsewhere they get values the schemas refuse:
 * nothing is looked up or fetched for an allowed caller.
 */
function concretePath(method: string, url: string, id?: string): string {
  const owned = ownedResource(url);
  const params = paramsOf.get(`${method} ${url}`) ?? [];
  return url
    .replace(/:([A-Za-z_]+)/g, (_m, name: string) => {
      if (name === 'id') return id ?? owned ?? randomUUID();
      const schema = params.find((p) => p.name === name)?.schema;
      if (owned && schema) return encodeURIComponent(String(sample(schema, {}, name)));
      if (name === 'platform') return 'h4-not-a-platform';
      if (name === 'role') return 'h4-not-a-role';
      return 'h4x';
    })
    .replace(/\*$/, 'h4x');
}

interface Answer {
  status: number;
  text: string;
  /** error.code and error.message, when the body is our error */
  error?: string;
}

/** `id`: the resource id to use instead of the owner's (a task that does not exist, or a spare one). */
async function call(method: string, url: string, c: Caller, id?: string): Promise<Answer> {
  let target = `${base}${concretePath(method, url, id)}`;
  if (c.queryToken) target += `?access_token=${encodeURIComponent(c.queryToken)}`;
  const headers: Record<string, string> = { ...c.headers };
  let body: string | undefined;
  if (['POST', 'PUT', 'PATCH'].includes(method)) {
    Object.assign(headers, json);
    body = JSON.stringify({ h4_probe: true });
  }
  // Signing out must not end the session the other cells use: it gets a session of its own.
  if (url === '/api/v2/auth/logout' && c.via === 'session') {
    const user = { owner: ownerUser, other: otherUser, admin: adminUser, guest: guestUser }[c.name.split(' ')[0]!]!;
    headers.authorization = `Bearer ${(await sessionOf(base, user)).access_token}`;
  }
  const ac = new AbortController();
  const res = await fetch(target, { method, headers, body, redirect: 'manual', signal: ac.signal });
  // Event streams stay open: the status is all this needs.
  const text = (res.headers.get('content-type') ?? '').includes('event-stream') ? '' : await res.text();
  ac.abort();
  let error: string | undefined;
  try {
    const e = (JSON.parse(text) as { error?: { code: string; message: string } }).error;
    if (e) error = `${e.code}: ${e.message}`;
  } catch {
    /* not our error body */
  }
  return { status: res.status, text: text.slice(0, 300), ...(error ? { error } : {}) };
}

describe('every route has an access policy', () => {
  it('the route table is not empty', () => {
    expect(routes.length).toBeGreaterThan(40);
  });
  it.each(routes.map((r) => `${r.method} ${r.url}`))('%s', (key) => {
    const [method, url] = key.split(' ') as [string, string];
    expect(policyFor(method, url), `${key} is missing from ROUTE_POLICY`).toBeDefined();
  });
});

describe('route × caller', () => {
  const cells = routes.flatMap((r) =>
    CALLERS.map((c) => [`${r.method} ${r.url} as ${c.name}`, r.method, r.url, c] as const),
  );
  it.each(cells)('%s', async (_name, method, url, c) => {
    const policy = policyFor(method, url);
    expect(policy, `${method} ${url} has no policy`).toBeDefined();
    const outcome = expected(policy!.rule, policy!.queryToken === true, method, c);
    const removes = method === 'DELETE' && url === '/api/v2/downloads/:id';
    const res = await call(method, url, c, removes ? await spareTask() : undefined);
    const why = `${res.status} ${res.text}`;
    if (outcome === 'unauthenticated') return expect(res.status, why).toBe(401);
    if (outcome === 'forbidden') return expect(res.status, why).toBe(403);
    expect([401, 403], why).not.toContain(res.status);
    expect(res.status, why).not.toBe(500);
    if (!ownedResource(url)) return;
    // What the same caller gets for a resource that does not exist: others must not tell the difference.
    const ghost = await call(method, url, c, randomUUID());
    expect(ghost.status, `a missing resource: ${ghost.text}`).toBe(404);
    if (!c.isOwner) {
      expect(res.status, why).toBe(404);
      expect(res.error, 'the answer differs from the one for a missing resource').toBe(ghost.error);
    } else if (res.status === 404 && /\/:id\/.*:/.test(url)) {
      // A sub-resource (a subtitle language) the owner's download lacks: a 404, but not "no such download".
      expect(res.error, why).not.toBe(ghost.error);
    } else {
      expect((res.status >= 200 && res.status < 400) || res.status === 409, why).toBe(true);
    }
  });
});
