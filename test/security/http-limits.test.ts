import { mkdirSync, readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningService, startService } from '../../src/service/service.ts';
import { tempDir } from '../service/helpers.ts';

// Findings: malformed percent-escapes in /api, /media and /callbacks answered 500; there was no cap on
// connections and no header or body timeout, so a few slow clients could hold the service.
const tmp = tempDir('sec-http');
const stateDir = path.join(tmp.dir, 'state');
const LIMITS = { maxConnections: 20, headersTimeoutMs: 1500, requestTimeoutMs: 3000, idleTimeoutMs: 10_000 };
let service: RunningService;
let token: string;

beforeAll(async () => {
  mkdirSync(path.join(tmp.dir, 'media'));
  service = await startService({
    stateDir,
    mediaDir: path.join(tmp.dir, 'media'),
    host: '127.0.0.1',
    port: 0,
    log: () => {},
    httpLimits: LIMITS,
  });
  token = readFileSync(path.join(stateDir, 'api-token'), 'utf8').trim();
});
afterAll(async () => {
  await service?.close();
  tmp.cleanup();
});

/** A raw connection, for requests no HTTP library would send. */
function open(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(service.port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Resolves with the time (ms since `since`) the server closed the connection, or rejects after `limitMs`. */
function closedWithin(socket: Socket, since: number, limitMs: number): Promise<{ ms: number; data: string }> {
  let data = '';
  socket.on('data', (d) => {
    data += d.toString();
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`connection still open after ${limitMs} ms`)), limitMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve({ ms: Date.now() - since, data });
    });
  });
}

const healthy = async () =>
  (await fetch(`${service.url}/healthz`, { signal: AbortSignal.timeout(3000) })).status;

describe('HTTP: malformed URLs, slow clients, connection cap', () => {
  it('answers 400, not 500, to malformed percent-escapes and URLs in /api, /media and /callbacks', async () => {
    const headers = { Authorization: `Bearer ${token}` };
    for (const target of [
      '/api/v1/hosts/%zz',
      '/api/v1/hosts/%E0%A4%A/events',
      '/media/%',
      '/media/bad%zzname.iso',
      '/callbacks/%ff%fe',
      '/callbacks/%/token',
    ]) {
      const r = await fetch(`${service.url}${target}`, {
        method: target.startsWith('/callbacks') ? 'POST' : 'GET',
        headers,
      });
      expect(r.status, target).toBe(400);
      expect(await r.json(), target).toEqual({ error: expect.stringMatching(/malformed/) });
    }
    // A request target that is not a path at all.
    const socket = await open();
    const done = closedWithin(socket, Date.now(), 5000);
    socket.end('GET http://[bad/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect((await done).data).toMatch(/^HTTP\/1\.1 400 /);
  });

  it('closes a connection whose headers trickle in (bounded by the header timeout)', async () => {
    const socket = await open();
    const started = Date.now();
    const done = closedWithin(socket, started, LIMITS.headersTimeoutMs + 5000);
    socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
    const trickle = setInterval(() => socket.writable && socket.write('X-Slow: 1\r\n'), 200);
    const { ms, data } = await done.finally(() => clearInterval(trickle));
    expect(ms).toBeGreaterThanOrEqual(LIMITS.headersTimeoutMs - 100);
    expect(data).toMatch(/^HTTP\/1\.1 408 |^$/);
    expect(await healthy()).toBe(200);
  });

  it('closes a connection whose body trickles in (bounded by the request timeout)', async () => {
    const socket = await open();
    const started = Date.now();
    const done = closedWithin(socket, started, LIMITS.requestTimeoutMs + 5000);
    socket.write(
      `POST /api/v1/hosts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Length: 100000\r\n\r\n`,
    );
    const trickle = setInterval(() => socket.writable && socket.write('h'), 200);
    const { ms } = await done.finally(() => clearInterval(trickle));
    expect(ms).toBeGreaterThanOrEqual(LIMITS.requestTimeoutMs - 100);
    expect(await healthy()).toBe(200);
  });

  it('caps open connections: the ones over the cap are closed at once, the service keeps answering', async () => {
    const held = await Promise.all(Array.from({ length: LIMITS.maxConnections }, () => open()));
    // Let the server accept them all.
    await new Promise((r) => setTimeout(r, 200));
    const extra = await open();
    const { ms } = await closedWithin(extra, Date.now(), 3000);
    expect(ms).toBeLessThan(3000);
    for (const s of held) s.destroy();
    await new Promise((r) => setTimeout(r, 200));
    expect(await healthy()).toBe(200);
  });
});
