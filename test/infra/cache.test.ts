import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cache } from '../../src/infra/cache/index.js';
import { getJson, openCache, setJson } from '../../src/infra/cache/index.js';
import { redisNamespace, REDIS_URL, type TempRedis } from '../support/backends.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(['memory', 'redis'] as const)('%s cache', (kind) => {
  let cache: Cache;
  let ns: TempRedis | undefined;

  beforeAll(() => {
    ns = kind === 'redis' ? redisNamespace() : undefined;
    cache = openCache(ns?.url, ns?.prefix);
  });
  afterAll(async () => {
    await cache.close();
    await ns?.clean();
  });

  it('reports its kind and answers ping', async () => {
    expect(cache.kind).toBe(kind);
    await expect(cache.ping()).resolves.toBeUndefined();
  });

  it('stores values with and without TTL, and expires them', async () => {
    await cache.set('a', '1');
    await cache.set('b', '2', 1);
    expect(await cache.get('a')).toBe('1');
    expect(await cache.get('b')).toBe('2');
    expect(await cache.ttlMs('a')).toBe(-1);
    const ttl = await cache.ttlMs('b');
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(1000);
    await sleep(1100);
    expect(await cache.get('b')).toBeNull();
    expect(await cache.ttlMs('b')).toBe(-2);
    await cache.del('a');
    expect(await cache.get('a')).toBeNull();
  });

  it('round-trips JSON', async () => {
    await setJson(cache, 'video_info:x', { title: '标题', n: 1 }, 60);
    expect(await getJson(cache, 'video_info:x')).toEqual({ title: '标题', n: 1 });
    expect(await getJson(cache, 'missing')).toBeNull();
  });

  it('sets only when absent', async () => {
    expect(await cache.setIfAbsent('lock', 'me', 5)).toBe(true);
    expect(await cache.setIfAbsent('lock', 'you', 5)).toBe(false);
    expect(await cache.get('lock')).toBe('me');
  });

  it('increments atomically under concurrency and keeps the first TTL', async () => {
    const results = await Promise.all(Array.from({ length: 200 }, () => cache.incr('rate_limit:u1', 2)));
    expect(new Set(results).size).toBe(200);
    expect(Math.max(...results)).toBe(200);
    const ttl = await cache.ttlMs('rate_limit:u1');
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(2000);
    await sleep(2100);
    expect(await cache.incr('rate_limit:u1', 2)).toBe(1);
  });

  it('delivers published messages to subscribers until they unsubscribe', async () => {
    const got: string[] = [];
    const unsubscribe = await cache.subscribe('events', (m) => got.push(m));
    const other: string[] = [];
    const unsubOther = await cache.subscribe('other', (m) => other.push(m));
    await cache.publish('events', 'one');
    await cache.publish('events', 'two');
    for (let i = 0; i < 50 && got.length < 2; i++) await sleep(20);
    expect(got).toEqual(['one', 'two']);
    expect(other).toEqual([]);
    await unsubscribe();
    await cache.publish('events', 'three');
    await sleep(100);
    expect(got).toEqual(['one', 'two']);
    await unsubOther();
  });
});

describe('redis cache across processes', () => {
  it('shares keys and messages between two clients of one namespace, and isolates namespaces', async () => {
    const ns = redisNamespace();
    const a = openCache(ns.url, ns.prefix);
    const b = openCache(ns.url, ns.prefix);
    const stranger = openCache(REDIS_URL, `${ns.prefix}other:`);
    try {
      await a.set('task_progress:1', '50');
      expect(await b.get('task_progress:1')).toBe('50');
      expect(await stranger.get('task_progress:1')).toBeNull();
      const got: string[] = [];
      await b.subscribe('progress', (m) => got.push(m));
      const strangerGot: string[] = [];
      await stranger.subscribe('progress', (m) => strangerGot.push(m));
      await a.publish('progress', 'hello');
      for (let i = 0; i < 50 && got.length < 1; i++) await sleep(20);
      expect(got).toEqual(['hello']);
      expect(strangerGot).toEqual([]);
    } finally {
      await Promise.all([a.close(), b.close(), stranger.close()]);
      await ns.clean();
    }
  });

  it('fails ping when Redis is unreachable', async () => {
    const dead = openCache('redis://127.0.0.1:1');
    await expect(dead.ping()).rejects.toThrow();
    await dead.close();
  });
});
