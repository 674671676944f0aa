import { execFile, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningService, startService } from '../../src/service/service.ts';
import { tempDir } from './helpers.ts';

const tmp = tempDir('media');
const mediaDir = path.join(tmp.dir, 'media');
const content = randomBytes(1024 * 1024 + 123);
let service: RunningService;
let base: string;

beforeAll(async () => {
  mkdirSync(path.join(mediaDir, 'sub'), { recursive: true });
  writeFileSync(path.join(mediaDir, 'site.iso'), content);
  writeFileSync(path.join(mediaDir, 'sub', 'small.raw'), 'hello world\n');
  writeFileSync(path.join(mediaDir, '.hidden'), 'secret');
  writeFileSync(path.join(tmp.dir, 'outside.txt'), 'outside');
  service = await startService({
    stateDir: path.join(tmp.dir, 'state'),
    mediaDir,
    host: '127.0.0.1',
    port: 0,
    log: () => {},
  });
  base = `${service.url}/media`;
});
afterAll(async () => {
  await service?.close();
  tmp.cleanup();
});

/** curl, a real HTTP client independent of ours (async: the server runs in this process). */
async function curl(
  args: string[],
): Promise<{ status: number; headers: Record<string, string>; body: Buffer }> {
  const { stdout: out } = await promisify(execFile)('curl', ['-sS', '--max-time', '10', '-D', '-', ...args], {
    maxBuffer: 64 * 1024 * 1024,
    encoding: 'buffer',
  });
  const split = out.indexOf('\r\n\r\n');
  const head = out.subarray(0, split).toString().split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of head.slice(1)) {
    const i = line.indexOf(':');
    headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
  }
  return { status: Number(head[0]!.split(' ')[1]), headers, body: out.subarray(split + 4) };
}

describe('media server', () => {
  it('serves a whole file with Content-Length, ETag and Accept-Ranges', async () => {
    const r = await curl([`${base}/site.iso`]);
    expect(r.status).toBe(200);
    expect(r.headers['content-length']).toBe(String(content.length));
    expect(r.headers['accept-ranges']).toBe('bytes');
    expect(r.headers.etag).toMatch(/^"[0-9a-f-]+"$/);
    expect(Buffer.compare(r.body, content)).toBe(0);
  });

  it('answers HEAD with the headers and no body', async () => {
    const r = await curl(['-I', '-o', '/dev/null', `${base}/site.iso`]);
    expect(r.status).toBe(200);
    expect(r.headers['content-length']).toBe(String(content.length));
    const head = await fetch(`${base}/site.iso`, { method: 'HEAD' });
    expect((await head.arrayBuffer()).byteLength).toBe(0);
  });

  it('serves single ranges with curl -r (206) and refuses unsatisfiable ones (416)', async () => {
    const mid = await curl(['-r', '1000-1999', `${base}/site.iso`]);
    expect(mid.status).toBe(206);
    expect(mid.headers['content-range']).toBe(`bytes 1000-1999/${content.length}`);
    expect(Buffer.compare(mid.body, content.subarray(1000, 2000))).toBe(0);
    const tail = await curl(['-r', '-100', `${base}/site.iso`]);
    expect(tail.status).toBe(206);
    expect(Buffer.compare(tail.body, content.subarray(content.length - 100))).toBe(0);
    const open = await curl(['-r', `${content.length - 10}-`, `${base}/site.iso`]);
    expect(open.body.length).toBe(10);
    const beyond = await curl(['-r', `${content.length}-`, `${base}/site.iso`]);
    expect(beyond.status).toBe(416);
    expect(beyond.headers['content-range']).toBe(`bytes */${content.length}`);
  });

  it('serves the whole file for a multi-range request (allowed by RFC 9110)', async () => {
    const r = await curl(['-r', '0-1,5-6', `${base}/site.iso`]);
    expect(r.status).toBe(200);
    expect(r.body.length).toBe(content.length);
  });

  it('answers If-None-Match with 304 and a stale If-Range with the whole file', async () => {
    const etag = (await fetch(`${base}/site.iso`, { method: 'HEAD' })).headers.get('etag')!;
    expect((await fetch(`${base}/site.iso`, { headers: { 'If-None-Match': etag } })).status).toBe(304);
    expect((await fetch(`${base}/site.iso`, { headers: { 'If-None-Match': '"other"' } })).status).toBe(200);
    const stale = await fetch(`${base}/site.iso`, { headers: { Range: 'bytes=0-9', 'If-Range': '"old"' } });
    expect(stale.status).toBe(200);
    await stale.arrayBuffer();
  });

  it('serves .sha256 checksum files that sha256sum accepts', async () => {
    const r = await curl([`${base}/site.iso.sha256`]);
    expect(r.status).toBe(200);
    const digest = createHash('sha256').update(content).digest('hex');
    expect(r.body.toString()).toBe(`${digest}  site.iso\n`);
    writeFileSync(path.join(tmp.dir, 'site.iso.sha256'), r.body);
    writeFileSync(path.join(tmp.dir, 'site.iso'), content);
    const check = spawnSync('sha256sum', ['-c', 'site.iso.sha256'], { cwd: tmp.dir });
    expect(check.stdout.toString()).toBe('site.iso: OK\n');
    expect((await curl([`${base}/sub/small.raw.sha256`])).body.toString()).toMatch(
      /^[0-9a-f]{64} {2}small\.raw\n$/,
    );
  });

  it('serves files in subfolders, and nothing hidden or outside the media dir', async () => {
    expect((await curl([`${base}/sub/small.raw`])).body.toString()).toBe('hello world\n');
    expect((await fetch(`${base}/.hidden`)).status).toBe(404);
    expect((await curl(['--path-as-is', `${base}/../outside.txt`])).status).toBe(404);
    expect((await curl(['--path-as-is', `${base}/sub/%2e%2e/%2e%2e/outside.txt`])).status).toBe(404);
    expect((await fetch(`${base}/missing.iso`)).status).toBe(404);
    expect((await fetch(`${base}/site.iso`, { method: 'POST' })).status).toBe(405);
  });
});
