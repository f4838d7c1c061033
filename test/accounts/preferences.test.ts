import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/server.js';
import { createTestUser, type TestUser } from '../support/auth.js';
import { startMediaServer, type MediaServer } from '../support/media-server.js';
import { call, session } from './helpers.js';

const DEFAULTS = {
  default_quality: 'best',
  default_format: 'mp4',
  default_audio_format: 'm4a',
  video_codec: 'any',
  audio_language: null,
  subtitles: [],
  notifications_enabled: true,
  email_notifications: false,
  webhook_url: null,
  auto_cleanup_days: null,
  theme: 'system',
  language: 'en',
};

describe('preferences (embedded, private addresses refused)', () => {
  let server: TestServer;
  let user: TestUser;
  let url: string;
  beforeAll(async () => {
    server = await startTestServer('embedded');
    user = await createTestUser(server.services, 'user');
    url = `${server.url}/api/v2/users/me/preferences`;
  }, 180_000);
  afterAll(async () => {
    await server?.close();
  });

  it('starts at the defaults; PUT changes only the fields given', async () => {
    const s = await session(server.url, user.username, user.password);
    const first = await call(s.fetch, url);
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ ...DEFAULTS, updated_at: expect.any(String) });

    const a = await call(s.fetch, url, 'PUT', { default_quality: '720', theme: 'dark', subtitles: ['en', 'zh-Hans'] });
    expect(a.status, JSON.stringify(a.body)).toBe(200);
    expect(a.body).toMatchObject({ ...DEFAULTS, default_quality: '720', theme: 'dark', subtitles: ['en', 'zh-Hans'] });

    const b = await call(s.fetch, url, 'PUT', {
      language: 'zh-CN',
      auto_cleanup_days: 30,
      audio_language: 'ja',
      email_notifications: true,
    });
    expect(b.status).toBe(200);
    expect(b.body).toMatchObject({
      default_quality: '720',
      theme: 'dark',
      subtitles: ['en', 'zh-Hans'],
      language: 'zh-CN',
      auto_cleanup_days: 30,
      audio_language: 'ja',
      email_notifications: true,
      notifications_enabled: true,
    });
    expect((await call(s.fetch, url)).body).toEqual(b.body);

    const cleared = await call(s.fetch, url, 'PUT', { audio_language: null, auto_cleanup_days: null, subtitles: [] });
    expect(cleared.body).toMatchObject({ audio_language: null, auto_cleanup_days: null, subtitles: [], theme: 'dark' });
  });

  it('accepts exactly the values download options accept', async () => {
    const s = await session(server.url, user.username, user.password);
    const bad: Record<string, unknown>[] = [
      {},
      { default_quality: '1080p' },
      { default_quality: '999' },
      { default_format: 'avi' },
      { default_format: 'mp3' }, // an audio container is not a video default
      { default_audio_format: 'webm' },
      { video_codec: 'hevc' },
      { audio_language: 'not a language' },
      { subtitles: ['en', 'en'] },
      { subtitles: Array.from({ length: 21 }, (_, i) => `l${String.fromCharCode(97 + (i % 26))}${i}`) },
      { theme: 'blue' },
      { language: 'fr' },
      { auto_cleanup_days: 0 },
      { auto_cleanup_days: 1.5 },
      { notifications_enabled: 'yes' },
      { webhook_url: 'x'.repeat(2049) },
      { colour: 'red' },
    ];
    for (const body of bad) {
      const r = await call(s.fetch, url, 'PUT', body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error.code).toBe('validation_failed');
    }
    for (const body of [
      { default_quality: 'worst', default_format: 'mkv', default_audio_format: 'opus', video_codec: 'av1' },
      { default_quality: '2160', default_format: 'webm', default_audio_format: 'mp3', video_codec: 'h264' },
    ]) {
      const r = await call(s.fetch, url, 'PUT', body);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body).toMatchObject(body);
    }
  });

  it('needs a session to change; an API key may read', async () => {
    expect((await call(user.fetch, url)).status).toBe(200);
    const r = await call(user.fetch, url, 'PUT', { theme: 'light' });
    expect(r.status).toBe(403);
    expect((await call(fetch, url)).status).toBe(401);
  });

  it('refuses webhook URLs that are not http(s) or point to private addresses', async () => {
    const s = await session(server.url, user.username, user.password);
    for (const hook of [
      'ftp://93.184.216.34/hook',
      'http://127.0.0.1:8080/hook',
      'http://localhost/hook',
      'http://10.0.0.5/hook',
      'http://169.254.169.254/latest/meta-data',
      'http://[::1]/hook',
      'https://user:secret@93.184.216.34/hook',
      'not a url',
    ]) {
      const r = await call(s.fetch, url, 'PUT', { webhook_url: hook });
      expect(r.status, hook).toBe(400);
      expect(r.body.error.code, hook).toBe('invalid_url');
    }
    expect((await call(s.fetch, url)).body.webhook_url).toBeNull();
  });

  it('stores the webhook URL encrypted and shows it only to its owner', async () => {
    const owner = await createTestUser(server.services, 'user');
    const s = await session(server.url, owner.username, owner.password);
    const hook = 'https://93.184.216.34/hooks/ytbh?token=s3cr3t-t0ken';
    const put = await call(s.fetch, url, 'PUT', { webhook_url: hook });
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    expect(put.body.webhook_url).toBe(hook);
    expect((await call(owner.fetch, url)).body.webhook_url).toBe(hook);

    const db = server.services.database.db;
    const row = await db
      .selectFrom('user_preferences')
      .select('webhook_url_enc')
      .where('user_id', '=', owner.id)
      .executeTakeFirstOrThrow();
    expect(row.webhook_url_enc).toMatch(/^v1\./);
    expect(row.webhook_url_enc).not.toContain('s3cr3t');
    expect(row.webhook_url_enc).not.toContain('93.184');
    // Bound to its row: the same ciphertext does not open as another user's.
    const { cipher } = server.services;
    expect(cipher.decrypt(row.webhook_url_enc!, `user_preferences.webhook_url:${owner.id}`)).toBe(hook);
    expect(() => cipher.decrypt(row.webhook_url_enc!, `user_preferences.webhook_url:${user.id}`)).toThrow();

    // Other users see their own preferences; the admin's view of the account carries no webhook.
    expect((await call(user.fetch, url)).body.webhook_url).toBeNull();
    const adminView = await call(server.fetch, `${server.url}/api/v2/admin/users/${owner.id}`);
    expect(adminView.status).toBe(200);
    expect(JSON.stringify(adminView.body)).not.toContain('s3cr3t');
    // Nor does the audit log.
    const audits = await db
      .selectFrom('audit_log')
      .selectAll()
      .where('action', '=', 'account.preferences_updated')
      .where('actor_id', '=', owner.id)
      .execute();
    expect(audits).toHaveLength(1);
    expect(audits[0]!.details).toEqual({ fields: ['webhook_url'] });
    expect(JSON.stringify(audits)).not.toContain('s3cr3t');

    const cleared = await call(s.fetch, url, 'PUT', { webhook_url: null });
    expect(cleared.body.webhook_url).toBeNull();
    const after = await db
      .selectFrom('user_preferences')
      .select('webhook_url_enc')
      .where('user_id', '=', owner.id)
      .executeTakeFirstOrThrow();
    expect(after.webhook_url_enc).toBeNull();
  });
});

