import { createHash } from 'node:crypto';
import {
  closeSync,
  constants,
  createReadStream,
  fstatSync,
  openSync,
  readlinkSync,
  realpathSync,
  type Stats,
} from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';

/**
 * Serves the files of the media dir to BMCs and installers at short, plain URLs (`/media/<name>`, no query
 * string: some BMCs reject `?` and `=`), with HEAD, a single byte Range (206/416), a strong ETag with
 * If-None-Match, and `<name>.sha256` checksum files computed on demand (`sha256sum` format).
 */
export class MediaServer {
  private readonly dir: string;
  private readonly checksums = new Map<string, { key: string; digest: Promise<string> }>();
  private readonly mayServe: (name: string) => boolean;

  /**
   * `mayServe` decides, per request, whether a file that exists may be served now (default: yes); it is
   * asked with the file's real path relative to the media dir, so a link cannot get around it.
   */
  constructor(dir: string, mayServe: (name: string) => boolean = () => true) {
    this.dir = path.resolve(dir);
    this.mayServe = mayServe;
  }

  /**
   * Resolves a URL name to a regular file inside the media dir (its real path), refusing anything hidden,
   * anything that escapes the dir (`..`, a symlink pointing out of it, at any level) and special files.
   */
  resolve(name: string): string | undefined {
    const opened = this.open(name);
    if (!opened) return undefined;
    closeSync(opened.fd);
    return opened.file;
  }

  exists(name: string): boolean {
    return this.resolve(name) !== undefined;
  }

  /**
   * Opens a media file for reading: a symlink is never followed blindly (O_NOFOLLOW; a link is resolved and
   * its target opened only when the target is inside the media dir),
   * a FIFO cannot block the open (O_NONBLOCK), and what was actually opened is checked afterwards (its
   * path in /proc/self/fd must be inside the media dir, fstat must say regular file), so a link swapped in
   * between the check and the open cannot serve a file from elsewhere (e.g. the state dir's API token).
   */
  private open(name: string): { fd: number; file: string; relative: string; stats: Stats } | undefined {
    if (!name || name.split('/').some((part) => part === '' || part.startsWith('.'))) return undefined;
    if (name.includes('\0')) return undefined;
    const candidate = path.resolve(this.dir, name);
    if (!candidate.startsWith(this.dir + path.sep)) return undefined;
    let root: string;
    try {
      root = realpathSync(this.dir);
    } catch {
      return undefined;
    }
    let fd: number;
    const flags = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
    try {
      fd = openSync(candidate, flags);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ELOOP') return undefined;
      // The name is a symlink: allowed only when it resolves to a file inside the media dir (e.g.
      // `site-latest.raw -> site-2.raw`); its target is opened, and checked again below, without following.
      try {
        const target = realpathSync(candidate);
        if (!target.startsWith(`${root}${path.sep}`)) return undefined;
        fd = openSync(target, flags);
      } catch {
        return undefined;
      }
    }
    try {
      const stats = fstatSync(fd);
      const file = readlinkSync(`/proc/self/fd/${fd}`);
      const relative = file.slice(root.length + 1);
      // Also through a link: never a hidden file, and only what may be served now.
      const visible = !relative.split('/').some((part) => part.startsWith('.'));
      if (stats.isFile() && file.startsWith(root + path.sep) && visible && this.mayServe(relative)) {
        return { fd, file, relative, stats };
      }
    } catch {
      // fall through: refused
    }
    closeSync(fd);
    return undefined;
  }

