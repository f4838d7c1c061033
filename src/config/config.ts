/**
 * Typed configuration from environment variables and an optional JSON file
 * (YTBH_CONFIG, keys are the env names). Environment wins over the file.
 * Invalid values stop the process with a message naming the variable.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { FIELDS, type Field, type FieldName } from './fields.js';
import { parseBudget, parsePlatformMap, parseSeconds, type Budget } from './platform-map.js';
import type { Platform } from '../extract/model.js';

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  databaseUrl: string | undefined;
  redisUrl: string | undefined;
  role: 'all' | 'api' | 'worker';
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  ytdlpPath: string;
  ffmpegPath: string;
  upstreamRewrite: string | undefined;
  allowPrivateAddresses: boolean;
  trustProxy: string[];
  bodyLimit: number;
  jwtSecret: string | undefined;
  encryptionKey: string | undefined;
  videoInfoTtl: number;
  ytdlpTimeoutMs: number;
  upstreamTimeoutMs: number;
  videoInfoTtlByPlatform: Partial<Record<Platform, number>>;
  platformBudget: Partial<Record<Platform, Budget>>;
  ytdlpFallback: boolean;
  workerConcurrency: number;
  platformConcurrency: Partial<Record<Platform, number>>;
  queueLockMs: number;
  queueStalledIntervalMs: number;
  maxAttempts: number;
  storage: 'local' | 's3';
  s3Endpoint: string | undefined;
  s3Region: string;
  s3Bucket: string | undefined;
  s3AccessKeyId: string | undefined;
  s3SecretAccessKey: string | undefined;
  s3ForcePathStyle: boolean;
  s3Prefix: string;
  registration: 'open' | 'invite' | 'closed';
  accessTokenTtl: number;
  refreshTokenTtl: number;
  encryptionKeysPrevious: string[];
  corsOrigins: string[];
  rateLimit: number;
  rateLimitAnonymous: number;
  rateLimitAuth: number;
}

/** True when state is shared with other processes (secrets must then be given, not generated). */
export function isDistributed(config: Pick<Config, 'databaseUrl' | 'redisUrl'>): boolean {
  return Boolean(config.databaseUrl || config.redisUrl);
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

type Source = Record<string, string | undefined>;

/** STORAGE=s3 needs a bucket and credentials; S3_PREFIX must be plain key segments. */
function storageProblems(config: Config): string[] {
  const problems: string[] = [];
  if (config.storage === 's3') {
    if (!config.s3Bucket) problems.push('S3_BUCKET is required when STORAGE=s3');
    if (!config.s3AccessKeyId) problems.push('S3_ACCESS_KEY_ID is required when STORAGE=s3');
    if (!config.s3SecretAccessKey) problems.push('S3_SECRET_ACCESS_KEY is required when STORAGE=s3');
  }
  // Lenient on purpose (S3-compatible servers allow legacy names); catches 's3://b' and 'b/path'.
  if (config.s3Bucket !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._-]{1,253}[A-Za-z0-9]$/.test(config.s3Bucket)) {
    problems.push(`S3_BUCKET must be a bucket name, not a URL or path (got '${config.s3Bucket}')`);
  }
  const prefix = config.s3Prefix ?? '';
  if (prefix !== '' && !/^(?:[A-Za-z0-9][A-Za-z0-9._-]{0,199}\/)*(?:[A-Za-z0-9][A-Za-z0-9._-]{0,199})?$/.test(prefix)) {
    problems.push(`S3_PREFIX must be plain path segments such as 'ytbh/' (got '${prefix}')`);
  }
  return problems;
}

function parseValue(field: Field, raw: string): { value?: unknown; problem?: string } {
  const t = field.type;
  const name = field.env;
  switch (t.kind) {
    case 'string':
      return raw === '' ? { value: undefined } : { value: raw };
    case 'int': {
      const n = Number(raw);
      if (!/^-?\d+$/.test(raw.trim()) || n < t.min || n > t.max) {
        return { problem: `${name} must be an integer from ${t.min} to ${t.max} (got '${raw}')` };
      }
      return { value: n };
    }
    case 'bool': {
      const v = raw.trim().toLowerCase();
      if (['1', 'true', 'yes', 'on'].includes(v)) return { value: true };
      if (['0', 'false', 'no', 'off', ''].includes(v)) return { value: false };
      return { problem: `${name} must be true or false (got '${raw}')` };
    }
    case 'enum':
      return t.values.includes(raw)
        ? { value: raw }
        : { problem: `${name} must be one of ${t.values.join(', ')} (got '${raw}')` };
    case 'url': {
      if (raw === '') return { value: undefined };
      try {
        const u = new URL(raw);
        if (!t.protocols.includes(u.protocol)) throw new Error('protocol');
        return { value: raw };
      } catch {
        const shown = field.secret ? '<hidden>' : `'${raw}'`;
        return {
          problem: `${name} must be a ${t.protocols.map((p) => p.replace(':', '://')).join(' or ')} URL (got ${shown})`,
        };
      }
    }
    case 'list':
      return {
        value: raw
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
      };
  }
}

function readConfigFile(file: string): Source {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError([`YTBH_CONFIG: cannot read ${file} as JSON (${(err as Error).message})`]);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError([`YTBH_CONFIG: ${file} must hold a JSON object`]);
  }
  const known = new Set(Object.values(FIELDS).map((f) => f.env as string));
  const out: Source = {};
  for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
    if (!known.has(k)) throw new ConfigError([`YTBH_CONFIG: unknown setting '${k}'`]);
    out[k] = Array.isArray(v) ? v.join(',') : String(v);
  }
  return out;
}

export function loadConfig(env: Source = process.env, overrides: Partial<Config> = {}): Config {
  const source: Source = { ...(env.YTBH_CONFIG ? readConfigFile(env.YTBH_CONFIG) : {}), ...env };
  const problems: string[] = [];
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(FIELDS) as [FieldName, Field][]) {
    const raw = source[field.env];
    if (raw === undefined) {
      out[key] = field.default;
      continue;
    }
    const { value, problem } = parseValue(field, raw);
    if (problem) problems.push(problem);
    else out[key] = value ?? field.default;
  }
  const ttl = parsePlatformMap(
    'VIDEO_INFO_TTL_BY_PLATFORM',
    String(out.videoInfoTtlByPlatform ?? ''),
    parseSeconds,
    'seconds',
  );
  const budget = parsePlatformMap(
    'PLATFORM_BUDGET',
    String(out.platformBudget ?? ''),
    parseBudget,
    'requests/windowSeconds',
  );
  const caps = parsePlatformMap('PLATFORM_CONCURRENCY', String(out.platformConcurrency ?? ''), parseSeconds, 'count');
  for (const p of [ttl.problem, budget.problem, caps.problem]) if (p) problems.push(p);
  out.platformConcurrency = caps.value ?? {};
  out.videoInfoTtlByPlatform = ttl.value ?? {};
  out.platformBudget = budget.value ?? {};
  const config = { ...(out as unknown as Config), ...overrides };
  if (config.jwtSecret !== undefined && config.jwtSecret.length < 32)
    problems.push('JWT_SECRET must be at least 32 characters');
  problems.push(...storageProblems(config));
  if (problems.length) throw new ConfigError(problems);
  config.dataDir = path.resolve(config.dataDir);
  return config;
}
