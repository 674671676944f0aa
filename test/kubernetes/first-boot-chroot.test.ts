import { execFileSync } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleFromContributions } from '../../src/bundle/assemble.ts';
import type { FirstBootEngine } from '../../src/bundle/bundle.ts';
import type { BundleContext } from '../../src/bundle/context.ts';
import { writeBundle } from '../../src/image/write-bundle.ts';
import { kubernetesContribution } from '../../src/kubernetes/contributor.ts';
import { exampleConfigDir, load, repoRoot } from '../bundle/helpers.ts';
import { ensureDebianRootfsTar } from '../fixtures/base-images.ts';
import { writeFixtureChart, writeFixtureRelease } from '../fixtures/rke2-release.ts';

/*
 * The Kubernetes first-boot step runs for real in a chroot of the Debian fixture: it picks the role,
 * writes config.yaml, installs the release (outpost's own install, RKE2's layout), places every image
 * archive, the manifests and the charts, and enables the unit. Starting RKE2 is proven by the QEMU boot test.
 */

const TOKEN = 'K10fixture::server:0123456789abcdef';
let root = '';
let procMounted = false;
const inRoot = (rel: string) => path.join(root, rel);
const read = (rel: string) => readFile(inRoot(rel), 'utf8');
const exists = (rel: string) =>
  lstat(inRoot(rel)).then(
    () => true,
    () => false,
  );

async function bundleFor(
  // biome-ignore lint/suspicious/noExplicitAny: tests write the kubernetes section as YAML would
  kubernetes: any,
  files: Record<string, string> = {},
  charts: [string, string][] = [],
  release: 'fixture' | 'stand-in' = 'fixture',
  engine: FirstBootEngine = 'systemd',
) {
  const cfg = await exampleConfigDir((def) => {
    def.kubernetes = kubernetes;
  }, files);
  try {
    if (release === 'fixture') await writeFixtureRelease(path.join(cfg.dir, 'kubernetes/install'));
    else {
      await execa(process.execPath, [
        path.join(repoRoot, 'bin/outpost.js'),
        'lab',
        'rke2-release',
        '--version',
        'v1.32.4+rke2r1',
        '--arch',
        'x86_64',
        '--out',
        path.join(cfg.dir, 'kubernetes/install'),
      ]);
    }
    for (const [name, version] of charts) {
      await writeFixtureChart(
        path.join(cfg.dir, `kubernetes/helm/charts/${name}-${version}.tgz`),
        name,
        version,
      );
    }
    if (kubernetes === SINGLE) {
      await writeImageArchive(
        path.join(cfg.dir, 'kubernetes/images/web.tar'),
        'registry.example.com/apps/web:1.0',
      );
    }
    const loaded = await load(cfg.dir, { RKE2_TOKEN: TOKEN });
    const ctx: BundleContext = {
      loaded,
      definition: loaded.definition,
      configDir: cfg.dir,
      engine,
      env: { RKE2_TOKEN: TOKEN },
    };
    const bundle = bundleFromContributions(loaded, engine, [await kubernetesContribution(ctx)]);
    // The artefacts are copied now, while their sources exist.
    await resetRoot();
    writeBundle(root, bundle);
    return bundle;
  } finally {
    await cfg.remove();
  }
}

