/**
 * Builds the dashboard into web/dist. The service worker (src/sw.ts) is
 * compiled separately to /sw.js (a fixed name: its URL is its identity) with
 * the list of app-shell files of this very build, so it precaches exactly
 * what index.html needs and drops the previous build's cache.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, transformWithEsbuild, type Plugin } from 'vite';
import react from '@vitejs/plugin-react';

const here = path.dirname(fileURLToPath(import.meta.url));

function serviceWorker(): Plugin {
  return {
    name: 'ytbh-service-worker',
    apply: 'build',
    async generateBundle(_options, bundle) {
      const shell = [
        '/',
        ...Object.keys(bundle)
          .filter((f) => /\.(js|css|webmanifest|png|svg|woff2)$/.test(f) && !f.endsWith('.map'))
          .map((f) => `/${f}`),
        '/manifest.webmanifest',
        '/icons/icon-192.png',
        '/icons/icon.svg',
      ].sort();
      const unique = [...new Set(shell)];
      const version = createHash('sha256').update(unique.join('\n')).digest('hex').slice(0, 12);
      let source = readFileSync(path.join(here, 'src/sw.ts'), 'utf8');
      for (const [marker, value] of [
        ['[/* SHELL_FILES */]', JSON.stringify(unique)],
        ["/* BUILD_VERSION */ 'dev'", JSON.stringify(version)],
      ] as const) {
        if (!source.includes(marker)) throw new Error(`src/sw.ts lost its ${marker} marker`);
        source = source.replace(marker, value);
      }
      const { code } = await transformWithEsbuild(source, 'sw.ts', { loader: 'ts', minify: true, format: 'iife' });
      this.emitFile({ type: 'asset', fileName: 'sw.js', source: code });
    },
  };
}

export default defineConfig({
  root: here,
  base: '/',
  plugins: [react(), serviceWorker()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // Inlined assets would become data: URLs; keeping them as files keeps the CSP simple and caching per file.
    assetsInlineLimit: 0,
    sourcemap: false,
  },
  server: {
    // `npm run dev:web`: the API runs on `npm run dev` (port 8000).
    proxy: { '/api': { target: 'http://127.0.0.1:8000', ws: true } },
  },
});
