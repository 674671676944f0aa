import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { execa } from 'execa';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { shownUrl } from '../../src/artefacts/http.ts';
import { imageArchiveNames, releaseFileUrl } from '../../src/artefacts/plan.ts';
import { writeRke2Release } from '../../src/lab/rke2/index.ts';
import { tarArchive } from '../../src/lab/rke2/tar-writer.ts';
import { makeGptImage, tempDir } from '../definition/fixtures.ts';

/*
 * `outpost artefacts pull` against a mirror on loopback: the lab's stand-in RKE2 release served in GitHub's
 * release layout (`/<version>/<file>`, `+` as %2B) and a Helm chart repository (index.yaml + tarball), with
 * faults the mirror can inject: a connection cut mid-file, a corrupted file, an HTML page, a 404.
 */

const repo = path.resolve(import.meta.dirname, '../..');
const bin = path.join(repo, 'bin/outpost.js');
const VERSION = 'v1.32.4+rke2r1';
const DEFINITION = 'site.yaml';
const CORE = 'rke2-images-core.linux-amd64.tar.zst';
const TARBALL = 'rke2.linux-amd64.tar.gz';

interface Seen {
  path: string;
  range?: string;
  authorization?: string;
  host?: string;
}
let seen: Seen[] = [];
/** Faults for the next requests, by file name. */
let faults: Record<string, 'cut' | 'stall' | 'corrupt' | 'html' | '404'> = {};
/** Responses left hanging by 'stall', ended when a test is done with them. */
const stalled: http.ServerResponse[] = [];
let server: http.Server;
let base: string;
let work: { dir: string; remove: () => Promise<void> };
let releaseDir: string;
let config: string;
let chart: Buffer;
/** The chart's URL as index.yaml gives it (relative by default). */
let chartUrl = 'demo-0.1.0.tgz';

function serveFile(req: http.IncomingMessage, res: http.ServerResponse, data: Buffer, name: string) {
  const fault = faults[name];
  if (fault === '404') {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('Not Found');
    return;
  }
  if (fault === 'html') {
    res
      .writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
      .end('<html><body>Sign in</body></html>');
    return;
  }
  if (fault === 'corrupt')
    data = Buffer.concat([data.subarray(0, 100), Buffer.from('x'), data.subarray(101)]);
  const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  const start = range ? Number(range[1]) : 0;
  if (start >= data.length && range) {
    res.writeHead(416, { 'content-range': `bytes */${data.length}` }).end();
    return;
  }
  const headers: http.OutgoingHttpHeaders = {
    'content-type': 'application/octet-stream',
    'content-length': data.length - start,
    'accept-ranges': 'bytes',
  };
  if (range) headers['content-range'] = `bytes ${start}-${data.length - 1}/${data.length}`;
  res.writeHead(range ? 206 : 200, headers);
  if (fault === 'stall') {
    // Half the file, then silence: the client is killed while it waits.
    delete faults[name];
    res.write(data.subarray(start, start + Math.floor(data.length / 2)));
    stalled.push(res);
    return;
  }
  if (fault === 'cut') {
    // Half the file, then the connection drops (once).
    delete faults[name];
    res.write(data.subarray(start, start + Math.floor(data.length / 2)), () =>
      setTimeout(() => res.socket?.destroy(), 50),
    );
    return;
  }
  res.end(data.subarray(start));
}

