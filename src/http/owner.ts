/**
 * Who owns what a request creates or reads. Until accounts exist every task
 * belongs to the anonymous owner (user_id null); this is the one place the
 * accounts work replaces with the authenticated user.
 */
import type { FastifyRequest } from 'fastify';

export function ownerOf(_req: FastifyRequest): string | null {
  return null;
}
