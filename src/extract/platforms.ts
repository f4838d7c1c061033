/** What each platform supports, with URL examples: the data behind GET /api/v2/platforms. */
import type { Platform } from './model.js';

export interface PlatformDescriptor {
  platform: Platform;
  name: string;
  engine: 'native' | 'yt-dlp';
  domains: string[];
  url_examples: string[];
  capabilities: { info: boolean; formats: boolean; playlists: boolean; download: boolean; stream: boolean };
  notes?: string;
}

const ALL = { info: true, formats: true, download: true, stream: true };

export const PLATFORM_DESCRIPTORS: PlatformDescriptor[] = [
  {
    platform: 'youtube',
    name: 'YouTube',
    engine: 'native',
    domains: ['youtube.com', 'm.youtube.com', 'music.youtube.com', 'youtu.be', 'youtube-nocookie.com'],
    url_examples: [
      'https://www.youtube.com/watch?v=dQw4w9WgXcQ',
      'https://youtu.be/dQw4w9WgXcQ',
      'https://www.youtube.com/shorts/dQw4w9WgXcQ',
      'https://www.youtube.com/playlist?list=PLxxxxxxxxxxxxxxxx',
    ],
    capabilities: { ...ALL, playlists: true },
    notes: 'Playlists are read through yt-dlp.',
  },
  {
    platform: 'bilibili',
    name: 'BiliBili',
    engine: 'native',
    domains: ['bilibili.com', 'm.bilibili.com', 'b23.tv'],
    url_examples: [
      'https://www.bilibili.com/video/BV1Et4y1r7Eu',
      'https://www.bilibili.com/video/av628516398',
      'https://www.bilibili.com/video/BV1wE4m1R7cu?p=2',
      'https://b23.tv/xxxxxxx',
    ],
    capabilities: { ...ALL, playlists: true },
    notes: 'Qualities above 480p need a logged-in cookie uploaded by an admin.',
  },
  {
    platform: 'twitch',
    name: 'Twitch',
    engine: 'native',
    domains: ['twitch.tv', 'm.twitch.tv', 'clips.twitch.tv'],
    url_examples: ['https://www.twitch.tv/videos/2404782496', 'https://clips.twitch.tv/DeliciousDelightfulPicklesWOOP'],
    capabilities: { ...ALL, playlists: true },
  },
  {
    platform: 'tiktok',
    name: 'TikTok',
    engine: 'native',
    domains: ['tiktok.com', 'm.tiktok.com', 'vm.tiktok.com', 'vt.tiktok.com'],
    url_examples: ['https://www.tiktok.com/@user/video/7660566211100511518', 'https://vm.tiktok.com/ZMxxxxxxx/'],
    capabilities: { ...ALL, playlists: false },
    notes: 'Photo posts return their images and the music track.',
  },
  {
    platform: 'generic',
    name: 'Other sites (yt-dlp)',
    engine: 'yt-dlp',
    domains: ['*'],
    url_examples: ['https://vimeo.com/76979871', 'https://example.com/video.mp4'],
    capabilities: { ...ALL, playlists: true },
    notes: 'Any http(s) URL that yt-dlp understands; direct media files and HLS playlists included.',
  },
];
