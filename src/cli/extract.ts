import type { Command } from 'commander';
import { cliConfig } from './context.js';
import { createLogger } from '../app/logger.js';
import { MemoryCache } from '../infra/cache/memory-cache.js';
import { HttpClient } from '../infra/http-client/http-client.js';
import { ExtractionService } from '../extract/service.js';
import type { VideoInfo } from '../extract/model.js';
import { formatsTable, infoSummary } from './format-table.js';

/** One-shot extraction with no database: nothing to start, nothing stored. */
async function extractOnce(url: string): Promise<VideoInfo> {
  const config = cliConfig();
  const http = new HttpClient({
    upstreamRewrite: config.upstreamRewrite,
    allowPrivateAddresses: config.allowPrivateAddresses,
    timeoutMs: config.upstreamTimeoutMs,
  });
  const cache = new MemoryCache();
  try {
    const service = new ExtractionService({ config, cache, http, log: createLogger(config, 2) });
    return (await service.info(url)).info;
  } finally {
    await http.close();
    await cache.close();
  }
}

export function registerExtractCommands(program: Command): void {
  program
    .command('info <url>')
    .description('show what is at a video URL')
    .option('--json', 'print the VideoInfo JSON (stable format)')
    .action(async (url: string, opts: { json?: boolean }) => {
      const info = await extractOnce(url);
      process.stdout.write(opts.json ? `${JSON.stringify(info, null, 2)}\n` : `${infoSummary(info)}\n`);
    });

  program
    .command('formats <url>')
    .description('list the formats of a video, like yt-dlp -F')
    .action(async (url: string) => {
      const info = await extractOnce(url);
      process.stdout.write(`${info.title}\n\n${formatsTable(info.formats)}\n`);
    });
}
