import type { Command } from 'commander';

export function registerExtractCommands(program: Command): void {
  program
    .command('info <url>')
    .description('show video information')
    .option('--json', 'print the VideoInfo JSON')
    .action(() => {
      process.stderr.write('not available yet\n');
      process.exit(2);
    });
}
