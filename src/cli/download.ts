import type { Command } from 'commander';

export function registerDownload(program: Command): void {
  program
    .command('download <url>')
    .description('download a video (arrives with the delivery pipeline)')
    .option('-q, --quality <quality>', 'best | 2160 | 1440 | 1080 | 720 | 480 | 360 | 240 | 144 | worst')
    .option('-f, --format <container>', 'mp4 | webm | mkv | m4a | mp3 | opus')
    .option('--audio-only', 'audio only')
    .option('-o, --output <dir>', 'output directory')
    .action(() => {
      process.stderr.write('ytbh download is not available in this version yet; use `ytbh info` to inspect a URL.\n');
      process.exit(2);
    });
}
