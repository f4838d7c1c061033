/** Redis cache for the distributed mode; shared by every api and worker process. */
import { Redis } from 'ioredis';
import type { Cache, Unsubscribe } from './cache.js';

// INCR then set the expiry only on creation, in one round trip and atomically.
const INCR_WITH_TTL = `
local v = redis.call('INCR', KEYS[1])
if v == 1 and tonumber(ARGV[1]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return v`;

export class RedisCache implements Cache {
  readonly kind = 'redis' as const;
  private readonly client: Redis;
  private subscriber: Redis | undefined;
  private readonly handlers = new Map<string, Set<(message: string) => void>>();

  /** keyPrefix namespaces keys and channels (one Redis shared by several instances or test files). */
  constructor(
    url: string,
    private readonly keyPrefix = '',
  ) {
    this.client = new Redis(url, { keyPrefix, lazyConnect: false, maxRetriesPerRequest: 2, enableOfflineQueue: true });
    this.client.on('error', () => {}); // surfaced through ping() and failing commands, not as crashes
  }

  /** The raw client, for libraries that need their own Redis (rate limiter, BullMQ). */
  get redis(): Redis {
    return this.client;
  }

  async get(key: string): Promise<string | null> {
    return this.client.get(key);
  }

  async set(key: string, value: string, ttlSeconds?: number): Promise<void> {
    if (ttlSeconds) await this.client.set(key, value, 'EX', ttlSeconds);
    else await this.client.set(key, value);
  }

  async setIfAbsent(key: string, value: string, ttlSeconds: number): Promise<boolean> {
    return (await this.client.set(key, value, 'EX', ttlSeconds, 'NX')) === 'OK';
  }

  async del(key: string): Promise<void> {
    await this.client.del(key);
  }

  async incr(key: string, ttlSeconds?: number): Promise<number> {
    const v = await this.client.eval(INCR_WITH_TTL, 1, key, String((ttlSeconds ?? 0) * 1000));
    return Number(v);
  }

  async ttlMs(key: string): Promise<number> {
    return this.client.pttl(key);
  }

  async publish(channel: string, message: string): Promise<void> {
    await this.client.publish(this.keyPrefix + channel, message);
  }

  async subscribe(channel: string, handler: (message: string) => void): Promise<Unsubscribe> {
    const full = this.keyPrefix + channel;
    if (!this.subscriber) {
      // A subscribed connection can do nothing else, so pub/sub gets its own.
      this.subscriber = this.client.duplicate({ keyPrefix: '' });
      this.subscriber.on('error', () => {});
      this.subscriber.on('message', (ch: string, msg: string) => {
        for (const h of this.handlers.get(ch) ?? []) h(msg);
      });
    }
    let set = this.handlers.get(full);
    if (!set) {
      set = new Set();
      this.handlers.set(full, set);
      await this.subscriber.subscribe(full);
    }
    set.add(handler);
    return async () => {
      set.delete(handler);
      if (set.size === 0 && this.handlers.get(full) === set) {
        this.handlers.delete(full);
        await this.subscriber?.unsubscribe(full);
      }
    };
  }

  async ping(): Promise<void> {
    await this.client.ping();
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.subscriber?.quit(), this.client.quit()]);
  }
}
