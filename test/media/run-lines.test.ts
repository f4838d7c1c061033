/** runProcess's line-streaming mode (onStdoutLine), added for ffmpeg's -progress output. */
import { describe, expect, it } from 'vitest';
import { runProcess } from '../../src/extract/ytdlp/run.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('runProcess onStdoutLine', () => {
  it('delivers lines split across writes, CRLF trimmed, the unterminated last one too', async () => {
    const lines: string[] = [];
    // The multi-byte "é" is split across two writes.
    const script = "printf 'a=1\\r\\nb='; sleep 0.1; printf '\\303'; sleep 0.1; printf '\\251\\n\\nlast'";
    const res = await runProcess('sh', ['-c', script], { timeoutMs: 5000, onStdoutLine: (l) => lines.push(l) });
    expect(lines).toEqual(['a=1', 'b=é', '', 'last']);
    expect(res).toMatchObject({ code: 0, stdout: '' });
  });

  it('is not limited in total, only per line', async () => {
    let count = 0;
    const res = await runProcess('sh', ['-c', 'yes progress=continue | head -n 20000'], {
      timeoutMs: 10_000,
      maxStdoutBytes: 1024,
      onStdoutLine: () => count++,
    });
    expect(res.code).toBe(0);
    expect(count).toBe(20000);
  });

  it('kills a process printing an over-long line', async () => {
    let pid = 0;
    await expect(
      runProcess('sh', ['-c', 'head -c 100000 /dev/zero | tr "\\0" x; exec sleep 30'], {
        timeoutMs: 10_000,
        maxStdoutBytes: 1024,
        onStdoutLine: () => undefined,
        onSpawn: (p) => (pid = p),
      }),
    ).rejects.toMatchObject({ code: 'upstream_error' });
    expect(alive(pid)).toBe(false);
  });

  it('kills the process when the callback throws, and rejects with that error', async () => {
    let pid = 0;
    await expect(
      runProcess('sh', ['-c', 'echo one; exec sleep 30'], {
        timeoutMs: 10_000,
        onStdoutLine: () => {
          throw new Error('listener broke');
        },
        onSpawn: (p) => (pid = p),
      }),
    ).rejects.toThrow('listener broke');
    expect(alive(pid)).toBe(false);
  });
});
