/** SlabPool: when a slab may be read into again. */
import { describe, expect, it } from 'vitest';
import { SlabPool } from '../../src/infra/http-client/slab-pool.js';

const KiB = 1024;

describe('SlabPool', () => {
  it('reuses a slab only when it is retired and every lent chunk is back', () => {
    const pool = new SlabPool(1024 * KiB);
    const slab = pool.take(256 * KiB);
    const a = slab.subarray(0, 100);
    const b = slab.subarray(100, 300);
    pool.lend(a);
    pool.lend(b);
    pool.retire(slab);
    pool.recycle(a);
    expect(pool.take(256 * KiB).buffer).not.toBe(slab.buffer); // b is still out
    pool.recycle(b);
    expect(pool.take(256 * KiB).buffer).toBe(slab.buffer);
  });

  it('does not reuse a slab its connection still reads into, even with no chunk out', () => {
    const pool = new SlabPool(1024 * KiB);
    const slab = pool.take(128 * KiB);
    const a = slab.subarray(0, 10);
    pool.lend(a);
    pool.recycle(a);
    expect(pool.take(128 * KiB).buffer).not.toBe(slab.buffer);
  });

  it('ignores double recycling, buffers it never lent, and a second lend of the same chunk', () => {
    const pool = new SlabPool(1024 * KiB);
    const slab = pool.take(128 * KiB);
    const a = slab.subarray(0, 10);
    const b = slab.subarray(10, 20);
    pool.lend(a);
    pool.lend(a);
    pool.lend(b);
    pool.retire(slab);
    pool.recycle(a);
    pool.recycle(a); // would free the slab under b if counted twice
    pool.recycle(Buffer.from(b)); // a copy, never lent
    pool.recycle(Buffer.alloc(10));
    expect(pool.take(128 * KiB).buffer).not.toBe(slab.buffer);
    pool.recycle(b);
    expect(pool.take(128 * KiB).buffer).toBe(slab.buffer);
  });

  it('keeps at most maxFreeBytes of free slabs, by exact size', () => {
    const pool = new SlabPool(256 * KiB);
    const slabs = [pool.take(128 * KiB), pool.take(128 * KiB), pool.take(128 * KiB)];
    for (const s of slabs) pool.retire(s);
    expect(pool.take(64 * KiB).length).toBe(64 * KiB); // another size: a new slab
    const reused = [pool.take(128 * KiB), pool.take(128 * KiB), pool.take(128 * KiB)].map((s) => s.buffer);
    expect(reused.filter((b) => slabs.some((s) => s.buffer === b))).toHaveLength(2);
  });
});