async function startMirror(): Promise<void> {
  server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://mirror');
    seen.push({
      path: url.pathname,
      range: req.headers.range,
      authorization: req.headers.authorization,
      host: req.headers.host,
    });
    // GitHub answers release downloads with a redirect to another host; /moved/ does the same here.
    if (url.pathname.startsWith('/moved/')) {
      res.writeHead(302, { location: `${base}/releases/${url.pathname.slice('/moved/'.length)}` }).end();
      return;
    }
    const parts = url.pathname.split('/').map(decodeURIComponent);
    if (parts[1] === 'releases' && parts[2] === VERSION && parts.length === 4 && !parts[3]!.includes('..')) {
      const data = (() => {
        try {
          return readFileSync(path.join(releaseDir, parts[3]!));
        } catch {
          return undefined;
        }
      })();
      if (data) return serveFile(req, res, data, parts[3]!);
    }
    if (url.pathname === '/charts/index.yaml') {
      const digest = createHash('sha256').update(chart).digest('hex');
      const index = `apiVersion: v1\nentries:\n  demo:\n    - name: demo\n      version: 0.1.0\n      digest: ${digest}\n      urls:\n        - ${chartUrl}\ngenerated: "2026-01-01T00:00:00Z"\n`;
      return serveFile(req, res, Buffer.from(index), 'index.yaml');
    }
    if (url.pathname === '/charts/demo-0.1.0.tgz') return serveFile(req, res, chart, 'demo-0.1.0.tgz');
    res.writeHead(404, { 'content-type': 'text/plain' }).end('Not Found');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function pull(...extra: string[]) {
  return execa(
    process.execPath,
    [bin, 'artefacts', 'pull', '--definition-file', DEFINITION, '--source', `${base}/releases`, ...extra],
    { cwd: config, reject: false, timeout: 60_000, extendEnv: false, env: { PATH: process.env.PATH } },
  );
}

function validate() {
  return execa(process.execPath, [bin, 'validate', '--definition-file', DEFINITION], {
    cwd: config,
    reject: false,
    timeout: 60_000,
  });
}

const install = (name = '') => path.join(config, 'kubernetes/install', name);
const fetchedFiles = () => seen.filter((s) => !/sha256sum-|index\.yaml$/.test(s.path)).map((s) => s.path);

beforeAll(async () => {
  work = await tempDir('outpost-pull-');
  releaseDir = path.join(work.dir, 'mirror');
  await writeRke2Release({ version: VERSION, arch: 'x86_64', outDir: releaseDir });
  chart = gzipSync(
    tarArchive([
      {
        name: 'demo/Chart.yaml',
        mode: 0o644,
        data: Buffer.from('apiVersion: v2\nname: demo\nversion: 0.1.0\n'),
      },
    ]),
  );
  await startMirror();
});
afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  await work?.remove();
});
// Each test runs the CLI several times (a few seconds each on a busy machine).
describe('outpost artefacts pull', { timeout: 120_000 }, () => {
  beforeEach(async () => {
    seen = [];
    faults = {};
    config = path.join(work.dir, 'config');
    await rm(config, { recursive: true, force: true });
    await mkdir(path.join(config, 'base-images'), { recursive: true });
    await makeGptImage(path.join(config, 'base-images/gpt.raw'));
    await writeFile(
      path.join(config, DEFINITION),
      `apiVersion: 1.3
image:
  imageType: raw
  arch: x86_64
  baseImage: gpt.raw
  outputImageName: site.raw
kubernetes:
  version: ${VERSION}
  helm:
    charts:
      - name: demo
        repositoryName: lab
        version: 0.1.0
    repositories:
      - name: lab
        url: ${base}/charts
        plainHTTP: true
`,
    );
  });

  it('fetches the release, install.sh and the chart; validate then passes; a rerun fetches nothing', async () => {
    const first = await pull('--output', 'json');
    expect(first.stderr).toBe('');
    expect(first.exitCode).toBe(0);
    const summary = JSON.parse(first.stdout);
    expect(summary.files.map((f: { file: string }) => f.file)).toEqual([
      `kubernetes/install/${TARBALL}`,
      `kubernetes/install/${CORE}`,
      'kubernetes/install/rke2-images-cilium.linux-amd64.tar.zst',
      'kubernetes/install/sha256sum-amd64.txt',
      'kubernetes/install/install.sh',
      'kubernetes/helm/charts/demo-0.1.0.tgz',
    ]);
    expect(summary.fetched).toBe(6);
    // The version is one path segment with + encoded, as on GitHub.
    expect(seen.map((s) => s.path)).toContain('/releases/v1.32.4%2Brke2r1/sha256sum-amd64.txt');
    for (const name of [TARBALL, CORE, 'install.sh'])
      expect(await readFile(install(name))).toEqual(readFileSync(path.join(releaseDir, name)));
    expect(await readFile(path.join(config, 'kubernetes/helm/charts/demo-0.1.0.tgz'))).toEqual(chart);
    expect((await readdir(install())).filter((n) => n.startsWith('.'))).toEqual([]);
    const valid = await validate();
    expect(valid.stdout + valid.stderr).not.toMatch(/kubernetes\/install/);
    expect(valid.exitCode).toBe(0);

    seen = [];
    const again = await pull();
    expect(again.exitCode).toBe(0);
    expect(again.stdout).toContain('0 file(s) fetched');
    expect(fetchedFiles()).toEqual([]);
  });

  it('follows redirects; sends repository credentials to the repository only, and never prints them', async () => {
    const port = new URL(base).port;
    // The chart is hosted on another origin (localhost, not 127.0.0.1), as charts on GitHub releases are.
    chartUrl = `http://localhost:${port}/charts/demo-0.1.0.tgz`;
    const definition = path.join(config, DEFINITION);
    await writeFile(
      definition,
      (await readFile(definition, 'utf8')).replace(
        '        plainHTTP: true\n',
        `        plainHTTP: true\n        authentication:\n          username: puller\n          password: $\{CHART_PASSWORD}\n`,
      ),
    );
    try {
      const r = await execa(
        process.execPath,
        [
          bin,
          'artefacts',
          'pull',
          '--definition-file',
          DEFINITION,
          '--source',
          `${base}/moved`,
          '--output',
          'json',
        ],
        { cwd: config, reject: false, timeout: 60_000, env: { CHART_PASSWORD: 's3cret-chart-pass' } },
      );
      expect(r.stderr).toBe('');
      expect(r.exitCode).toBe(0);
      expect(r.stdout).not.toContain('s3cret-chart-pass');
      expect(seen.some((x) => x.path.startsWith('/moved/v1.32.4%2Brke2r1/'))).toBe(true);
      const basic = `Basic ${Buffer.from('puller:s3cret-chart-pass').toString('base64')}`;
      expect(seen.find((x) => x.path === '/charts/index.yaml')?.authorization).toBe(basic);
      const tarball = seen.find((x) => x.path === '/charts/demo-0.1.0.tgz');
      expect(tarball?.host).toBe(`localhost:${port}`);
      expect(tarball?.authorization).toBeUndefined();
      expect(seen.filter((x) => x.path.startsWith('/releases/')).every((x) => !x.authorization)).toBe(true);
      expect(await readFile(path.join(config, 'kubernetes/helm/charts/demo-0.1.0.tgz'))).toEqual(chart);
    } finally {
      chartUrl = 'demo-0.1.0.tgz';
    }
  });

  it('takes the CNI from server.yaml (multus,canal)', async () => {
    await mkdir(path.join(config, 'kubernetes/config'), { recursive: true });
    await writeFile(path.join(config, 'kubernetes/config/server.yaml'), 'cni: multus,canal\n');
    const r = await pull('--output', 'json', '--no-install-script');
    expect(r.exitCode).toBe(0);
    const names = JSON.parse(r.stdout).files.map((f: { file: string }) => path.basename(f.file));
    expect(names).toEqual(
      expect.arrayContaining([
        'rke2-images-multus.linux-amd64.tar.zst',
        'rke2-images-canal.linux-amd64.tar.zst',
      ]),
    );
    expect(names).not.toContain('rke2-images-cilium.linux-amd64.tar.zst');
  });

  it('resumes a download cut mid-file with a Range request', async () => {
    faults = { [TARBALL]: 'cut' };
    const cut = await pull();
    expect(cut.exitCode).toBe(1);
    expect(cut.stderr).toContain(`kubernetes/install/${TARBALL}`);
    expect(cut.stderr).toContain(`${base}/releases/v1.32.4%2Brke2r1/${TARBALL}`);
    expect(cut.stderr).toMatch(/run again to resume/);
    const kept = (await stat(install(`.${TARBALL}.partial`))).size;
    expect(kept).toBeGreaterThan(0);
    // Every byte received before the cut is kept, however late the client gets to write it.
    expect(cut.stderr).toContain(`stopped after ${kept} bytes`);
    await expect(stat(install(TARBALL))).rejects.toThrow();

    seen = [];
    const resumed = await pull('--output', 'json');
    expect(resumed.exitCode).toBe(0);
    const request = seen.find((s) => s.path.endsWith(`/${TARBALL}`));
    expect(request?.range).toBe(`bytes=${kept}-`);
    const file = JSON.parse(resumed.stdout).files.find((f: { file: string }) => f.file.endsWith(TARBALL));
    expect(file.status).toBe('resumed');
    expect(await readFile(install(TARBALL))).toEqual(readFileSync(path.join(releaseDir, TARBALL)));
    await expect(stat(install(`.${TARBALL}.partial`))).rejects.toThrow();
    expect((await validate()).exitCode).toBe(0);
  });

  it("removes another release's checksum file before replacing files (it vouches for nothing half done)", async () => {
    await mkdir(install(), { recursive: true });
    await writeFile(install('sha256sum-amd64.txt'), `${'0'.repeat(64)}  ${TARBALL}\n`);
    await writeFile(install(TARBALL), 'an older release');
    faults = { [TARBALL]: 'cut' };
    const cut = await pull();
    expect(cut.exitCode).toBe(1);
    await expect(stat(install('sha256sum-amd64.txt'))).rejects.toThrow();
    expect(await readFile(install(TARBALL), 'utf8')).toBe('an older release');
    const again = await pull();
    expect(again.exitCode).toBe(0);
    expect((await validate()).exitCode).toBe(0);
  });

  it('resumes after kill -9 mid-download', async () => {
    faults = { [TARBALL]: 'stall' };
    const child = pull();
    const partial = install(`.${TARBALL}.partial`);
    // Wait (at most 30 s) for the first half to reach the partial file, then kill the process outright.
    const deadline = Date.now() + 30_000;
    let kept = 0;
    while (Date.now() < deadline) {
      kept = (await stat(partial).catch(() => undefined))?.size ?? 0;
      if (kept > 0) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(kept, 'bytes in the partial file before the kill').toBeGreaterThan(0);
    child.kill('SIGKILL');
    expect((await child).signal).toBe('SIGKILL');
    for (const res of stalled.splice(0)) res.destroy();
    await expect(stat(install(TARBALL))).rejects.toThrow();
    kept = (await stat(partial)).size;

    seen = [];
    const resumed = await pull();
    expect(resumed.exitCode).toBe(0);
    expect(seen.find((s) => s.path.endsWith(`/${TARBALL}`))?.range).toBe(`bytes=${kept}-`);
    expect(await readFile(install(TARBALL))).toEqual(readFileSync(path.join(releaseDir, TARBALL)));
    expect((await readdir(install())).filter((n) => n.startsWith('.'))).toEqual([]);
  });

  it('refuses a corrupted file: exit 1, the URL and file named, nothing under its final name', async () => {
    faults = { [CORE]: 'corrupt' };
    const r = await pull();
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(`kubernetes/install/${CORE}`);
    expect(r.stderr).toContain(`${base}/releases/v1.32.4%2Brke2r1/${CORE}`);
    expect(r.stderr).toMatch(/checksum mismatch: sha256 is [0-9a-f]{64}, sha256sum-amd64.txt/);
    await expect(stat(install(CORE))).rejects.toThrow();
    await expect(stat(install(`.${CORE}.partial`))).rejects.toThrow();
    // The checksum file is written last, so it vouches for nothing that is not there.
    await expect(stat(install('sha256sum-amd64.txt'))).rejects.toThrow();
  });

  it('refuses a chart whose digest does not match index.yaml', async () => {
    faults = { 'demo-0.1.0.tgz': 'corrupt' };
    const r = await pull('--no-install-script');
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('kubernetes/helm/charts/demo-0.1.0.tgz');
    expect(r.stderr).toContain(`${base}/charts/demo-0.1.0.tgz`);
    expect(r.stderr).toMatch(/checksum mismatch.*index\.yaml/);
    await expect(stat(path.join(config, 'kubernetes/helm/charts/demo-0.1.0.tgz'))).rejects.toThrow();
  });

  it('names the URL and the file when the mirror answers 404 or with an HTML page', async () => {
    faults = { 'sha256sum-amd64.txt': '404' };
    const missing = await pull();
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toContain(
      `sha256sum-amd64.txt: ${base}/releases/v1.32.4%2Brke2r1/sha256sum-amd64.txt: HTTP 404`,
    );
    faults = { [TARBALL]: 'html' };
    const html = await pull();
    expect(html.exitCode).toBe(1);
    expect(html.stderr).toContain(
      `kubernetes/install/${TARBALL}: ${base}/releases/v1.32.4%2Brke2r1/${TARBALL}`,
    );
    expect(html.stderr).toContain('HTML page');
    await expect(stat(install(TARBALL))).rejects.toThrow();
  });

  it('reports a stale file of another release left in kubernetes/install (exit 2)', async () => {
    await mkdir(install(), { recursive: true });
    await writeFile(install('rke2-images-canal.linux-amd64.tar.zst'), 'from an older release');
    const r = await pull('--no-install-script');
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain("still fails validate's release check");
    expect(r.stderr).toMatch(
      /kubernetes\/install\/rke2-images-canal\.linux-amd64\.tar\.zst: checksum mismatch/,
    );
  });

  it('refuses bad input with exit 2: a CNI the release lacks, a link in the way, a non-http source', async () => {
    await mkdir(path.join(config, 'kubernetes/config'), { recursive: true });
    await writeFile(path.join(config, 'kubernetes/config/server.yaml'), 'cni: ../../etc\n');
    const badCni = await pull();
    expect(badCni.exitCode).toBe(2);
    expect(badCni.stderr).toContain("server.yaml: cni: '../../etc' is not a component name");
    await writeFile(path.join(config, 'kubernetes/config/server.yaml'), 'cni: weave\n');
    const unknown = await pull();
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr).toContain('cni: the release has no rke2-images-weave.linux-amd64 archive');
    // Nothing written on bad input.
    await expect(stat(install())).rejects.toThrow();
    await rm(path.join(config, 'kubernetes/config/server.yaml'));

    const { symlink } = await import('node:fs/promises');
    await mkdir(path.join(work.dir, 'elsewhere'), { recursive: true });
    await symlink(path.join(work.dir, 'elsewhere'), path.join(config, 'kubernetes/install'));
    const linked = await pull();
    expect(linked.exitCode).toBe(2);
    expect(linked.stderr).toContain('kubernetes/install: must be a folder, not a link');
    expect(await readdir(path.join(work.dir, 'elsewhere'))).toEqual([]);
    await rm(path.join(config, 'kubernetes/install'));

    const r = await execa(
      process.execPath,
      [bin, 'artefacts', 'pull', '--definition-file', DEFINITION, '--source', 'file:///etc'],
      { cwd: config, reject: false, timeout: 60_000 },
    );
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain("--source: 'file:///etc' is not an http(s) URL");
    const script = await pull('--install-script', 'file:///etc/passwd');
    expect(script.exitCode).toBe(2);
    expect(script.stderr).toContain("--install-script: 'file:///etc/passwd' is not an http(s) URL");
  });
});