  async handle(req: IncomingMessage, res: ServerResponse, name: string): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    const opened = this.open(name);
    if (opened) return this.sendFile(req, res, opened.fd, opened.file, opened.stats);
    // `<name>.sha256` for an existing `<name>` that has no checksum file of its own.
    const base = name.endsWith('.sha256') ? this.open(name.slice(0, -'.sha256'.length)) : undefined;
    if (base) {
      closeSync(base.fd);
      const digest = await this.checksum(base.file, base.stats);
      const body = Buffer.from(`${digest}  ${path.basename(base.file)}\n`);
      this.sendBuffer(req, res, body, `"sha256-${digest.slice(0, 32)}"`);
      return;
    }
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end(`no such file: ${name}\n`);
  }

  private async sendFile(
    req: IncomingMessage,
    res: ServerResponse,
    fd: number,
    file: string,
    stats: Stats,
  ): Promise<void> {
    let owned = true;
    try {
      owned = await this.sendOpened(req, res, fd, file, stats);
    } finally {
      if (owned) closeSync(fd);
    }
  }

  /** Sends an opened file; returns false when the stream took over the descriptor (it closes it). */
  private async sendOpened(
    req: IncomingMessage,
    res: ServerResponse,
    fd: number,
    file: string,
    stats: Stats,
  ): Promise<boolean> {
    const etag = `"${stats.ino.toString(16)}-${stats.size.toString(16)}-${Math.floor(stats.mtimeMs).toString(16)}"`;
    const headers = baseHeaders(etag, new Date(stats.mtimeMs));
    if (notModified(req, etag)) {
      res.writeHead(304, headers).end();
      return true;
    }
    const range = parseRange(req, etag, stats.size);
    if (range === 'unsatisfiable') {
      res.writeHead(416, { ...headers, 'Content-Range': `bytes */${stats.size}` }).end();
      return true;
    }
    const [start, end] = range ?? [0, stats.size - 1];
    const length = stats.size === 0 ? 0 : end - start + 1;
    res.writeHead(range ? 206 : 200, {
      ...headers,
      'Content-Length': String(length),
      'Content-Type': contentType(file),
      ...(range && { 'Content-Range': `bytes ${start}-${end}/${stats.size}` }),
    });
    if (req.method === 'HEAD' || length === 0) {
      res.end();
      return true;
    }
    await pipeline(createReadStream('', { fd, start, end, autoClose: true }), res).catch(() => {
      // The client went away mid-transfer (BMCs often do after reading the ISO header): nothing to do.
    });
    return false;
  }

  private sendBuffer(req: IncomingMessage, res: ServerResponse, body: Buffer, etag: string): void {
    const headers = baseHeaders(etag);
    if (notModified(req, etag)) {
      res.writeHead(304, headers).end();
      return;
    }
    const range = parseRange(req, etag, body.length);
    if (range === 'unsatisfiable') {
      res.writeHead(416, { ...headers, 'Content-Range': `bytes */${body.length}` }).end();
      return;
    }
    const [start, end] = range ?? [0, body.length - 1];
    const slice = body.subarray(start, end + 1);
    res.writeHead(range ? 206 : 200, {
      ...headers,
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Length': String(slice.length),
      ...(range && { 'Content-Range': `bytes ${start}-${end}/${body.length}` }),
    });
    res.end(req.method === 'HEAD' ? undefined : slice);
  }

  /** SHA-256 of a file, computed once per (size, mtime) and shared by concurrent requests. */
  private checksum(file: string, stats: Stats): Promise<string> {
    const key = `${stats.size}:${stats.mtimeMs}`;
    const cached = this.checksums.get(file);
    if (cached?.key === key) return cached.digest;
    const digest = new Promise<string>((resolve, reject) => {
      const hash = createHash('sha256');
      createReadStream('', { fd: openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW) })
        .on('data', (chunk) => hash.update(chunk))
        .on('end', () => resolve(hash.digest('hex')))
        .on('error', reject);
    });
    this.checksums.set(file, { key, digest });
    digest.catch(() => this.checksums.delete(file));
    return digest;
  }
}

function baseHeaders(etag: string, modified?: Date): Record<string, string> {
  return {
    ETag: etag,
    'Accept-Ranges': 'bytes',
    'Cache-Control': 'no-cache',
    ...(modified && { 'Last-Modified': modified.toUTCString() }),
  };
}

function notModified(req: IncomingMessage, etag: string): boolean {
  const header = req.headers['if-none-match'];
  if (!header) return false;
  return header.trim() === '*' || header.split(',').some((t) => t.trim().replace(/^W\//, '') === etag);
}

/**
 * A single `bytes=` range; several ranges, other units or a stale If-Range get the whole file (RFC 9110
 * allows ignoring Range). Returns inclusive [start, end], 'unsatisfiable', or undefined for the whole file.
 */
export function parseRange(
  req: IncomingMessage,
  etag: string,
  size: number,
): [number, number] | 'unsatisfiable' | undefined {
  const header = req.headers.range;
  if (!header) return undefined;
  const ifRange = req.headers['if-range'];
  if (ifRange && ifRange !== etag) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match) return undefined;
  const [, first, last] = match;
  if (first === '' && last === '') return undefined;
  let start: number;
  let end: number;
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0) return 'unsatisfiable';
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(first);
    end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
    if (last !== '' && Number(last) < start) return undefined;
  }
  if (start >= size) return 'unsatisfiable';
  return [start, end];
}

function contentType(file: string): string {
  if (file.endsWith('.iso')) return 'application/x-iso9660-image';
  if (file.endsWith('.sha256') || file.endsWith('.txt')) return 'text/plain; charset=utf-8';
  if (file.endsWith('.json')) return 'application/json';
  return 'application/octet-stream';
}
