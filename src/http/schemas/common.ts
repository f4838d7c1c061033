import { Type } from '@sinclair/typebox';
import { ERROR_CODES, ERROR_STATUS } from '../../errors/app-error.js';

export const ErrorResponse = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: `Stable machine-readable code: ${ERROR_CODES.join(', ')}` }),
      message: Type.String(),
      details: Type.Optional(Type.Unknown()),
    }),
  },
  { $id: 'ErrorResponse', title: 'Error' },
);

const DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid input',
  401: 'Authentication required',
  403: 'Not allowed',
  404: 'Not found',
  405: 'Method not allowed',
  409: 'Conflict',
  410: 'Gone',
  413: 'Body too large',
  415: 'Unsupported media type',
  416: 'Range not satisfiable',
  429: 'Too many requests or quota exceeded',
  451: 'Unavailable in this region',
  500: 'Internal error',
  502: 'Upstream error',
  503: 'Not ready',
  504: 'Upstream timeout',
};

/** Response schemas for the error statuses a route can produce. */
export function errorResponses<S extends number>(...statuses: S[]): Record<S, typeof ErrorResponse> {
  const out = {} as Record<S, typeof ErrorResponse>;
  // Type.Ref keeps the document small (one shared component); the cast keeps the static type.
  for (const s of statuses)
    out[s] = Type.Ref('ErrorResponse', { description: DESCRIPTIONS[s] ?? 'Error' }) as unknown as typeof ErrorResponse;
  return out;
}

/** Every status an error code can map to, for routes that surface extraction errors. */
export const EXTRACTION_ERROR_STATUSES = [...new Set(Object.values(ERROR_STATUS))].filter((s) => s >= 400 && s !== 405);
