/** Facts about the machine printed with every benchmark: figures mean little without them. */
import { execFile } from 'node:child_process';
import os from 'node:os';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface BaseMachine {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  os: string;
  node: string;
  ytdlp: string;
  /** 1-minute load average when the run started and when it ended (other work on the machine skews figures) */
  loadAvg: { start: number; end: number };
}

/** First line of a tool's output, or 'not found'. */
export async function toolVersion(cmd: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await run(cmd, args, { timeout: 10_000 });
    return stdout.split('\n')[0]!.trim();
  } catch {
    return 'not found';
  }
}

export async function baseMachineFacts(): Promise<BaseMachine> {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    ytdlp: await toolVersion('yt-dlp', ['--version']),
    loadAvg: { start: Math.round(os.loadavg()[0]! * 100) / 100, end: NaN },
  };
}
