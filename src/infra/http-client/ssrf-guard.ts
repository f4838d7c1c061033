/**
 * One guard for every user-supplied URL: scheme and length checks up front,
 * and an address check at connect time (so DNS rebinding between check and
 * connect cannot slip through).
 */
import dns from 'node:dns';
import net from 'node:net';
import ipaddr from 'ipaddr.js';
import { Agent } from 'undici';
import { AppError } from '../../errors/app-error.js';

export const MAX_URL_LENGTH = 2048;

/** True for loopback, private, link-local, metadata, multicast, reserved... anything not public unicast. */
export function isPrivateAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return true;
  const parsed = ipaddr.process(address); // unwraps IPv4-mapped IPv6
  return parsed.range() !== 'unicast';
}

/** Parses and checks the shape of a user URL; throws invalid_url. */
export function parseUserUrl(raw: string): URL {
  if (typeof raw !== 'string' || raw.length === 0) throw new AppError('invalid_url', 'A URL is required');
  if (raw.length > MAX_URL_LENGTH) {
    throw new AppError('invalid_url', `URL is longer than ${MAX_URL_LENGTH} characters`);
  }
  // Control characters never belong in a URL, and the WHATWG parser would silently strip some.
  if (/[\u0000-\u001f\u007f]/.test(raw)) throw new AppError('invalid_url', 'URL contains control characters');
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new AppError('invalid_url', 'Not a valid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new AppError('invalid_url', 'Only http and https URLs are supported');
  }
  if (url.username || url.password) throw new AppError('invalid_url', 'URLs with credentials are not accepted');
  if (!url.hostname) throw new AppError('invalid_url', 'URL has no host');
  return url;
}

function hostOf(url: URL): string {
  return url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
}

function blocked(host: string): AppError {
  return new AppError('invalid_url', 'URL points to a private or reserved address', { host });
}

/**
 * Resolves the URL's host and refuses private targets unless allowed.
 * Literal IPs are checked here because connect() skips DNS lookup for them.
 */
/** The check that needs no DNS: loopback names and private address literals. True when the host is an IP literal. */
export function assertNotPrivateLiteral(url: URL): boolean {
  const host = hostOf(url);
  if (host === 'localhost' || host.endsWith('.localhost')) throw blocked(host);
  if (!net.isIP(host)) return false;
  if (isPrivateAddress(host)) throw blocked(host);
  return true;
}

export async function assertPublicUrl(url: URL, allowPrivate: boolean): Promise<void> {
  if (allowPrivate) return;
  if (assertNotPrivateLiteral(url)) return;
  const host = hostOf(url);
  let addresses: dns.LookupAddress[];
  try {
    addresses = await dns.promises.lookup(host, { all: true });
  } catch {
    throw new AppError('invalid_url', 'The URL host does not resolve', { host });
  }
  if (addresses.length === 0 || addresses.some((a) => isPrivateAddress(a.address))) throw blocked(host);
}

type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | dns.LookupAddress[],
  family?: number,
) => void;

/** dns.lookup replacement that fails the connection when any resolved address is private. */
export function guardedLookup(hostname: string, options: dns.LookupOptions, callback: LookupCallback): void {
  dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, []);
    const bad = addresses.find((a) => isPrivateAddress(a.address));
    if (bad || addresses.length === 0) {
      const e: NodeJS.ErrnoException = new Error(`Refusing to connect to private address for ${hostname}`);
      e.code = 'ESSRF';
      return callback(e, []);
    }
    if (options.all) return callback(null, addresses);
    const first = addresses[0]!;
    callback(null, first.address, first.family);
  });
}

let guardedAgent: Agent | undefined;

/** A shared undici dispatcher whose connections can only reach public addresses. */
export function guardedDispatcher(): Agent {
  guardedAgent ??= new Agent({ connect: { lookup: guardedLookup as never } });
  return guardedAgent;
}
