/** Every domain's public routes, in one list: the app registers them for the api role. */
import type { ApiRoutes } from '../app.js';

export const apiRoutes: ApiRoutes[] = [];
