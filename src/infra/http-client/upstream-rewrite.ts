/**
 * YTBH_UPSTREAM_REWRITE contract: https://HOST/PATH?Q is sent to
 * {rewrite}/HOST/PATH?Q with the original host in X-Upstream-Host.
 * Loopback targets are already local and are never rewritten.
 */
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

function isLoopbackHost(hostname: string): boolean {
  return LOOPBACK_HOSTS.has(hostname) || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

export interface Rewritten {
  url: string;
  upstreamHost: string | null;
}

export function rewriteUrl(target: string | URL, rewriteBase: string | undefined): Rewritten {
  const url = typeof target === 'string' ? new URL(target) : target;
  if (!rewriteBase || isLoopbackHost(url.hostname)) return { url: url.toString(), upstreamHost: null };
  const base = rewriteBase.replace(/\/+$/, '');
  return { url: `${base}/${url.host}${url.pathname}${url.search}`, upstreamHost: url.host };
}
