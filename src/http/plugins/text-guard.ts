/**
 * Text that no field may hold: NUL (PostgreSQL's text refuses it) and lone
 * UTF-16 surrogates (jsonb refuses them, and they are not Unicode). Checked
 * once for every body, query and path parameter, before schema validation,
 * so no route can forget it and none answers 500 for it.
 */
import type { FastifyInstance } from 'fastify';
import { AppError } from '../../errors/app-error.js';

const FORBIDDEN = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** The path (e.g. /options/filename_template) of the first forbidden string, or null. Iterative: bodies may nest deeply. */
export function findForbiddenText(value: unknown): string | null {
  const stack: [unknown, string][] = [[value, '']];
  while (stack.length) {
    const [v, path] = stack.pop()!;
    if (typeof v === 'string') {
      if (FORBIDDEN.test(v)) return path || '/';
    } else if (Array.isArray(v)) {
      v.forEach((item, i) => stack.push([item, `${path}/${i}`]));
    } else if (v && typeof v === 'object') {
      for (const [k, item] of Object.entries(v)) {
        if (FORBIDDEN.test(k)) return `${path}/<key>`;
        stack.push([item, `${path}/${k}`]);
      }
    }
  }
  return null;
}

export function registerTextGuard(app: FastifyInstance): void {
  app.addHook('preValidation', async (req) => {
    for (const [location, value] of [
      ['params', req.params],
      ['querystring', req.query],
      ['body', req.body],
    ] as const) {
      const at = findForbiddenText(value);
      if (at !== null) {
        throw new AppError('validation_failed', 'Text may not contain NUL characters or unpaired surrogates', {
          location,
          issues: [{ path: at, message: 'contains a NUL character or an unpaired surrogate' }],
        });
      }
    }
  });
}