describe('preferences as download defaults (embedded)', () => {
  let server: TestServer;
  let media: MediaServer;
  let mediaDir: string;
  beforeAll(async () => {
    // Nothing is served: the tasks fail fast in the worker, which is all these tests need.
    mediaDir = mkdtempSync(path.join(os.tmpdir(), 'ytbh-prefs-'));
    media = await startMediaServer(mediaDir);
    server = await startTestServer('embedded', { ALLOW_PRIVATE_ADDRESSES: 'true' });
  }, 180_000);
  afterAll(async () => {
    await server?.close();
    await media?.stop();
    rmSync(mediaDir, { recursive: true, force: true });
  });

  it('accepts a loopback webhook when private addresses are allowed', async () => {
    const u = await createTestUser(server.services, 'user');
    const s = await session(server.url, u.username, u.password);
    const r = await call(s.fetch, `${server.url}/api/v2/users/me/preferences`, 'PUT', {
      webhook_url: `${media.url}/hook`,
    });
    expect(r.status).toBe(200);
    expect(r.body.webhook_url).toBe(`${media.url}/hook`);
  });

  it('fills what a download leaves out from the preferences; given options win', async () => {
    const u = await createTestUser(server.services, 'user');
    const s = await session(server.url, u.username, u.password);
    const prefs = await call(s.fetch, `${server.url}/api/v2/users/me/preferences`, 'PUT', {
      default_quality: '480',
      default_format: 'webm',
      default_audio_format: 'mp3',
      video_codec: 'vp9',
      audio_language: 'de',
      subtitles: ['en', 'fr'],
    });
    expect(prefs.status).toBe(200);
    const downloads = `${server.url}/api/v2/downloads`;

    const plain = await call(u.fetch, downloads, 'POST', { url: `${media.url}/plain.mp4` });
    expect(plain.status, JSON.stringify(plain.body)).toBe(202);
    expect(plain.body).toMatchObject({ quality: '480', format: 'webm', audio_only: false });
    expect(plain.body.options).toEqual({
      quality: '480',
      format: 'webm',
      audio_only: false,
      video_codec: 'vp9',
      audio_language: 'de',
      subtitles: { languages: ['en', 'fr'], mode: 'embed' },
    });

    const given = await call(u.fetch, downloads, 'POST', {
      url: `${media.url}/given.mp4`,
      options: { quality: '720', video_codec: 'h264', subtitles: { languages: [] } },
    });
    expect(given.status).toBe(202);
    expect(given.body.options).toEqual({
      quality: '720',
      format: 'webm',
      audio_only: false,
      video_codec: 'h264',
      audio_language: 'de',
    });

    const audio = await call(u.fetch, downloads, 'POST', {
      url: `${media.url}/audio.mp4`,
      options: { audio_only: true },
    });
    expect(audio.status).toBe(202);
    expect(audio.body).toMatchObject({ format: 'mp3', audio_only: true, quality: '480' });
    expect(audio.body.options.subtitles).toEqual({ languages: ['en', 'fr'], mode: 'sidecar' });

    const batch = await call(u.fetch, `${downloads}/batch`, 'POST', { urls: [`${media.url}/batch.mp4`] });
    expect(batch.status).toBe(202);
    expect(batch.body.items[0].task).toMatchObject({ quality: '480', format: 'webm' });

    // Another user's preferences do not leak into these defaults.
    const other = await createTestUser(server.services, 'user');
    const theirs = await call(other.fetch, downloads, 'POST', { url: `${media.url}/plain.mp4` });
    expect(theirs.status).toBe(202);
    expect(theirs.body).toMatchObject({ quality: 'best', format: 'mp4' });
    expect(theirs.body.options.video_codec).toBe('any');
  });
});
