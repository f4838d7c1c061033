/**
 * A real S3-protocol server for storage tests: s3rver in a child `node`
 * process on 127.0.0.1 (port 0), with a throwaway data directory and one
 * bucket created before it starts listening. Running it out of process keeps
 * its memory and CPU out of the test worker (the streaming tests measure the
 * worker's RSS) and exercises the client over a real socket.
 *
 * The child reports its port and every request it receives (method + URL) as
 * JSON lines on stdout; it exits when its stdin closes, so it never outlives
 * the test process.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';

export interface S3RequestRecord {
  method: string;
  /** path and query, e.g. `/bucket/key?partNumber=1&uploadId=…` */
  url: string;
}

export interface TestS3Server {
  /** `http://127.0.0.1:PORT` */
  endpoint: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** s3rver's data directory (objects live under `<directory>/<bucket>/`) */
  directory: string;
  /** every request seen so far, in arrival order */
  requests: S3RequestRecord[];
  stop(): Promise<void>;
}

// CommonJS, run with `node -e`; argv: s3rver module path, data directory, bucket.
const CHILD_SCRIPT = `
const S3rver = require(process.argv[1]);
const [directory, bucket] = process.argv.slice(2);
const server = new S3rver({
  address: '127.0.0.1',
  port: 0,
  silent: true,
  directory,
  vhostBuckets: false,
  configureBuckets: [{ name: bucket }],
});
const say = (msg) => process.stdout.write(JSON.stringify(msg) + '\\n');
server.run().then(
  (address) => {
    server.httpServer.prependListener('request', (req) => say({ request: { method: req.method, url: req.url } }));
    say({ port: address.port });
  },
  (err) => {
    say({ error: String((err && err.stack) || err) });
    process.exit(1);
  },
);
process.stdin.on('end', () => {
  server.close().finally(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
});
process.stdin.resume();
`;

export async function startS3Server(bucket = 'ytbh-test'): Promise<TestS3Server> {
  const modulePath = createRequire(import.meta.url).resolve('s3rver');
  const directory = await mkdtemp(path.join(os.tmpdir(), 'ytbh-s3rver-'));
  const child: ChildProcessByStdio<Writable, Readable, Readable> = spawn(
    process.execPath,
    ['-e', CHILD_SCRIPT, modulePath, directory, bucket],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  const requests: S3RequestRecord[] = [];
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr = (stderr + d).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`s3rver did not start in 15 s\n${stderr}`)), 15_000);
    const fail = (why: string) => {
      clearTimeout(timer);
      reject(new Error(`s3rver failed to start: ${why}\n${stderr}`));
    };
    child.once('error', (err) => fail(err.message));
    child.once('exit', (code, signal) => fail(`exited with ${signal ?? code}`));
    createInterface({ input: child.stdout }).on('line', (line) => {
      let msg: { port?: number; error?: string; request?: S3RequestRecord };
      try {
        msg = JSON.parse(line) as typeof msg;
      } catch {
        return; // stray output
      }
      if (msg.request) requests.push(msg.request);
      else if (typeof msg.port === 'number') {
        clearTimeout(timer);
        resolve(msg.port);
      } else if (msg.error) fail(msg.error);
    });
  }).catch(async (err: unknown) => {
    child.kill('SIGKILL');
    await rm(directory, { recursive: true, force: true });
    throw err;
  });

  let stopped: Promise<void> | undefined;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    directory,
    requests,
    stop() {
      stopped ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.stdin.end();
          const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
          await exited;
          clearTimeout(timer);
        }
        await rm(directory, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}
