import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { BundleContext } from '../../src/bundle/context.ts';
import { kubernetesContribution } from '../../src/kubernetes/contributor.ts';
import { exampleConfigDir, load } from '../bundle/helpers.ts';
import { writeFixtureChart, writeFixtureRelease } from '../fixtures/rke2-release.ts';

/* What the Kubernetes contributor puts in the bundle: charts (local or pulled over HTTP), HelmCharts, VIP objects, token. */

let server: Server;
let repoUrl = '';
let chartBytes: Buffer = Buffer.alloc(0);
let indexDigest = '';
const requests: string[] = [];
const cleanups: (() => Promise<void>)[] = [];
/** `${NAME}`, as a user writes an environment reference. */
const envRef = (name: string) => ['$', '{', name, '}'].join('');

beforeAll(async () => {
  const stage = await exampleConfigDir();
  cleanups.push(stage.remove);
  const file = path.join(stage.dir, 'hello-0.1.0.tgz');
  await writeFixtureChart(file, 'hello', '0.1.0');
  chartBytes = await readFile(file);
  indexDigest = createHash('sha256').update(chartBytes).digest('hex');
  server = createServer((req, res) => {
    requests.push(`${req.url} ${req.headers.authorization ?? ''}`);
    if (req.url === '/charts/index.yaml') {
      res.end(
        stringify({
          apiVersion: 'v1',
          entries: {
            hello: [
              { name: 'hello', version: '0.2.0', urls: ['hello-0.2.0.tgz'], digest: 'f'.repeat(64) },
              { name: 'hello', version: '0.1.0', urls: ['packages/hello-0.1.0.tgz'], digest: indexDigest },
            ],
            broken: [
              {
                name: 'broken',
                version: '1.0.0',
                urls: ['packages/hello-0.1.0.tgz'],
                digest: 'a'.repeat(64),
              },
            ],
          },
        }),
      );
    } else if (req.url === '/charts/packages/hello-0.1.0.tgz') {
      res.end(chartBytes);
    } else {
      res.statusCode = 404;
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  repoUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/charts`;
});
afterAll(async () => {
  server?.close();
  for (const c of cleanups) await c();
});

async function contribute(
  // biome-ignore lint/suspicious/noExplicitAny: tests write the kubernetes section as YAML would
  kubernetes: any,
  files: Record<string, string> = {},
  env: Record<string, string> = {},
  charts: [string, string][] = [],
  prepare: (dir: string) => Promise<void> = async () => {},
) {
  const cfg = await exampleConfigDir((def) => {
    def.kubernetes = kubernetes;
  }, files);
  cleanups.push(cfg.remove);
  await writeFixtureRelease(path.join(cfg.dir, 'kubernetes/install'));
  for (const [name, version] of charts) {
    await writeFixtureChart(
      path.join(cfg.dir, `kubernetes/helm/charts/${name}-${version}.tgz`),
      name,
      version,
    );
  }
  await prepare(cfg.dir);
  const loaded = await load(cfg.dir, env);
  const ctx: BundleContext = {
    loaded,
    definition: loaded.definition,
    configDir: cfg.dir,
    engine: 'systemd',
    env,
  };
  return { contribution: await kubernetesContribution(ctx), dir: cfg.dir };
}

const fileText = (c: Awaited<ReturnType<typeof kubernetesContribution>>, p: string) => {
  const f = c.files.find((x) => x.path === p);
  if (!f) throw new Error(`no ${p}: ${c.files.map((x) => x.path).join(', ')}`);
  return String(f.content);
};

describe('charts', () => {
  it('pulls a chart from an HTTP repository: index.yaml, then the tarball with its digest checked', async () => {
    requests.length = 0;
    const { contribution, dir } = await contribute(
      {
        version: 'v1.32.4+rke2r1',
        helm: {
          charts: [
            { name: 'hello', repositoryName: 'site', version: '0.1.0', installationNamespace: 'apps-system' },
          ],
          repositories: [
            {
              name: 'site',
              url: repoUrl,
              plainHTTP: true,
              authentication: { username: 'u', password: envRef('REPO_PASSWORD') },
            },
          ],
        },
      },
      {},
      { REPO_PASSWORD: 'repo-secret' },
    );
    const artefact = contribution.artefacts.find((a) => a.path === 'kubernetes/charts/hello-0.1.0.tgz');
    expect(artefact?.source).toBe(path.join(dir, '_build/cache/charts/site/hello-0.1.0.tgz'));
    expect(await readFile(artefact!.source)).toEqual(chartBytes);
    const basic = `Basic ${Buffer.from('u:repo-secret').toString('base64')}`;
    expect(requests).toEqual([`/charts/index.yaml ${basic}`, `/charts/packages/hello-0.1.0.tgz ${basic}`]);
    expect(fileText(contribution, 'kubernetes/manifests/outpost-helmchart-hello.yaml')).toBe(
      [
        'apiVersion: helm.cattle.io/v1',
        'kind: HelmChart',
        'metadata:',
        '  name: hello',
        '  namespace: apps-system',
        '  annotations:',
        '    outpost.io/chart-file: hello-0.1.0.tgz',
        `    outpost.io/chart-sha256: ${indexDigest}`,
        `    outpost.io/repository-url: ${repoUrl}`,
        'spec:',
        '  chart: https://%{KUBERNETES_API}%/static/charts/hello-0.1.0.tgz',
        '  version: 0.1.0',
        '  backOffLimit: 20',
        '',
      ].join('\n'),
    );
  });

  it('refuses a pulled tarball whose digest does not match index.yaml, and a version the index lacks', async () => {
    const def = (name: string, version: string) => ({
      version: 'v1.32.4+rke2r1',
      helm: {
        charts: [{ name, repositoryName: 'site', version }],
        repositories: [{ name: 'site', url: repoUrl, plainHTTP: true }],
      },
    });
    await expect(contribute(def('broken', '1.0.0'))).rejects.toThrow(
      /kubernetes\.helm\.charts\[0\]: cannot pull chart broken 1\.0\.0 from repository site: the tarball's sha256 is [0-9a-f]{64}, index\.yaml says a{64}/,
    );
    await expect(contribute(def('hello', '9.9.9'))).rejects.toThrow(
      /index\.yaml has no version 9\.9\.9 of hello/,
    );
  });

  it('an API VIP needs the MetalLB and endpoint-copier-operator charts; with them come the VIP objects', async () => {
    const k8s = { version: 'v1.32.4+rke2r1', network: { apiVIP: '192.168.122.100', apiVIP6: 'fd00::100' } };
    await expect(
      contribute(k8s, {
        'kubernetes/config/server.yaml':
          'cluster-cidr: 10.42.0.0/16,fd42::/48\nservice-cidr: 10.43.0.0/16,fd43::/112\n',
      }),
    ).rejects.toThrow(
      // Refused by the checks the build runs first (those of validate), positioned on the VIP.
      /"path":"kubernetes\.network\.apiVIP","message":"the API VIP needs chart metallb 0\.1\.0\+up0\.14\.9, which cannot be had: put metallb-0\.1\.0\+up0\.14\.9\.tgz \(as helm pull writes it\) in kubernetes\/helm\/charts\/, or run `outpost artefacts pull`/,
    );
    const dualStack = {
      'kubernetes/config/server.yaml':
        'cluster-cidr: 10.42.0.0/16,fd42::/48\nservice-cidr: 10.43.0.0/16,fd43::/112\n',
    };
    const { contribution } = await contribute(k8s, dualStack, {}, [
      ['metallb', '0.1.0+up0.14.9'],
      ['endpoint-copier-operator', '0.2.1'],
    ]);
    const vip = fileText(contribution, 'kubernetes/manifests/outpost-kubernetes-vip.yaml');
    expect(vip).toContain(
      'kind: IPAddressPool\nmetadata:\n  name: api-ip\n  namespace: metallb-system\nspec:\n  addresses:\n    - 192.168.122.100/32\n    - fd00::100/128\n',
    );
    expect(vip).toContain('kind: L2Advertisement');
    expect(vip).toContain('ipFamilyPolicy: RequireDualStack');
    expect(fileText(contribution, 'kubernetes/manifests/outpost-helmchart-metallb.yaml')).toContain(
      'targetNamespace: metallb-system',
    );
    expect(
      fileText(contribution, 'kubernetes/manifests/outpost-helmchart-endpoint-copier-operator.yaml'),
    ).toContain('createNamespace: true');
  });
});

describe('workload images', () => {
  it('land in agent/images; registries.yaml mirrors their registries through the embedded registry', async () => {
    const stage = await exampleConfigDir();
    cleanups.push(stage.remove);
    const archive = async (name: string, tags: string[], zstd: boolean) => {
      const dir = path.join(stage.dir, name);
      await mkdir(dir);
      await writeFile(
        path.join(dir, 'manifest.json'),
        JSON.stringify([{ Config: 'c.json', RepoTags: tags, Layers: [] }]),
      );
      await writeFile(path.join(dir, 'c.json'), '{}');
      const tar = path.join(stage.dir, `${name}.tar`);
      await execa('tar', ['-cf', tar, '-C', dir, 'manifest.json', 'c.json']);
      if (!zstd) return tar;
      await execa('zstd', ['-q', tar, '-o', `${tar}.zst`]);
      return `${tar}.zst`;
    };
    const web = await archive('web', ['registry.example.com:5000/apps/web:1.0', 'nginx:1.27'], true);
    const tool = await archive('tool', ['quay.io/org/tool:2'], false);
    const { contribution } = await contribute({ version: 'v1.32.4+rke2r1' }, {}, {}, [], async (dir) => {
      await mkdir(path.join(dir, 'kubernetes/images'), { recursive: true });
      await copyFile(web, path.join(dir, 'kubernetes/images/web.tar.zst'));
      await copyFile(tool, path.join(dir, 'kubernetes/images/tool.tar'));
    });
    expect(contribution.artefacts.map((a) => a.path)).toContain('kubernetes/images/web.tar.zst');
    expect(fileText(contribution, 'kubernetes/registries.yaml')).toBe(
      'mirrors:\n  docker.io: {}\n  quay.io: {}\n  registry.example.com:5000: {}\n',
    );
    expect(fileText(contribution, 'kubernetes/config/initializer.yaml')).toContain(
      'embedded-registry: true\n',
    );
  });
});

describe('manifests', () => {
  it('refuses a manifest whose file name cannot name the object RKE2 makes of it', async () => {
    await expect(
      contribute(
        { version: 'v1.32.4+rke2r1' },
        { 'kubernetes/manifests/My_App.yaml': 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n' },
      ),
      // validate's check (src/kubernetes/check.ts) refuses it before the build reaches this step
    ).rejects.toThrow(/kubernetes\/manifests\/My_App\.yaml",.*RKE2 names an object after this file/);
  });
});

describe('cluster token', () => {
  it('comes from an environment reference in server.yaml, is flagged secret, and an unset variable is refused', async () => {
    const files = { 'kubernetes/config/server.yaml': `token: ${envRef('RKE2_TOKEN')}\n` };
    const { contribution } = await contribute({ version: 'v1.32.4+rke2r1' }, files, {
      RKE2_TOKEN: 'from-env-123',
    });
    for (const role of ['initializer', 'server', 'agent']) {
      const f = contribution.files.find((x) => x.path === `kubernetes/config/${role}.yaml`)!;
      expect(String(f.content)).toContain('token: from-env-123\n');
      expect(f.secret).toBe(true);
      expect(f.mode).toBe(0o600);
    }
    await expect(contribute({ version: 'v1.32.4+rke2r1' }, files)).rejects.toThrow(
      /"path":"token","message":"environment variable RKE2_TOKEN is not set/,
    );
  });

  it('is generated per build when none is given', async () => {
    const a = await contribute({ version: 'v1.32.4+rke2r1' });
    const b = await contribute({ version: 'v1.32.4+rke2r1' });
    const token = (c: typeof a) =>
      /token: ([0-9a-f]{48})\n/.exec(fileText(c.contribution, 'kubernetes/config/initializer.yaml'))?.[1];
    expect(token(a)).toMatch(/^[0-9a-f]{48}$/);
    expect(token(a)).not.toBe(token(b));
  });

  it('K3s is refused before the build (by the definition checks)', async () => {
    await expect(contribute({ version: 'v1.32.4+k3s1' })).rejects.toThrow(
      /"path":"kubernetes.version","message":"K3s is not supported by outpost yet/,
    );
  });
});
