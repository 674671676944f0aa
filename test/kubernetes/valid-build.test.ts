import {
  copyFile,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:https';
import { type AddressInfo, connect } from 'node:net';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDebianBaseImage } from '../fixtures/base-images.ts';
import { writeFixtureChart, writeFixtureRelease } from '../fixtures/rke2-release.ts';

/*
 * The EIB Kubernetes definitions of test/definition/valid build, verbatim, with the real CLI against the
 * Debian fixture. The RKE2 release and the charts are in the config dir (air gap); the single-node
 * definition's manifest URL (raw.githubusercontent.com) is fetched through the build host's HTTPS proxy,
 * here a loopback proxy whose TLS endpoint presents a certificate from a test CA given to Node.
 */

const repo = path.resolve(import.meta.dirname, '../..');
const validDir = path.join(repo, 'test/definition/valid');
const MANIFEST = 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: example-app\n';
const ENV = { ROOT_PASSWORD: '$6$salt$buildtesthash', HELM_USER: 'helm-user' };
let work = '';
let base = '';
let proxy: Server;
let origin: TlsServer;
let proxyUrl = '';
let caFile = '';
const proxied: string[] = [];

beforeAll(async () => {
  base = await ensureDebianBaseImage();
  work = await mkdtemp('/var/tmp/outpost-k8s-build-');
  const pki = path.join(work, 'pki');
  await mkdir(pki);
  caFile = path.join(pki, 'ca.pem');
  const ssl = (...args: string[]) => execa('openssl', args, { cwd: pki });
  await ssl(
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=outpost test proxy CA',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
  );
  await ssl(
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-subj',
    '/CN=raw.githubusercontent.com',
    '-keyout',
    'site.key',
    '-out',
    'site.csr',
  );
  await writeFile(path.join(pki, 'ext.cnf'), 'subjectAltName=DNS:raw.githubusercontent.com\n');
  await ssl(
    'x509',
    '-req',
    '-in',
    'site.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    'ext.cnf',
    '-out',
    'site.pem',
  );
  origin = createTlsServer(
    { key: await readFile(path.join(pki, 'site.key')), cert: await readFile(path.join(pki, 'site.pem')) },
    (req, res) => {
      proxied.push(`GET ${req.headers.host}${req.url}`);
      if (req.url === '/example/app/v1.0.0/deploy.yaml') res.end(MANIFEST);
      else {
        res.statusCode = 404;
        res.end();
      }
    },
  );
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
  const originPort = (origin.address() as AddressInfo).port;
  // An HTTP proxy that tunnels CONNECT for raw.githubusercontent.com:443 to the loopback origin only.
  proxy = createHttpServer((_req, res) => {
    res.statusCode = 403;
    res.end();
  });
  proxy.on('connect', (req, socket) => {
    proxied.push(`CONNECT ${req.url}`);
    if (req.url !== 'raw.githubusercontent.com:443') {
      socket.end('HTTP/1.1 403 Forbidden\r\n\r\n');
      return;
    }
    const upstream = connect(originPort, '127.0.0.1', () => {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    upstream.on('error', () => socket.destroy());
    socket.on('error', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
}, 900_000);

afterAll(async () => {
  proxy?.close();
  origin?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

async function configDir(definition: string, charts: [string, string][]): Promise<string> {
  const dir = path.join(work, definition.replace(/\.yaml$/, ''));
  await mkdir(path.join(dir, 'base-images'), { recursive: true });
  await symlink(base, path.join(dir, 'base-images/gpt.raw'));
  await copyFile(path.join(validDir, definition), path.join(dir, definition));
  await writeFixtureRelease(path.join(dir, 'kubernetes/install'));
  for (const [name, version] of charts) {
    await writeFixtureChart(path.join(dir, `kubernetes/helm/charts/${name}-${version}.tgz`), name, version);
  }
  // As the corpus config dir has it: a dual-stack cluster needs both families in its CIDRs (EIB's rule).
  await mkdir(path.join(dir, 'kubernetes/config'), { recursive: true });
  await writeFile(
    path.join(dir, 'kubernetes/config/server.yaml'),
    'cluster-cidr: 10.42.0.0/16,fd42::/48\nservice-cidr: 10.43.0.0/16,fd43::/112\n',
  );
  await mkdir(path.join(dir, 'kubernetes/helm/values'), { recursive: true });
  await writeFile(path.join(dir, 'kubernetes/helm/values/metallb.yaml'), 'controller:\n  logLevel: info\n');
  await mkdir(path.join(dir, 'kubernetes/helm/certs'), { recursive: true });
  await copyFile(caFile, path.join(dir, 'kubernetes/helm/certs/ca.pem'));
  return dir;
}

async function build(dir: string, definition: string) {
  const started = performance.now();
  const r = await execa(
    process.execPath,
    [
      path.join(repo, 'bin/outpost.js'),
      'build',
      '--config-dir',
      dir,
      '--definition-file',
      definition,
      '--output',
      'json',
    ],
    {
      env: {
        ...ENV,
        PATH: process.env.PATH!,
        NODE_USE_ENV_PROXY: '1',
        HTTPS_PROXY: proxyUrl,
        NODE_EXTRA_CA_CERTS: caFile,
      },
      extendEnv: false,
      reject: false,
      timeout: 900_000,
    },
  );
  console.log(`${definition}: build ${((performance.now() - started) / 1000).toFixed(1)} s`);
  expect(r.exitCode, r.stderr).toBe(0);
  const buildRoot = path.join(dir, '_build');
  const buildDir = path.join(buildRoot, (await readdir(buildRoot)).find((n) => n.startsWith('build-'))!);
  return { report: JSON.parse(r.stdout), buildDir };
}

/** Every file of the build directory except the token file itself must be free of the token. */
async function filesHolding(dir: string, secret: string, except: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { recursive: true })) {
    const file = path.join(dir, entry);
    if (file === except || !(await lstat(file)).isFile()) continue;
    if ((await readFile(file)).includes(secret)) found.push(entry);
  }
  return found;
}

describe('the EIB Kubernetes definitions build', () => {
  it(
    'rke2-single-node.yaml: the manifest URL comes through the proxy; the token stays out of every copy',
    { timeout: 900_000 },
    async () => {
      const dir = await configDir('rke2-single-node.yaml', []);
      const { report, buildDir } = await build(dir, 'rke2-single-node.yaml');
      expect(proxied).toEqual([
        'CONNECT raw.githubusercontent.com:443',
        'GET raw.githubusercontent.com/example/app/v1.0.0/deploy.yaml',
      ]);
      expect(report.status).toBe('succeeded');
      const bundle = path.join(buildDir, 'bundle/combustion');
      expect(await readFile(path.join(bundle, 'kubernetes/manifests/dl-manifest-1.yaml'), 'utf8')).toBe(
        MANIFEST,
      );
      expect(await readFile(path.join(bundle, 'kubernetes/config/initializer.yaml'), 'utf8')).toMatch(
        /^<redacted>: this file holds secrets/,
      );
      const tokenFile = path.join(buildDir, 'kubernetes-token');
      expect((await stat(tokenFile)).mode & 0o777).toBe(0o600);
      const token = (await readFile(tokenFile, 'utf8')).trim();
      expect(token).toMatch(/^[0-9a-f]{48}$/);
      expect(await filesHolding(buildDir, token, tokenFile)).toEqual([]);
      expect(await readFile(path.join(bundle, '20-kubernetes.sh'), 'utf8')).toContain(
        "readonly TARBALL='rke2.linux-amd64.tar.gz'",
      );
    },
  );

  it(
    'rke2-multi-node-vip.yaml: charts from the local folder, VIP charts and objects, roles by host name',
    { timeout: 900_000 },
    async () => {
      const dir = await configDir('rke2-multi-node-vip.yaml', [
        ['metallb', '0.14.9'],
        ['app', '1.2.3'],
        ['endpoint-copier-operator', '0.2.1'],
      ]);
      const { report, buildDir } = await build(dir, 'rke2-multi-node-vip.yaml');
      expect(report.status).toBe('succeeded');
      const bundle = path.join(buildDir, 'bundle/combustion');
      expect((await readdir(path.join(bundle, 'kubernetes/manifests'))).sort()).toEqual([
        'outpost-helmchart-edge-app.yaml',
        'outpost-helmchart-endpoint-copier-operator.yaml',
        'outpost-helmchart-metallb.yaml',
        'outpost-kubernetes-vip.yaml',
      ]);
      const step = await readFile(path.join(bundle, '20-kubernetes.sh'), 'utf8');
      expect(step).toContain(
        "readonly NODES=('node1' 'initializer' 'node2' 'server' 'node3' 'server' 'worker1' 'agent')",
      );
      expect(step).toContain(
        "readonly VIP_HOSTS=('192.168.122.100 api.cluster.edge.example' 'fd00:122::100 api.cluster.edge.example')",
      );
      const artefacts = await readFile(path.join(buildDir, 'bundle/artefacts.txt'), 'utf8');
      expect(artefacts).toContain('kubernetes/charts/metallb-0.14.9.tgz\t');
      expect(artefacts).toContain('kubernetes/install/rke2-images-core.linux-amd64.tar.zst\t');
    },
  );
});
