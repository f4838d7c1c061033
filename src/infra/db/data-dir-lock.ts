/**
 * PGlite is one process's database: a second process opening the same data
 * directory would corrupt it. A pid lock file turns that into a clear error.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function lockDataDir(lockFile: string): () => void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(lockFile, String(process.pid), { flag: 'wx' });
      return () => rmSync(lockFile, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number(readFileSync(lockFile, 'utf8'));
      if (holder && holder !== process.pid && alive(holder)) {
        throw new Error(
          `The embedded database in ${lockFile.replace(/\/[^/]+$/, '')} is in use by process ${holder}. ` +
            'It serves one process; set DATABASE_URL (and REDIS_URL) to run several.',
        );
      }
      rmSync(lockFile, { force: true }); // stale lock from a crashed process
    }
  }
  throw new Error(`Could not lock ${lockFile}`);
}
