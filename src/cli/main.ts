#!/usr/bin/env node
/** The `ytbh` command line: thin wrappers that parse arguments and call domain code. */
import { Command, Option } from 'commander';
import { ConfigError, loadConfig, type Config } from '../config/config.js';
import { VERSION } from '../app/version.js';
import { registerServe } from './serve.js';
import { registerMigrate } from './migrate.js';
import { registerUser } from './user.js';
import { registerExtractCommands } from './extract.js';
import { registerDownload } from './download.js';
import { registerKeys } from './keys.js';

export function configFromEnv(overrides: Partial<Config> = {}): Config {
  return loadConfig(process.env, overrides);
}

function fail(err: unknown): never {
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
  const e = err as { code?: string; message?: string };
  process.stderr.write(`error${e.code ? ` (${e.code})` : ''}: ${e.message ?? String(err)}\n`);
  process.exit(1);
}

const program = new Command()
  .name('ytbh')
  .description(
    'YouTuberBilBiliHelper: video info, downloads and streaming for YouTube, BiliBili, Twitch, TikTok and more',
  )
  .version(VERSION)
  .addOption(new Option('--log-level <level>', 'log level').env('LOG_LEVEL'))
  .showHelpAfterError();

registerServe(program);
registerMigrate(program);
registerUser(program);
registerExtractCommands(program);
registerDownload(program);
registerKeys(program);

program.parseAsync(process.argv).catch(fail);

export { fail };
