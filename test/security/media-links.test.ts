import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningService, startService } from '../../src/service/service.ts';
import { tempDir } from '../service/helpers.ts';

// Finding: the media server followed symlinks (a link to state/api-token served the API token without
// authentication) and served files outside the media dir. Whoever can drop a link into the media dir (a
// build output, a copied bundle) must not get any other file out of the service.
const tmp = tempDir('sec-media');
const stateDir = path.join(tmp.dir, 'state');
const mediaDir = path.join(tmp.dir, 'media');
const outsideDir = path.join(tmp.dir, 'outside');
let service: RunningService;
let apiToken: string;

beforeAll(async () => {
  mkdirSync(path.join(mediaDir, 'sub'), { recursive: true });
  mkdirSync(outsideDir);
  writeFileSync(path.join(mediaDir, 'site.iso'), 'the image');
  writeFileSync(path.join(mediaDir, 'sub', 'inside.raw'), 'inside');
  writeFileSync(path.join(outsideDir, 'secret.txt'), 'outside secret');
  service = await startService({ stateDir, mediaDir, host: '127.0.0.1', port: 0, log: () => {} });
  apiToken = readFileSync(path.join(stateDir, 'api-token'), 'utf8').trim();
  symlinkSync(path.join(stateDir, 'api-token'), path.join(mediaDir, 'token.iso'));
  symlinkSync('../outside/secret.txt', path.join(mediaDir, 'relative.iso'));
  symlinkSync(outsideDir, path.join(mediaDir, 'linked-dir'));
  symlinkSync(stateDir, path.join(mediaDir, 'state'));
  symlinkSync('/dev/zero', path.join(mediaDir, 'zero.iso'));
  symlinkSync('/etc/passwd', path.join(mediaDir, 'passwd'));
  // A link that stays inside the media dir still points at a regular file in it: allowed.
  symlinkSync('sub/inside.raw', path.join(mediaDir, 'alias.raw'));
  execFileSync('mkfifo', [path.join(mediaDir, 'pipe.iso')]);
  // Links that stay inside but lead to what is not served by name: a hidden file, a per-host ISO.
  writeFileSync(path.join(mediaDir, '.hidden'), 'hidden');
  symlinkSync('.hidden', path.join(mediaDir, 'peek.iso'));
  mkdirSync(path.join(mediaDir, 'hosts'));
  writeFileSync(path.join(mediaDir, 'hosts', `${'ab'.repeat(16)}.iso`), 'token inside');
  symlinkSync(`hosts/${'ab'.repeat(16)}.iso`, path.join(mediaDir, 'someones-installer.iso'));
});
afterAll(async () => {
  await service?.close();
  tmp.cleanup();
});

async function get(urlPath: string): Promise<{ status: number; body: string }> {
  const r = await fetch(`${service.url}${urlPath}`, { signal: AbortSignal.timeout(5000) });
  return { status: r.status, body: await r.text() };
}

describe('media server: links and special files', () => {
  it('never serves a file through a link that leads out of the media dir', async () => {
    for (const name of [
      'token.iso',
      'token.iso.sha256',
      'relative.iso',
      'relative.iso.sha256',
      'linked-dir/secret.txt',
      'state/api-token',
      'state/credentials.json',
      'passwd',
      'peek.iso',
      'someones-installer.iso',
      'someones-installer.iso.sha256',
    ]) {
      const r = await get(`/media/${name}`);
      expect(r.status, name).toBe(404);
      expect(r.body).not.toContain(apiToken);
      expect(r.body).not.toContain('outside secret');
      expect(r.body).not.toContain('root:');
      expect(r.body).not.toContain('hidden');
      expect(r.body).not.toContain('token inside');
    }
    // Encoded traversal is decoded first and then refused the same way.
    for (const name of [
      '%2e%2e/outside/secret.txt',
      '..%2foutside%2fsecret.txt',
      'sub/%2e%2e/%2e%2e/state/api-token',
    ]) {
      const r = await get(`/media/${name}`);
      expect(r.status, name).toBe(404);
    }
  });

  it('refuses special files: a FIFO does not hang the request, a device is not read', async () => {
    const started = Date.now();
    expect((await get('/media/pipe.iso')).status).toBe(404);
    expect((await get('/media/pipe.iso.sha256')).status).toBe(404);
    expect((await get('/media/zero.iso')).status).toBe(404);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('still serves regular files, also through a link that stays inside', async () => {
    expect(await get('/media/site.iso')).toEqual({ status: 200, body: 'the image' });
    expect(await get('/media/sub/inside.raw')).toEqual({ status: 200, body: 'inside' });
    expect(await get('/media/alias.raw')).toEqual({ status: 200, body: 'inside' });
  });
});
