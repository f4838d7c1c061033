import path from 'node:path';
import type { Config } from '../../config/config.js';
import { LocalStorage } from './local-storage.js';
import { S3Storage } from './s3-storage.js';
import type { ObjectStorage } from './storage.js';

export type { ByteRange, ObjectStorage, StorageKind, StoredObject } from './storage.js';
export { safeKey } from './storage.js';
export { LocalStorage } from './local-storage.js';
export { S3Storage, S3_PART_SIZE, S3_QUEUE_SIZE, type S3StorageOptions, type S3UploadProgress } from './s3-storage.js';

export type StorageConfig = Pick<
  Config,
  | 'storage'
  | 's3Endpoint'
  | 's3Region'
  | 's3Bucket'
  | 's3AccessKeyId'
  | 's3SecretAccessKey'
  | 's3ForcePathStyle'
  | 's3Prefix'
>;

/** STORAGE=s3 → the bucket (loadConfig has checked its settings); otherwise files under DATA_DIR/storage. */
export function openStorage(config: StorageConfig, dataDir: string): ObjectStorage {
  if (config.storage === 's3') {
    if (!config.s3Bucket) throw new Error('S3_BUCKET is required when STORAGE=s3');
    return new S3Storage({
      bucket: config.s3Bucket,
      region: config.s3Region,
      endpoint: config.s3Endpoint,
      accessKeyId: config.s3AccessKeyId,
      secretAccessKey: config.s3SecretAccessKey,
      forcePathStyle: config.s3ForcePathStyle,
      prefix: config.s3Prefix,
    });
  }
  return new LocalStorage(path.join(dataDir, 'storage'));
}
