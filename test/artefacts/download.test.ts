import { createHash } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { type FileHandle, open, readFile, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { downloadVerified, partialName } from '../../src/artefacts/download.ts';
import { tempDir } from '../definition/fixtures.ts';

/* One verified download against servers that answer Range requests in each way HTTP allows. */

const DATA = Buffer.from(Array.from({ length: 5000 }, (_, i) => i % 251));
const SHA256 = createHash('sha256').update(DATA).digest('hex');
let ranges: (string | undefined)[] = [];
let mode: 'ranges' | 'no-ranges' | 'no-length' | 'cut' = 'ranges';
/** Called as the 'cut' answer starts, before its first byte leaves, with the socket it is cut from. */
let onCut: (socket: Socket) => void = () => {};
let server: http.Server;
let url: URL;
let work: { dir: string; remove: () => Promise<void> };
let target: string;

beforeAll(async () => {
  work = await tempDir('outpost-download-');
  server = http.createServer((req, res) => {
    ranges.push(req.headers.range);
    if (mode === 'cut') {
      // Half the file, then the connection drops at once.
      if (res.socket) onCut(res.socket);
      res.writeHead(200, { 'content-length': DATA.length });
      return res.write(DATA.subarray(0, 2500), () => res.socket?.destroy());
    }
    if (mode === 'no-length') {
      // Chunked: the size is not announced.
      res.writeHead(200);
      res.write(DATA.subarray(0, 2500));
      return res.end(DATA.subarray(2500));
    }
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (!m || mode === 'no-ranges') return res.writeHead(200, { 'content-length': DATA.length }).end(DATA);
    const start = Number(m[1]);
    if (start >= DATA.length) return res.writeHead(416, { 'content-range': `bytes */${DATA.length}` }).end();
    res
      .writeHead(206, {
        'content-length': DATA.length - start,
        'content-range': `bytes ${start}-${DATA.length - 1}/${DATA.length}`,
      })
      .end(DATA.subarray(start));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/file.bin`);
});
afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  await work?.remove();
});
beforeEach(() => {
  ranges = [];
  mode = 'ranges';
  target = path.join(work.dir, `file-${Math.random().toString(36).slice(2)}.bin`);
});

describe('downloadVerified', () => {
  it('starts over when the server ignores the Range request (200 with the whole file)', async () => {
    mode = 'no-ranges';
    await writeFile(partialName(target), DATA.subarray(0, 1000));
    const r = await downloadVerified({ url, target, sha256: SHA256 });
    expect(ranges).toEqual(['bytes=1000-']);
    expect(r.status).toBe('fetched');
    expect(await readFile(target)).toEqual(DATA);
  });

  it('keeps a partial file that was already complete (416 to the Range request)', async () => {
    await writeFile(partialName(target), DATA);
    const r = await downloadVerified({ url, target, sha256: SHA256 });
    expect(ranges).toEqual([`bytes=${DATA.length}-`]);
    expect(r.status).toBe('resumed');
    expect(await readFile(target)).toEqual(DATA);
  });

  it('fetches from zero once when kept bytes belong to another file (digest fails after resuming)', async () => {
    await writeFile(partialName(target), Buffer.alloc(1000, 7));
    const r = await downloadVerified({ url, target, sha256: SHA256 });
    expect(ranges).toEqual(['bytes=1000-', undefined]);
    expect(r.status).toBe('fetched');
    expect(await readFile(target)).toEqual(DATA);
    await expect(stat(partialName(target))).rejects.toThrow();
  });

  it('refuses a file larger than allowed, announced or not, and keeps nothing of it', async () => {
    await expect(downloadVerified({ url, target, sha256: SHA256, maxBytes: 4000 })).rejects.toThrow(
      /would be 5000 bytes, more than the 4000 allowed/,
    );
    mode = 'no-length';
    await expect(downloadVerified({ url, target, sha256: SHA256, maxBytes: 4000 })).rejects.toThrow(
      /larger than the 4000 bytes allowed \(refused\)/,
    );
    await expect(stat(partialName(target))).rejects.toThrow();
    await expect(stat(target)).rejects.toThrow();
  });

  it('keeps every byte received before a cut, even when the file opens only after the cut', async () => {
    // The partial file is opened on libuv's thread pool: every thread of it waits on a FIFO (opening it for
    // reading blocks until a writer comes) from the moment the server answers until the client has seen the cut.
    const fifo = path.join(work.dir, 'thread-pool-hold');
    await execa('mkfifo', [fifo]);
    const threads = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
    let holds: Promise<FileHandle>[] = [];
    let cutClosed = () => {};
    const cut = new Promise<void>((resolve) => {
      cutClosed = resolve;
    });
    onCut = (socket) => {
      holds = Array.from({ length: threads }, () => open(fifo, 'r'));
      socket.once('close', cutClosed);
    };
    mode = 'cut';
    const download = downloadVerified({ url, target, sha256: SHA256 }).catch((error: Error) => error);
    try {
      // Wait (at most 10 s) for the server to cut the connection, then 200 ms for the client to see the cut
      // over loopback (it needs a loop turn or two; a slower client would only hide the fault, never fail).
      await Promise.race([cut, new Promise((resolve) => setTimeout(resolve, 10_000))]);
      await new Promise((resolve) => setTimeout(resolve, 200));
    } finally {
      onCut = () => {};
      // A writer (O_RDWR never blocks on a FIFO) lets every held thread go.
      const writer = openSync(fifo, 'r+');
      for (const hold of holds) await (await hold).close();
      closeSync(writer);
    }
    const error = await download;
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/stopped after 2500 bytes .*run again to resume/);
    expect((await stat(partialName(target))).size, 'bytes kept in the partial file').toBe(2500);
    expect(await readFile(partialName(target))).toEqual(DATA.subarray(0, 2500));
    mode = 'ranges';
    expect((await downloadVerified({ url, target, sha256: SHA256 })).status).toBe('resumed');
    expect(ranges).toEqual([undefined, 'bytes=2500-']);
    expect(await readFile(target)).toEqual(DATA);
  });

  it('leaves a correct file alone, and replaces a wrong one only with verified bytes', async () => {
    await writeFile(target, DATA);
    expect((await downloadVerified({ url, target, sha256: SHA256 })).status).toBe('present');
    expect(ranges).toEqual([]);
    await writeFile(target, 'stale');
    await expect(downloadVerified({ url, target, sha256: '0'.repeat(64) })).rejects.toThrow(
      /checksum mismatch/,
    );
    expect(await readFile(target, 'utf8')).toBe('stale');
  });
});
