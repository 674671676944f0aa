import { createHash } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { downloadVerified, partialName } from '../../src/artefacts/download.ts';
import { tempDir } from '../definition/fixtures.ts';

/* One verified download against servers that answer Range requests in each way HTTP allows. */

const DATA = Buffer.from(Array.from({ length: 5000 }, (_, i) => i % 251));
const SHA256 = createHash('sha256').update(DATA).digest('hex');
let ranges: (string | undefined)[] = [];
let mode: 'ranges' | 'no-ranges' | 'no-length' = 'ranges';
let server: http.Server;
let url: URL;
let work: { dir: string; remove: () => Promise<void> };
let target: string;

beforeAll(async () => {
  work = await tempDir('outpost-download-');
  server = http.createServer((req, res) => {
    ranges.push(req.headers.range);
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
