/**
 * `npm run bench [-- NAME...]`: runs every benchmark (or the named ones),
 * prints their tables and writes bench/results/NAME.json and NAME.md.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runDownloadBench } from './download.js';
import { runExtractionBench, type BenchReport } from './extraction.js';

process.env.LOG_LEVEL = 'silent';

const RESULTS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results');

const BENCHMARKS: Record<string, (progress: (msg: string) => void) => Promise<BenchReport>> = {
  extraction: runExtractionBench,
  download: runDownloadBench,
};

async function main(): Promise<void> {
  const wanted = process.argv.slice(2);
  const unknown = wanted.filter((n) => !(n in BENCHMARKS));
  if (unknown.length)
    throw new Error(`unknown benchmark(s): ${unknown.join(', ')}; known: ${Object.keys(BENCHMARKS).join(', ')}`);
  const names = wanted.length ? wanted : Object.keys(BENCHMARKS);
  await mkdir(RESULTS_DIR, { recursive: true });
  const summary: string[] = [];
  for (const name of names) {
    const t0 = performance.now();
    const log = (msg: string) => console.error(`[${name} +${((performance.now() - t0) / 1000).toFixed(1)} s] ${msg}`);
    log('starting');
    const report = await BENCHMARKS[name]!(log);
    const json = path.join(RESULTS_DIR, `${report.name}.json`);
    const md = path.join(RESULTS_DIR, `${report.name}.md`);
    await writeFile(json, JSON.stringify(report.json, null, 2) + '\n');
    await writeFile(md, report.markdown);
    log('done');
    console.log(`\n=== ${report.name} ===\n${report.text}\n`);
    summary.push(
      `${report.name}: ${((performance.now() - t0) / 1000).toFixed(1)} s → ${path.relative(process.cwd(), json)}, ${path.relative(process.cwd(), md)}`,
    );
  }
  console.log(summary.join('\n'));
}

main().then(
  // Pools and keep-alive sockets of the code under test must not hold the process open.
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
