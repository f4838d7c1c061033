/**
 * `ytbh serve` for tests that run several processes of one distributed
 * deployment against the machine's shared Redis: the same start-up as
 * src/cli/serve.ts (config from the environment, ROLE included; graceful stop
 * on SIGTERM), plus the Redis key prefix YTBH_TEST_KEY_PREFIX, so the queue,
 * cache and channels of test files running in parallel stay apart (the CLI
 * always uses the prefix `ytbh`, and a stranger's worker would take our jobs).
 */
import { loadConfig } from '../../src/config/config.js';
import { startServer, stopOnSignals } from '../../src/server.js';

const prefix = process.env.YTBH_TEST_KEY_PREFIX;
const server = await startServer(loadConfig(process.env), prefix ? { cacheKeyPrefix: prefix } : {});
stopOnSignals(server);
