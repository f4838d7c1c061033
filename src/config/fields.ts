/**
 * Declarative config schema: every setting, its env var, type, default and
 * allowed values. One table so that validation messages, docs and defaults
 * never drift apart.
 */
export type FieldType =
  | { kind: 'string' }
  | { kind: 'int'; min: number; max: number }
  | { kind: 'bool' }
  | { kind: 'enum'; values: readonly string[] }
  | { kind: 'url'; protocols: readonly string[] }
  | { kind: 'list' };

export interface Field {
  env: string;
  type: FieldType;
  default?: string | number | boolean | string[];
  doc: string;
  secret?: boolean;
}

export const FIELDS = {
  port: {
    env: 'PORT',
    type: { kind: 'int', min: 0, max: 65535 },
    default: 8000,
    doc: 'HTTP port (0 picks a free one)',
  },
  host: { env: 'HOST', type: { kind: 'string' }, default: '127.0.0.1', doc: 'HTTP bind address' },
  dataDir: {
    env: 'DATA_DIR',
    type: { kind: 'string' },
    default: './data',
    doc: 'Embedded database, secrets and local files',
  },
  databaseUrl: {
    env: 'DATABASE_URL',
    type: { kind: 'url', protocols: ['postgres:', 'postgresql:'] },
    doc: 'PostgreSQL URL; unset → PGlite in DATA_DIR',
    secret: true,
  },
  redisUrl: {
    env: 'REDIS_URL',
    type: { kind: 'url', protocols: ['redis:', 'rediss:'] },
    doc: 'Redis URL; unset → in-memory cache and queue',
    secret: true,
  },
  role: { env: 'ROLE', type: { kind: 'enum', values: ['all', 'api', 'worker'] }, default: 'all', doc: 'Process role' },
  logLevel: {
    env: 'LOG_LEVEL',
    type: { kind: 'enum', values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] },
    default: 'info',
    doc: 'pino log level',
  },
  ytdlpPath: { env: 'YTDLP_PATH', type: { kind: 'string' }, default: 'yt-dlp', doc: 'yt-dlp executable' },
  ffmpegPath: { env: 'FFMPEG_PATH', type: { kind: 'string' }, default: 'ffmpeg', doc: 'ffmpeg executable' },
  upstreamRewrite: {
    env: 'YTBH_UPSTREAM_REWRITE',
    type: { kind: 'url', protocols: ['http:', 'https:'] },
    doc: 'Send platform requests to this replay server instead (tests)',
  },
  allowPrivateAddresses: {
    env: 'ALLOW_PRIVATE_ADDRESSES',
    type: { kind: 'bool' },
    default: false,
    doc: 'Let user URLs reach private/loopback hosts (tests only)',
  },
  trustProxy: {
    env: 'TRUST_PROXY',
    type: { kind: 'list' },
    default: [],
    doc: 'Proxy addresses/CIDRs whose X-Forwarded-For is trusted',
  },
  bodyLimit: {
    env: 'BODY_LIMIT',
    type: { kind: 'int', min: 1024, max: 64 * 1024 * 1024 },
    default: 1024 * 1024,
    doc: 'Largest accepted request body, bytes',
  },
  jwtSecret: {
    env: 'JWT_SECRET',
    type: { kind: 'string' },
    doc: 'JWT signing secret (≥ 32 chars); generated in embedded mode',
    secret: true,
  },
  encryptionKey: {
    env: 'ENCRYPTION_KEY',
    type: { kind: 'string' },
    doc: '32-byte key (base64 or 64 hex chars) for data at rest; generated in embedded mode',
    secret: true,
  },
  videoInfoTtl: {
    env: 'VIDEO_INFO_TTL',
    type: { kind: 'int', min: 0, max: 7 * 24 * 3600 },
    default: 3600,
    doc: 'Seconds an extraction result stays cached (video_info:{hash})',
  },
  ytdlpTimeoutMs: {
    env: 'YTDLP_TIMEOUT_MS',
    type: { kind: 'int', min: 1000, max: 600_000 },
    default: 60_000,
    doc: 'yt-dlp extraction deadline',
  },
  upstreamTimeoutMs: {
    env: 'UPSTREAM_TIMEOUT_MS',
    type: { kind: 'int', min: 500, max: 300_000 },
    default: 20_000,
    doc: 'Deadline for one platform API request',
  },
  videoInfoTtlByPlatform: {
    env: 'VIDEO_INFO_TTL_BY_PLATFORM',
    type: { kind: 'string' },
    default: '',
    doc: 'Per-platform cache TTL overrides, e.g. tiktok=600,youtube=1800',
  },
  platformBudget: {
    env: 'PLATFORM_BUDGET',
    type: { kind: 'string' },
    default: 'youtube=120/60,bilibili=60/60,twitch=120/60,tiktok=60/60,generic=60/60',
    doc: 'Outbound extraction budget per platform (platform_limit:{platform}:{window}): name=requests/windowSeconds',
  },
  ytdlpFallback: {
    env: 'YTDLP_FALLBACK',
    type: { kind: 'bool' },
    default: true,
    doc: 'Retry with yt-dlp when a native extractor cannot parse a page',
  },
  workerConcurrency: {
    env: 'WORKER_CONCURRENCY',
    type: { kind: 'int', min: 1, max: 64 },
    default: 3,
    doc: 'Downloads one worker process runs at once',
  },
  platformConcurrency: {
    env: 'PLATFORM_CONCURRENCY',
    type: { kind: 'string' },
    default: 'youtube=2,bilibili=2,twitch=2,tiktok=2,generic=2',
    doc: 'Per-platform cap on concurrent downloads within one worker, e.g. youtube=2',
  },
  queueLockMs: {
    env: 'QUEUE_LOCK_MS',
    type: { kind: 'int', min: 1000, max: 600_000 },
    default: 30_000,
    doc: 'Distributed mode: a download whose worker stops renewing its queue lock this long is taken over by another worker',
  },
  queueStalledIntervalMs: {
    env: 'QUEUE_STALLED_INTERVAL_MS',
    type: { kind: 'int', min: 500, max: 600_000 },
    default: 30_000,
    doc: 'Distributed mode: how often workers look for downloads whose worker died (stalled jobs)',
  },
  maxAttempts: {
    env: 'DOWNLOAD_MAX_ATTEMPTS',
    type: { kind: 'int', min: 1, max: 20 },
    default: 4,
    doc: 'Tries per download for transient failures (network, 5xx, 429), with exponential backoff',
  },
  storage: {
    env: 'STORAGE',
    type: { kind: 'enum', values: ['local', 's3'] },
    default: 'local',
    doc: 'Where downloaded files are kept: local (DATA_DIR/storage) or s3 (an S3-compatible bucket)',
  },
  s3Endpoint: {
    env: 'S3_ENDPOINT',
    type: { kind: 'url', protocols: ['http:', 'https:'] },
    doc: 'S3-compatible endpoint (MinIO, R2, …); unset → AWS S3 for S3_REGION',
  },
  s3Region: { env: 'S3_REGION', type: { kind: 'string' }, default: 'us-east-1', doc: 'S3 region' },
  s3Bucket: { env: 'S3_BUCKET', type: { kind: 'string' }, doc: 'S3 bucket; required when STORAGE=s3' },
  s3AccessKeyId: {
    env: 'S3_ACCESS_KEY_ID',
    type: { kind: 'string' },
    doc: 'S3 access key id; required when STORAGE=s3',
  },
  s3SecretAccessKey: {
    env: 'S3_SECRET_ACCESS_KEY',
    type: { kind: 'string' },
    doc: 'S3 secret access key; required when STORAGE=s3',
    secret: true,
  },
  s3ForcePathStyle: {
    env: 'S3_FORCE_PATH_STYLE',
    type: { kind: 'bool' },
    default: true,
    doc: 'Address buckets as endpoint/bucket/key instead of bucket.endpoint/key',
  },
  s3Prefix: {
    env: 'S3_PREFIX',
    type: { kind: 'string' },
    default: '',
    doc: "Prefix put before every object key, e.g. 'ytbh/'",
  },
  registration: {
    env: 'REGISTRATION',
    type: { kind: 'enum', values: ['open', 'invite', 'closed'] },
    default: 'invite',
    doc: 'Who may create an account: anyone (open), holders of an admin-made invite code (invite), or only admins (closed). The first account on an empty instance is always allowed and becomes admin',
  },
  accessTokenTtl: {
    env: 'ACCESS_TOKEN_TTL',
    type: { kind: 'int', min: 60, max: 86_400 },
    default: 900,
    doc: 'Seconds an access token (JWT) is valid',
  },
  refreshTokenTtl: {
    env: 'REFRESH_TOKEN_TTL',
    type: { kind: 'int', min: 3600, max: 31_536_000 },
    default: 2_592_000,
    doc: 'Seconds a refresh token is valid (each use rotates it)',
  },
  encryptionKeysPrevious: {
    env: 'ENCRYPTION_KEYS_PREVIOUS',
    type: { kind: 'list' },
    default: [],
    doc: 'Earlier ENCRYPTION_KEY values (comma-separated): rows they encrypted still decrypt until `ytbh keys rotate` re-encrypts them',
    secret: true,
  },
  corsOrigins: {
    env: 'CORS_ORIGINS',
    type: { kind: 'list' },
    default: [],
    doc: 'Origins allowed to call the API from a browser (e.g. https://app.example.com); empty → same origin only',
  },
  rateLimit: {
    env: 'RATE_LIMIT',
    type: { kind: 'int', min: 1, max: 1_000_000 },
    default: 600,
    doc: 'Requests per minute for a signed-in user (rate_limit:{user})',
  },
  rateLimitAnonymous: {
    env: 'RATE_LIMIT_ANONYMOUS',
    type: { kind: 'int', min: 1, max: 1_000_000 },
    default: 120,
    doc: 'Requests per minute from one IP address without credentials',
  },
  rateLimitAuth: {
    env: 'RATE_LIMIT_AUTH',
    type: { kind: 'int', min: 1, max: 10_000 },
    default: 10,
    doc: 'Login and register attempts per minute from one IP address',
  },
} as const satisfies Record<string, Field>;

export type FieldName = keyof typeof FIELDS;
