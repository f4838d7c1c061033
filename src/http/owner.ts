/** Who owns what a request creates or reads: the signed-in user (the route's policy guarantees one). */
import type { FastifyRequest } from 'fastify';
import { AppError } from '../errors/app-error.js';

export function ownerOf(req: FastifyRequest): string {
  if (!req.principal) throw new AppError('unauthorized', 'Sign in or send an API key');
  return req.principal.user.id;
}
