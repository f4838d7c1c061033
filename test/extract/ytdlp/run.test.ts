import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runProcess, runYtdlp } from '../../../src/extract/ytdlp/run.js';
import { type MediaServer, startMediaServer } from '../../support/media-server.js';

/** True while a process with this pid exists (our children are reaped before 'close'). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('runProcess', () => {
  it('kills a process that overruns its deadline, before rejecting', async () => {
    let pid = 0;
    const started = Date.now();
    await expect(runProcess('sleep', ['30'], { timeoutMs: 200, onSpawn: (p) => (pid = p) })).rejects.toMatchObject({
      code: 'upstream_timeout',
    });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(pid).toBeGreaterThan(0);
    expect(alive(pid)).toBe(false);
  });

  it('kills a process whose output exceeds the limit', async () => {
    let pid = 0;
    await expect(
      runProcess('yes', [], { timeoutMs: 10_000, maxStdoutBytes: 64 * 1024, onSpawn: (p) => (pid = p) }),
    ).rejects.toMatchObject({ code: 'upstream_error' });
    expect(alive(pid)).toBe(false);
  });

  it('kills on abort and rejects with the abort reason', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('client went away')), 100);
    await expect(runProcess('sleep', ['30'], { timeoutMs: 10_000, signal: ac.signal })).rejects.toThrow(
      'client went away',
    );
  });

  it('resolves with the exit code and both streams', async () => {
    const res = await runProcess('sh', ['-c', 'echo out; echo err >&2; exit 3'], { timeoutMs: 5000 });
    expect(res).toEqual({ code: 3, stdout: 'out\n', stderr: 'err\n' });
  });

  it('reports a missing binary as internal_error', async () => {
    await expect(runProcess('/nonexistent/yt-dlp', [], { timeoutMs: 1000 })).rejects.toMatchObject({
      code: 'internal_error',
      message: 'yt-dlp is not installed',
    });
  });
});

describe('runYtdlp', () => {
  let dir: string;
  let server: MediaServer;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ytbh-ytdlp-run-'));
    server = await startMediaServer(dir, { paths: { '/hang.mp4': { delayMs: Infinity } } });
  });
  afterAll(async () => {
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it.each(['file:///etc/passwd', 'ftp://example.com/a.mp4', '--exec=touch /tmp/x', 'data:text/html,hi'])(
    'refuses %s without spawning',
    async (url) => {
      let spawned = false;
      await expect(runYtdlp(url, ['-J'], { timeoutMs: 5000, onSpawn: () => (spawned = true) })).rejects.toMatchObject({
        code: 'invalid_url',
      });
      expect(spawned).toBe(false);
    },
  );

  it('kills yt-dlp when the server never answers', async () => {
    let pid = 0;
    const started = Date.now();
    // yt-dlp's own socket timeout (60 s) is far away, so only our deadline (15 s: room for Python's
    // start-up on a loaded machine, so the request surely hangs first) can end this.
    await expect(
      runYtdlp(`${server.url}/hang.mp4`, ['-J'], { timeoutMs: 15_000, socketTimeoutS: 60, onSpawn: (p) => (pid = p) }),
    ).rejects.toMatchObject({ code: 'upstream_timeout' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(15_000);
    expect(Date.now() - started).toBeLessThan(25_000);
    expect(server.requests.get('/hang.mp4')).toBe(1);
    expect(alive(pid)).toBe(false);
  });
});
