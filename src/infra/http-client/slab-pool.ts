/**
 * The slabs BulkAgent's sockets read into, reused once every body chunk cut
 * from them has come back.
 *
 * Why: with a fresh slab per ~512 KiB of body, V8 ran a full GC every ~20 MiB
 * (external memory pressure) and the kernel faulted in fresh pages: on the
 * download benchmark a quarter of a download's time, gone with reuse.
 *
 * Safety: a slab is reused only when its connection has moved on to another
 * slab (retire) and every chunk lent from it has been recycled by a consumer
 * that no longer holds it (copyBodyToFile, once the chunk's write completed).
 * Chunks are tracked one by one, so recycling a chunk twice, or a buffer that
 * was never lent (a concatenation Readable.read() made), changes nothing; a
 * chunk never recycled leaves its slab to the garbage collector, as before.
 */
interface SlabState {
  lent: number;
  retired: boolean;
}

export class SlabPool {
  private readonly free = new Map<number, Buffer[]>();
  private freeBytes = 0;
  private readonly states = new WeakMap<ArrayBufferLike, SlabState>();
  private readonly lentChunks = new WeakSet<Buffer>();

  /** `maxFreeBytes`: slabs kept for reuse beyond this are left to the garbage collector. */
  constructor(private readonly maxFreeBytes: number) {}

  /** A slab of exactly `size` bytes, reused when one is free. */
  take(size: number): Buffer {
    const pooled = this.free.get(size)?.pop();
    if (pooled) this.freeBytes -= size;
    const slab = pooled ?? Buffer.allocUnsafeSlow(size);
    this.states.set(slab.buffer, { lent: 0, retired: false });
    return slab;
  }

  /** `chunk`, a view of a slab from take(), goes out to a consumer. */
  lend(chunk: Buffer): void {
    const state = this.states.get(chunk.buffer);
    if (!state || this.lentChunks.has(chunk)) return;
    this.lentChunks.add(chunk);
    state.lent++;
  }

  /** The consumer is done with `chunk` (nothing refers to its bytes any more). */
  recycle(chunk: Buffer): void {
    if (!this.lentChunks.delete(chunk)) return;
    const state = this.states.get(chunk.buffer);
    if (!state) return;
    state.lent--;
    this.maybeFree(chunk.buffer, state);
  }

  /** No more reads go into `slab`: free once its chunks are back. */
  retire(slab: Buffer): void {
    const state = this.states.get(slab.buffer);
    if (!state || state.retired) return;
    state.retired = true;
    this.maybeFree(slab.buffer, state);
  }

  private maybeFree(buffer: ArrayBufferLike, state: SlabState): void {
    if (!state.retired || state.lent > 0) return;
    this.states.delete(buffer);
    const size = buffer.byteLength;
    if (this.freeBytes + size > this.maxFreeBytes) return;
    const list = this.free.get(size) ?? [];
    list.push(Buffer.from(buffer as ArrayBuffer, 0, size));
    this.free.set(size, list);
    this.freeBytes += size;
  }
}
