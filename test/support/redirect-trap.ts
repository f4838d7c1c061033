/**
 * An upstream that answers every platform request with a redirect to the
 * cloud metadata address. Used as YTBH_UPSTREAM_REWRITE: a request for
 * https://HOST/PATH arrives as /HOST/PATH, so a client that follows the
 * redirect shows up here as a request for host 169.254.169.254 (which the
 * trap answers with a fake secret, as the real one would).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export const METADATA_HOST = '169.254.169.254';
export const METADATA_URL = `http://${METADATA_HOST}/latest/meta-data/iam/security-credentials/`;

export interface TrapRequest {
  host: string;
  path: string;
}

export interface RedirectTrap {
  url: string;
  requests: TrapRequest[];
  /** requests that reached the "metadata service" */
  metadataHits(): TrapRequest[];
  stop(): Promise<void>;
}

export async function startRedirectTrap(): Promise<RedirectTrap> {
  const requests: TrapRequest[] = [];
  const server = http.createServer((req, res) => {
    const [, host = '', ...rest] = (req.url ?? '/').split('/');
    requests.push({ host, path: `/${rest.join('/')}` });
    req.resume();
    if (host === METADATA_HOST) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ AccessKeyId: 'h4-trap', SecretAccessKey: 'h4-metadata-secret' }));
      return;
    }
    res.writeHead(302, { location: METADATA_URL, 'content-length': '0' });
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    metadataHits: () => requests.filter((r) => r.host === METADATA_HOST),
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
