import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    // Most test time is spent waiting on child processes, Chromium and sockets, not CPU:
    // four files at once on two cores roughly halves the wall time.
    poolOptions: { forks: { minForks: 1, maxForks: 4 } },
    testTimeout: 60_000,
    // Start-up (PGlite, ffmpeg media, Chromium) is CPU-bound: generous on a loaded 2-core machine.
    hookTimeout: 180_000,
    reporters: ['default'],
  },
});