describe('what is pulled (pure)', () => {
  const listed = new Set(
    ['core', 'cilium', 'canal', 'multus', 'calico'].flatMap((c) => [
      `rke2-images-${c}.linux-amd64.tar.zst`,
      `rke2-images-${c}.linux-amd64.tar.gz`,
    ]),
  );
  it('picks core and the CNI, .tar.zst first', () => {
    expect(imageArchiveNames({}, 'x86_64', listed).names).toEqual([
      'rke2-images-core.linux-amd64.tar.zst',
      'rke2-images-cilium.linux-amd64.tar.zst',
    ]);
    expect(imageArchiveNames({ cni: 'none' }, 'x86_64', listed).names).toEqual([
      'rke2-images-core.linux-amd64.tar.zst',
    ]);
    expect(imageArchiveNames({ cni: ['multus', 'calico'] }, 'x86_64', listed).names).toHaveLength(3);
    expect(
      imageArchiveNames(
        {},
        'x86_64',
        new Set(['rke2-images.linux-amd64.tar.gz', 'rke2-images-cilium.linux-amd64.tar.gz']),
      ).names,
    ).toEqual(['rke2-images.linux-amd64.tar.gz', 'rke2-images-cilium.linux-amd64.tar.gz']);
    expect(imageArchiveNames({ 'ingress-controller': 'traefik' }, 'x86_64', listed).problems).toEqual([]);
    expect(imageArchiveNames({ cni: 3 }, 'x86_64', listed).problems[0]).toMatch(/^cni: must be a string/);
  });
  it('prints URLs without the credentials written into them', () => {
    expect(shownUrl('https://user:pa%40ss@mirror.example/rke2/')).toBe('https://mirror.example/rke2/');
    expect(shownUrl('http://mirror.example/a@b')).toBe('http://mirror.example/a@b');
  });
  it('encodes the version as RKE2 links do', () => {
    expect(releaseFileUrl('https://github.com/rancher/rke2/releases/download/', VERSION, TARBALL).href).toBe(
      'https://github.com/rancher/rke2/releases/download/v1.32.4%2Brke2r1/rke2.linux-amd64.tar.gz',
    );
  });
});
