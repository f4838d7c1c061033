/** Every domain's public routes, in one list: the app registers them for the api role. */
import type { ApiRoutes } from '../app.js';
import { legacyRoutes } from './legacy.js';
import { platformRoutes } from './platforms.js';
import { videoRoutes } from './videos.js';
import { downloadRoutes } from './downloads.js';
import { streamRoutes } from './stream.js';
import { wsRoutes } from './ws.js';
import { authRoutes } from './auth.js';
import { apiKeyRoutes } from './api-keys.js';
import { userRoutes } from './users.js';
import { adminRoutes } from './admin.js';
import { cookieRoutes } from './cookies.js';

export const apiRoutes: ApiRoutes[] = [
  authRoutes,
  userRoutes,
  apiKeyRoutes,
  adminRoutes,
  cookieRoutes,
  videoRoutes,
  downloadRoutes,
  wsRoutes,
  platformRoutes,
  legacyRoutes,
  streamRoutes,
];