/** A docker-save archive naming one image (no layers: only the names matter here). */
async function writeImageArchive(file: string, tag: string) {
  const dir = await mkdtemp('/var/tmp/outpost-image-');
  try {
    await writeFile(
      path.join(dir, 'manifest.json'),
      JSON.stringify([{ Config: 'c.json', RepoTags: [tag], Layers: [] }]),
    );
    await writeFile(path.join(dir, 'c.json'), '{}');
    await mkdir(path.dirname(file), { recursive: true });
    await execa('tar', ['-cf', file, '-C', dir, 'manifest.json', 'c.json']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function resetRoot(hostname = 'edge1') {
  for (const rel of [
    'etc/rancher',
    'var/lib/rancher',
    'var/lib/outpost',
    'usr/local/bin',
    'usr/local/lib/systemd',
    'usr/local/share/rke2',
    'usr/local/lib/outpost',
    'opt/rke2',
    'etc/systemd/system/rke2-server.service',
    'etc/systemd/system/rke2-agent.service',
    'etc/systemd/system/multi-user.target.wants',
  ]) {
    await rm(inRoot(rel), { recursive: true, force: true });
  }
  await mkdir(inRoot('usr/local/bin'), { recursive: true });
  await writeFile(inRoot('etc/hostname'), `${hostname}\n`);
}

async function runFirstBoot(env: Record<string, string> = {}) {
  return execa('chroot', [root, '/bin/bash', '/combustion/script'], {
    env: { OUTPOST_CONSOLE: 'none', PATH: '/usr/sbin:/usr/bin:/sbin:/bin', ...env },
    extendEnv: false,
    reject: false,
    all: true,
    timeout: 120_000,
  });
}

beforeAll(async () => {
  const tar = await ensureDebianRootfsTar();
  root = await mkdtemp('/var/tmp/outpost-k8s-chroot-');
  await execa('tar', ['-C', root, '--zstd', '-xf', tar]);
  await execa('mount', ['-t', 'proc', 'proc', inRoot('proc')]);
  procMounted = true;
}, 600_000);

afterAll(async () => {
  if (procMounted) execFileSync('umount', ['-l', inRoot('proc')]);
  if (root) await rm(root, { recursive: true, force: true });
});

const SINGLE = {
  version: 'v1.32.4+rke2r1',
  network: { apiHost: 'api.edge.example' },
  helm: {
    charts: [
      {
        name: 'hello',
        repositoryName: 'local',
        version: '0.1.0',
        targetNamespace: 'apps',
        createNamespace: true,
        valuesFile: 'hello.yaml',
      },
    ],
    repositories: [{ name: 'local', url: 'https://charts.example' }],
  },
};
const SINGLE_FILES = {
  'kubernetes/config/server.yaml':
    // biome-ignore lint/suspicious/noTemplateCurlyInString: an environment reference, as a user writes it
    'write-kubeconfig-mode: "0644"\ntoken: ${RKE2_TOKEN}\nnode-label:\n  - site=edge "one"\n',
  'kubernetes/manifests/app.yaml':
    'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: site-info\n  namespace: default\ndata:\n  site: edge1\n',
  'kubernetes/helm/values/hello.yaml': 'replicas: 2\n',
};

describe('Kubernetes first boot in a chroot of the Debian fixture', () => {
  it(
    'single node: installs the release, writes config.yaml, images, manifests and charts, enables rke2-server',
    { timeout: 180_000 },
    async () => {
      const bundle = await bundleFor(SINGLE, SINGLE_FILES, [['hello', '0.1.0']]);
      const run = await runFirstBoot();
      expect(run.exitCode, run.all).toBe(0);
      expect(run.all).toContain(
        "[20-kubernetes.sh] kubernetes: role: initializer (from single-node), host 'edge1', unit rke2-server",
      );

      expect(await read('etc/rancher/rke2/config.yaml')).toBe(
        [
          'write-kubeconfig-mode: "0644"',
          `token: ${TOKEN}`,
          'cni: cilium',
          'embedded-registry: true',
          'tls-san:',
          '  - api.edge.example',
          'node-name: "edge1"',
          'node-label:',
          '  - "site=edge \\"one\\""',
          '  - "outpost.io/host=edge1"',
          '',
        ].join('\n'),
      );
      expect((await lstat(inRoot('etc/rancher/rke2/config.yaml'))).mode & 0o777).toBe(0o600);
      // outpost's own install, with RKE2's layout and unit files as shipped.
      expect(await read('usr/local/lib/systemd/system/rke2-server.service')).toContain(
        'ExecStart=/usr/local/bin/rke2 server',
      );
      expect((await lstat(inRoot('usr/local/bin/rke2'))).mode & 0o111).not.toBe(0);
      expect(
        await readlink(inRoot('etc/systemd/system/multi-user.target.wants/rke2-server.service')),
      ).toMatch(/rke2-server\.service$/);
      await expect(
        lstat(inRoot('etc/systemd/system/multi-user.target.wants/rke2-agent.service')),
      ).rejects.toThrow();
      expect((await readdir(inRoot('var/lib/rancher/rke2/agent/images'))).sort()).toEqual([
        'rke2-images-cilium.linux-amd64.tar.zst',
        'rke2-images-core.linux-amd64.tar.zst',
        'web.tar',
      ]);
      expect(await read('etc/rancher/rke2/registries.yaml')).toBe('mirrors:\n  registry.example.com: {}\n');
      expect((await readdir(inRoot('var/lib/rancher/rke2/server/manifests'))).sort()).toEqual([
        'app.yaml',
        'outpost-helmchart-hello.yaml',
      ]);
      const helmChart = await read('var/lib/rancher/rke2/server/manifests/outpost-helmchart-hello.yaml');
      expect(helmChart).toContain('chart: https://%{KUBERNETES_API}%/static/charts/hello-0.1.0.tgz');
      expect(helmChart).toContain('valuesContent: |\n    replicas: 2\n');
      const chartDigest = (
        await execa('sha256sum', [inRoot('var/lib/rancher/rke2/server/static/charts/hello-0.1.0.tgz')])
      ).stdout.split(' ')[0];
      expect(helmChart).toContain(`outpost.io/chart-sha256: ${chartDigest}`);
      expect(await read('var/lib/outpost/kubernetes.status')).toBe(
        'role=initializer\nrole_source=single-node\nunit=rke2-server\nnode_name=edge1\nprefix=/usr/local\nstate=installed\n',
      );
      expect(
        await exists('etc/systemd/system/multi-user.target.wants/outpost-kubernetes-report.service'),
      ).toBe(true);
      // The token is in the image's config files only, flagged secret for every copy the build keeps.
      for (const f of bundle.files) {
        const text = typeof f.content === 'string' ? f.content : Buffer.from(f.content).toString();
        if (text.includes(TOKEN)) expect(f.secret, f.path).toBe(true);
      }
    },
  );

  it(
    'cluster: the host name picks a joining server; /usr/local read-only puts RKE2 under /opt/rke2',
    { timeout: 180_000 },
    async () => {
      await bundleFor(
        {
          version: 'v1.32.4+rke2r1',
          network: { apiVIP: '192.168.122.100', apiHost: 'api.edge.example' },
          nodes: [
            { hostname: 'node1', type: 'server', initializer: true },
            { hostname: 'node2', type: 'server' },
            { hostname: 'worker1', type: 'agent' },
          ],
        },
        {},
        [
          ['metallb', '0.1.0+up0.14.9'],
          ['endpoint-copier-operator', '0.2.1'],
        ],
      );
      await writeFile(inRoot('etc/hostname'), 'node2\n');
      await execa('mount', ['--bind', '-o', 'ro', inRoot('usr/local'), inRoot('usr/local')]);
      let run: Awaited<ReturnType<typeof runFirstBoot>>;
      try {
        run = await runFirstBoot();
      } finally {
        await execa('umount', [inRoot('usr/local')]);
      }
      expect(run.exitCode, run.all).toBe(0);
      const config = await read('etc/rancher/rke2/config.yaml');
      expect(config).toContain('server: https://192.168.122.100:9345\n');
      expect(config).toContain('selinux: false\n');
      expect(config).toContain('  - 192.168.122.100\n  - api.edge.example\n');
      expect(await read('etc/hosts')).toContain('192.168.122.100 api.edge.example\n');
      // As install.sh does for another prefix: units point at it and move to /etc/systemd/system.
      expect(await read('etc/systemd/system/rke2-server.service')).toContain(
        'ExecStart=/opt/rke2/bin/rke2 server',
      );
      expect(await exists('opt/rke2/bin/rke2')).toBe(true);
      expect(await read('var/lib/outpost/kubernetes.status')).toContain('prefix=/opt/rke2\n');
      const manifests = await readdir(inRoot('var/lib/rancher/rke2/server/manifests'));
      expect(manifests.sort()).toEqual([
        'outpost-helmchart-endpoint-copier-operator.yaml',
        'outpost-helmchart-metallb.yaml',
        'outpost-kubernetes-vip.yaml',
      ]);
    },
  );

  it(
    "with the release's install.sh (the lab stand-in's): installed through it, every image archive placed",
    { timeout: 180_000 },
    async () => {
      await bundleFor(SINGLE, SINGLE_FILES, [['hello', '0.1.0']], 'stand-in');
      const run = await runFirstBoot();
      expect(run.exitCode, run.all).toBe(0);
      expect(run.all).toContain("kubernetes: installing with RKE2's install.sh into /usr/local");
      expect(run.all).toContain('install complete');
      expect(await read('usr/local/lib/systemd/system/rke2-server.service')).toContain(
        'ExecStart=/usr/local/bin/rke2 server',
      );
      const images = (await readdir(inRoot('var/lib/rancher/rke2/agent/images'))).sort();
      expect(images).toContain('rke2-images.linux-amd64.tar.zst');
      expect(images).toContain('rke2-images-core.linux-amd64.tar.zst');
      expect(images).toContain('rke2-images-cilium.linux-amd64.tar.zst');
      expect(images.filter((n) => !n.endsWith('.tar.zst'))).toEqual(['web.tar']); // the workload image
      expect(await exists('etc/systemd/system/multi-user.target.wants/rke2-server.service')).toBe(true);
    },
  );

  it(
    'combustion engine: the same install, units enabled to start with the system',
    { timeout: 180_000 },
    async () => {
      await bundleFor(SINGLE, SINGLE_FILES, [['hello', '0.1.0']], 'fixture', 'combustion');
      const run = await runFirstBoot();
      expect(run.exitCode, run.all).toBe(0);
      expect(run.all).toContain('kubernetes: rke2-server enabled; it starts with the system');
      expect(await exists('etc/systemd/system/multi-user.target.wants/rke2-server.service')).toBe(true);
      expect(await exists('etc/rancher/rke2/config.yaml')).toBe(true);
      expect(await read('var/lib/outpost/firstboot.done')).toMatch(/^[0-9a-f]{64}\n$/);
    },
  );

  it(
    'config drive: role agent with the server URL, token and node name given per host',
    { timeout: 180_000 },
    async () => {
      await bundleFor(SINGLE, SINGLE_FILES, [['hello', '0.1.0']]);
      await mkdir(inRoot('tmp/drive/openstack/latest'), { recursive: true });
      await writeFile(
        inRoot('tmp/drive/openstack/latest/meta_data.json'),
        JSON.stringify({
          uuid: 'x',
          name: 'edge7',
          outpost_kubernetes_role: 'agent',
          outpost_kubernetes_server: 'https://10.0.0.10:9345',
          outpost_kubernetes_token: 'K10abc::server:def',
          outpost_kubernetes_node_name: 'edge7',
          outpost_kubernetes_node_ip: '10.0.0.17',
        }),
      );
      const run = await runFirstBoot({ OUTPOST_CONFIG_DRIVE_DIR: '/tmp/drive' });
      expect(run.exitCode, run.all).toBe(0);
      expect(await read('etc/rancher/rke2/config.yaml')).toBe(
        [
          'cni: cilium',
          'server: "https://10.0.0.10:9345"',
          'token: "K10abc::server:def"',
          'node-name: "edge7"',
          'node-ip: "10.0.0.17"',
          'node-label:',
          '  - "outpost.io/host=edge1"',
          '',
        ].join('\n'),
      );
      expect(await exists('etc/systemd/system/multi-user.target.wants/rke2-agent.service')).toBe(true);
      expect(await exists('etc/systemd/system/multi-user.target.wants/rke2-server.service')).toBe(false);
      expect(await exists('var/lib/rancher/rke2/server/manifests')).toBe(false); // agents deploy nothing
    },
  );

  it(
    'refuses a hostile config drive value and records why; the runner records the failed step',
    { timeout: 180_000 },
    async () => {
      await bundleFor(SINGLE, SINGLE_FILES, [['hello', '0.1.0']]);
      await mkdir(inRoot('tmp/drive/openstack/latest'), { recursive: true });
      await writeFile(
        inRoot('tmp/drive/openstack/latest/meta_data.json'),
        JSON.stringify({ outpost_kubernetes_role: 'server', outpost_kubernetes_token: "x'$(touch /pwned)" }),
      );
      const run = await runFirstBoot({ OUTPOST_CONFIG_DRIVE_DIR: '/tmp/drive' });
      expect(run.exitCode).not.toBe(0);
      expect(await read('var/lib/outpost/firstboot.failed')).toMatch(/^step=20-kubernetes\.sh\n/);
      expect(await read('var/lib/outpost/kubernetes.status')).toContain(
        'reason=config drive: outpost_kubernetes_token has characters a token cannot have',
      );
      expect(await exists('pwned')).toBe(false);
      expect(await exists('etc/rancher/rke2/config.yaml')).toBe(false);
    },
  );

  it('a host not in kubernetes.nodes fails the step with a reason', { timeout: 180_000 }, async () => {
    await bundleFor(
      {
        version: 'v1.32.4+rke2r1',
        network: { apiVIP: '192.168.122.100' },
        nodes: [
          { hostname: 'node1', type: 'server' },
          { hostname: 'node2', type: 'agent' },
        ],
      },
      {},
      [
        ['metallb', '0.1.0+up0.14.9'],
        ['endpoint-copier-operator', '0.2.1'],
      ],
    );
    await writeFile(inRoot('etc/hostname'), 'stranger\n');
    const run = await runFirstBoot();
    expect(run.exitCode).not.toBe(0);
    expect(await read('var/lib/outpost/kubernetes.status')).toContain(
      "reason=host 'stranger' is not in kubernetes.nodes, so it is neither an RKE2 server nor an agent",
    );
  });
});
