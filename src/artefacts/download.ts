import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { lstat, open, rename, rm } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import path from 'node:path';
import { InputError } from '../common/diagnostics.ts';
import { sha256File } from '../kubernetes/release.ts';
import { FetchError, openUrl, refuseAnswer, shownUrl, type Transport } from './http.ts';

/**
 * One verified download: the file grows as `.<name>.partial` beside its final name, a rerun after an
 * interruption asks for the rest with an HTTP Range request, and only bytes whose sha256 matches the
 * expected digest are renamed to the final name. A file already there with that digest is left alone.
 */
export interface DownloadOptions {
  url: URL;
  /** Absolute path of the final name. */
  target: string;
  /** Expected sha256 (hex); undefined: not checksummed (kept when present). */
  sha256?: string;
  /** Where the digest comes from, for messages: `sha256sum-amd64.txt`, `index.yaml`. */
  digestSource?: string;
  transport?: Transport;
  /** A server sending more than this is refused (a hostile or broken mirror must not fill the disk). */
  maxBytes?: number;
  onProgress?: (received: number, total: number | undefined) => void;
}

export type DownloadStatus = 'present' | 'fetched' | 'resumed';

export interface DownloadResult {
  status: DownloadStatus;
  bytes: number;
  sha256: string;
  /** The URL that served the file, after redirects (absent when nothing was fetched). */
  servedBy?: string;
}

/** A digest mismatch: the bytes never reach the final name. */
export class DigestError extends FetchError {
  /** The bytes were partly kept from an earlier attempt. */
  readonly resumed: boolean;
  constructor(url: string, message: string, resumed: boolean) {
    super(url, message);
    this.name = 'DigestError';
    this.resumed = resumed;
  }
}

export function partialName(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.partial`);
}

export async function downloadVerified(o: DownloadOptions): Promise<DownloadResult> {
  const name = path.basename(o.target);
  const present = await lstat(o.target).catch(() => undefined);
  if (present && !present.isFile())
    throw new InputError(`${o.target}: is in the way (not a regular file); remove it`);
  if (present) {
    if (o.sha256 === undefined)
      return { status: 'present', bytes: present.size, sha256: await sha256File(o.target) };
    const actual = await sha256File(o.target);
    if (actual === o.sha256) return { status: 'present', bytes: present.size, sha256: actual };
  }
  try {
    return await fetchToPartial(o, name, true);
  } catch (error) {
    // Bytes kept from an earlier attempt may belong to another file of that name (an older release): once
    // a resumed download fails its digest, start again from zero.
    if (error instanceof DigestError && error.resumed) return fetchToPartial(o, name, false);
    throw error;
  }
}

async function fetchToPartial(o: DownloadOptions, name: string, mayResume: boolean): Promise<DownloadResult> {
  const partial = partialName(o.target);
  const kept = await lstat(partial).catch(() => undefined);
  if (kept && !kept.isFile())
    throw new InputError(`${partial}: is in the way (not a regular file); remove it`);
  let offset = mayResume && kept ? kept.size : 0;
  if (!mayResume) await rm(partial, { force: true });

  // The kept bytes are hashed before asking for the rest, so no answer waits on a long read.
  let hash = createHash('sha256');
  if (offset > 0) await hashInto(partial, hash);
  const headers: Record<string, string> = offset > 0 ? { range: `bytes=${offset}-` } : {};
  const { response, url } = await openUrl(o.url, o.transport, headers);
  if (offset > 0 && response.statusCode === 416) {
    // The server has no bytes past ours: the partial file may be complete already.
    response.resume();
    return finish(o, partial, hash.digest('hex'), offset, 'resumed', url);
  }
  refuseAnswer(response, url, name, offset > 0 ? [200, 206] : [200]);
  let total: number | undefined;
  if (response.statusCode === 206) {
    const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(response.headers['content-range'] ?? '');
    if (!range || Number(range[1]) !== offset) {
      response.resume();
      throw new FetchError(
        url.href,
        `answered a Range request for bytes ${offset}- with '${response.headers['content-range'] ?? ''}'`,
      );
    }
    total = range[3] === '*' ? undefined : Number(range[3]);
  } else {
    // 200: the whole file (a server without Range support): start over.
    offset = 0;
    hash = createHash('sha256');
    const length = Number(response.headers['content-length']);
    total = Number.isFinite(length) && response.headers['content-length'] !== undefined ? length : undefined;
  }
  const limit = o.maxBytes ?? Number.POSITIVE_INFINITY;
  if (total !== undefined && total > limit) {
    response.resume();
    throw new FetchError(url.href, `${name} would be ${total} bytes, more than the ${limit} allowed`);
  }
  let received = offset;
  o.onProgress?.(received, total);
  const file = createWriteStream(partial, { flags: offset > 0 ? 'a' : 'w', mode: 0o644 });
  response.on('data', (chunk: Buffer) => {
    hash.update(chunk);
    received += chunk.length;
    if (received > limit) response.destroy(new Error('too large'));
    o.onProgress?.(received, total);
  });
  const stopped = await writeBody(response, file).catch((error: Error) => error);
  if (stopped) {
    if (received > limit) {
      await rm(partial, { force: true });
      throw new FetchError(url.href, `${name} is larger than the ${limit} bytes allowed (refused)`);
    }
    throw new FetchError(
      url.href,
      `the download of ${name} stopped after ${received} bytes (${stopped.message}); run again to resume`,
    );
  }
  if (!response.complete || (total !== undefined && received !== total)) {
    throw new FetchError(
      url.href,
      `the connection closed after ${received} of ${total ?? '?'} bytes of ${name}; run again to resume`,
    );
  }
  return finish(o, partial, hash.digest('hex'), received, offset > 0 ? 'resumed' : 'fetched', url);
}

async function finish(
  o: DownloadOptions,
  partial: string,
  actual: string,
  bytes: number,
  status: DownloadStatus,
  url: URL,
): Promise<DownloadResult> {
  const name = path.basename(o.target);
  if (o.sha256 !== undefined && actual !== o.sha256) {
    await rm(partial, { force: true });
    throw new DigestError(
      url.href,
      `${name}: checksum mismatch: sha256 is ${actual}, ${o.digestSource ?? 'the expected digest'} says ${o.sha256} (file refused)`,
      status === 'resumed',
    );
  }
  const handle = await open(partial, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(partial, o.target);
  await syncDir(path.dirname(o.target));
  return { status, bytes, sha256: actual, servedBy: shownUrl(url.href) };
}

/**
 * Writes the body into the file. When the body stops early (a cut connection, a timeout) the bytes received
 * before it are still written, then the file is closed: a rerun resumes from exactly what arrived (stream
 * pipeline would destroy the file, dropping the writes still queued, all of them when the cut comes before
 * the file is even open). Resolves with the body's error, undefined when it ended; rejects on a write error.
 */
function writeBody(body: IncomingMessage, file: WriteStream): Promise<Error | undefined> {
  return new Promise((resolve, reject) => {
    let cut: Error | undefined;
    body.once('error', (error) => {
      cut = error;
      file.end();
    });
    file.once('error', (error) => {
      body.destroy();
      reject(error);
    });
    file.once('close', () => resolve(cut));
    body.pipe(file);
  });
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function hashInto(file: string, hash: Hash): Promise<void> {
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
}
