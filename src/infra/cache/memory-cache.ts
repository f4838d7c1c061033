/** In-process cache for the embedded default: lru-cache for keys, EventEmitter for pub/sub. */
import { EventEmitter } from 'node:events';
import { LRUCache } from 'lru-cache';
import type { Cache, Unsubscribe } from './cache.js';

export class MemoryCache implements Cache {
  readonly kind = 'memory' as const;
  private readonly store: LRUCache<string, string>;
  private readonly bus = new EventEmitter();

  constructor(maxEntries = 100_000) {
    // ttlResolution 0: a cached clock made getRemainingTTL report stale values (seen: 10 s on a 2 s TTL).
    this.store = new LRUCache<string, string>({
      max: maxEntries,
      ttlAutopurge: false,
      allowStale: false,
      ttlResolution: 0,
    });
    this.bus.setMaxListeners(0);
  }

  async get(key: string): Promise<string | null> {
    return this.store.get(key) ?? null;
  }

  async set(key: string, value: string, ttlSeconds?: number): Promise<void> {
    this.store.set(key, value, ttlSeconds ? { ttl: ttlSeconds * 1000 } : {});
  }

  async setIfAbsent(key: string, value: string, ttlSeconds: number): Promise<boolean> {
    if (this.store.has(key)) return false;
    this.store.set(key, value, { ttl: ttlSeconds * 1000 });
    return true;
  }

  async del(key: string): Promise<void> {
    this.store.delete(key);
  }

  async incr(key: string, ttlSeconds?: number): Promise<number> {
    // Synchronous read-modify-write: atomic within the single event loop.
    const current = this.store.get(key);
    const next = (current === undefined ? 0 : Number(current)) + 1;
    if (current === undefined) this.store.set(key, String(next), ttlSeconds ? { ttl: ttlSeconds * 1000 } : {});
    else this.store.set(key, String(next), { noUpdateTTL: true });
    return next;
  }

  async ttlMs(key: string): Promise<number> {
    if (!this.store.has(key)) return -2;
    const remaining = this.store.getRemainingTTL(key);
    return Number.isFinite(remaining) ? Math.max(0, Math.round(remaining)) : -1;
  }

  async publish(channel: string, message: string): Promise<void> {
    // Async like Redis: a publisher never runs subscriber code on its own stack.
    setImmediate(() => this.bus.emit(channel, message));
  }

  async subscribe(channel: string, handler: (message: string) => void): Promise<Unsubscribe> {
    this.bus.on(channel, handler);
    return async () => {
      this.bus.off(channel, handler);
    };
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    this.store.clear();
    this.bus.removeAllListeners();
  }
}
