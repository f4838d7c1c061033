/** Parses "name=value,name=value" settings keyed by platform (budgets, TTLs). */
import { PLATFORMS, type Platform } from '../extract/model.js';

export function parsePlatformMap<T>(
  variable: string,
  raw: string,
  parseValue: (v: string) => T | null,
  expected: string,
): { value?: Partial<Record<Platform, T>>; problem?: string } {
  const out: Partial<Record<Platform, T>> = {};
  for (const part of raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const [name, value, extra] = part.split('=');
    if (extra !== undefined || !name || value === undefined || !PLATFORMS.includes(name as Platform)) {
      return { problem: `${variable}: '${part}' is not platform=${expected} (platforms: ${PLATFORMS.join(', ')})` };
    }
    const parsed = parseValue(value);
    if (parsed === null) return { problem: `${variable}: '${part}' is not platform=${expected}` };
    out[name as Platform] = parsed;
  }
  return { value: out };
}

export interface Budget {
  requests: number;
  windowSeconds: number;
}

export function parseBudget(v: string): Budget | null {
  const m = /^(\d{1,7})\/(\d{1,6})$/.exec(v);
  if (!m) return null;
  const requests = Number(m[1]);
  const windowSeconds = Number(m[2]);
  return windowSeconds > 0 ? { requests, windowSeconds } : null;
}

export function parseSeconds(v: string): number | null {
  return /^\d{1,7}$/.test(v) ? Number(v) : null;
}
