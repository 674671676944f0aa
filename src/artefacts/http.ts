import type { IncomingMessage } from 'node:http';
import http from 'node:http';
import https from 'node:https';

/**
 * HTTP GET for artefacts: follows redirects (GitHub release downloads and get.rke2.io answer with one),
 * bounds every wait, and sends credentials only to the origin they belong to (as helm does without
 * --pass-credentials). Never prints credentials.
 */
export interface Transport {
  /** Extra CA certificates to trust (a repository's caFile). */
  ca?: Buffer;
  insecure?: boolean;
  auth?: { username: string; password: string };
  /** The origin the credentials are for; other origins (after a redirect, a chart hosted elsewhere) get none. */
  authOrigin?: string;
}

/** No byte for this long (connecting, waiting for headers, or mid-body) ends the request. */
export const IDLE_TIMEOUT_MS = 60_000;
const MAX_REDIRECTS = 5;

/** A URL as printed: user and password written into it (`https://user:pass@host/`) are left out. */
export function shownUrl(href: string): string {
  return href.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#@]*@/i, '$1');
}

export class FetchError extends Error {
  readonly url: string;
  readonly status?: number;
  constructor(url: string, message: string, status?: number) {
    super(`${shownUrl(url)}: ${message}`);
    this.name = 'FetchError';
    this.url = shownUrl(url);
    this.status = status;
  }
}

export interface Opened {
  response: IncomingMessage;
  /** The URL that answered, after redirects. */
  url: URL;
}

/** GETs `url` and resolves with the response of the last redirect (any status); rejects on network errors. */
export async function openUrl(
  url: URL,
  transport: Transport = {},
  headers: Record<string, string> = {},
): Promise<Opened> {
  let current = url;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const response = await requestOnce(current, transport, headers);
    const location = response.headers.location;
    if (response.statusCode && [301, 302, 303, 307, 308].includes(response.statusCode) && location) {
      response.resume();
      const next = new URL(location, current);
      if (next.protocol !== 'http:' && next.protocol !== 'https:')
        throw new FetchError(current.href, `redirected to a ${next.protocol} URL`);
      current = next;
      continue;
    }
    return { response, url: current };
  }
  throw new FetchError(url.href, `more than ${MAX_REDIRECTS} redirects`);
}

function requestOnce(url: URL, t: Transport, extra: Record<string, string>): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { 'user-agent': 'outpost', ...extra };
    if (t.auth && t.authOrigin === url.origin)
      headers.authorization = `Basic ${Buffer.from(`${t.auth.username}:${t.auth.password}`).toString('base64')}`;
    const options = {
      headers,
      timeout: IDLE_TIMEOUT_MS,
      ...(url.protocol === 'https:' && { ca: t.ca, rejectUnauthorized: !t.insecure }),
    };
    const request = (url.protocol === 'https:' ? https : http).get(url, options, (response) => {
      // The socket timeout keeps watching the body: a server that stops sending ends the download.
      resolve(response);
    });
    request.on('timeout', () =>
      request.destroy(new FetchError(url.href, `no data for ${IDLE_TIMEOUT_MS / 1000} s`)),
    );
    request.on('error', (e) =>
      reject(e instanceof FetchError ? e : new FetchError(url.href, e.message || String(e))),
    );
  });
}

/** The body of a small text file (a checksum list, an index.yaml), refusing non-200 answers and HTML pages. */
export async function fetchText(
  url: URL,
  what: string,
  transport: Transport = {},
  limit = 64 * 2 ** 20,
): Promise<string> {
  const { response, url: answered } = await openUrl(url, transport);
  refuseAnswer(response, answered, what);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      response.destroy();
      throw new FetchError(answered.href, `${what} is larger than ${limit} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Throws for an answer that is not the file: an HTTP error, or an HTML page where a file was expected. */
export function refuseAnswer(
  response: IncomingMessage,
  url: URL,
  what: string,
  ok: readonly number[] = [200],
): void {
  const status = response.statusCode ?? 0;
  if (!ok.includes(status)) {
    response.resume();
    throw new FetchError(
      url.href,
      `HTTP ${status} ${response.statusMessage ?? ''}`.trimEnd() + ` (${what})`,
      status,
    );
  }
  if (/^text\/html\b/i.test(response.headers['content-type'] ?? '')) {
    response.resume();
    throw new FetchError(
      url.href,
      `the server answered with an HTML page, not ${what} (is the URL a mirror with the release layout?)`,
      status,
    );
  }
}
