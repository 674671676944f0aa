import { createHash } from 'node:crypto';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { type AddressInfo, createServer } from 'node:net';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { writeFixtureChart } from '../fixtures/rke2-release.ts';
import { SerialVm } from '../support/serial-vm.ts';
import { buildExampleImage, copyExampleConfigDir, parseChecks } from './support/example-image.ts';

/*
 * Kubernetes in the image, proven by booting: the example definition plus a single-node RKE2 section with
 * one manifest and one local Helm chart, the release being the lab's RKE2 stand-in (`outpost lab
 * rke2-release`). First boot installs it through RKE2's own install.sh and unit files; the power is cut the
 * moment first boot completes; on the next boot the node turns Ready with everything first boot wrote, and
 * from the host, real kubectl reaches the API through a QEMU port forward.
 */

const repoRoot = path.resolve(import.meta.dirname, '../..');
const checkDir = path.join(import.meta.dirname, 'kubernetes-check');
const VERSION = 'v1.32.4+rke2r1';
/** edge-node-1's first MAC in network/edge-node-1.yaml: first boot names the host after it. */
const EDGE_NODE_1_MAC = '52:54:00:0e:d9:01';
const NODE = 'edge-node-1';
const BOOT_TIMEOUT_MS = 1_500_000;
/** A real kubectl binary for the guest, the version of the stand-in's Kubernetes. */
const GUEST_KUBECTL = process.env.OUTPOST_GUEST_KUBECTL ?? '/usr/lib/google-cloud-sdk/bin/kubectl.1.32';

let work = '';
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function writeConfigDir(dir: string, callbackUrl: string): Promise<string> {
  await copyExampleConfigDir(dir, (def) => {
    def.operatingSystem.kernelArgs.push(`outpost.callback=${callbackUrl}`);
    def.kubernetes = {
      version: VERSION,
      helm: {
        charts: [
          {
            name: 'hello',
            repositoryName: 'site',
            version: '0.1.0',
            targetNamespace: 'apps',
            createNamespace: true,
            valuesFile: 'hello.yaml',
          },
        ],
        repositories: [{ name: 'site', url: 'https://charts.site.example' }],
      },
    };
    def.operatingSystem.systemd.enable.push('outpost-k8s-check.service');
  });
  // DHCP from QEMU's user network (10.0.2.15), where the host's port forward lands; the host file still
  // names the host (by its MAC) at first boot.
  await writeFile(
    path.join(dir, `network/${NODE}.yaml`),
    `interfaces:\n  - name: eth0\n    type: ethernet\n    state: up\n    mac-address: "${EDGE_NODE_1_MAC}"\n    ipv4:\n      enabled: true\n      dhcp: true\n    ipv6:\n      enabled: false\n`,
  );
  await execa(process.execPath, [
    path.join(repoRoot, 'bin/outpost.js'),
    'lab',
    'rke2-release',
    '--version',
    VERSION,
    '--arch',
    'x86_64',
    '--out',
    path.join(dir, 'kubernetes/install'),
  ]);
  const chart = path.join(dir, 'kubernetes/helm/charts/hello-0.1.0.tgz');
  await writeFixtureChart(chart, 'hello', '0.1.0');
  await mkdir(path.join(dir, 'kubernetes/helm/values'), { recursive: true });
  await writeFile(path.join(dir, 'kubernetes/helm/values/hello.yaml'), 'greeting: hello from the edge\n');
  await mkdir(path.join(dir, 'kubernetes/manifests'), { recursive: true });
  await writeFile(
    path.join(dir, 'kubernetes/manifests/site-info.yaml'),
    'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: site-info\n  namespace: default\ndata:\n  site: example-site\n',
  );
  await mkdir(path.join(dir, 'kubernetes/config'), { recursive: true });
  await writeFile(path.join(dir, 'kubernetes/config/server.yaml'), 'write-kubeconfig-mode: "0600"\n');
  await mkdir(path.join(dir, 'os-files/usr/local/sbin'), { recursive: true });
  // The stand-in has no /var/lib/rancher/rke2/bin/kubectl (real RKE2 unpacks one from its runtime image):
  // the guest gets the host's real kubectl on its PATH, where outpost's RKE2 reporter also looks.
  await mkdir(path.join(dir, 'os-files/usr/local/bin'), { recursive: true });
  await copyFile(GUEST_KUBECTL, path.join(dir, 'os-files/usr/local/bin/kubectl'));
  await chmod(path.join(dir, 'os-files/usr/local/bin/kubectl'), 0o755);
  await mkdir(path.join(dir, 'os-files/etc/systemd/system'), { recursive: true });
  await copyFile(
    path.join(checkDir, 'outpost-k8s-check'),
    path.join(dir, 'os-files/usr/local/sbin/outpost-k8s-check'),
  );
  await chmod(path.join(dir, 'os-files/usr/local/sbin/outpost-k8s-check'), 0o755);
  await copyFile(
    path.join(checkDir, 'outpost-k8s-check.service'),
    path.join(dir, 'os-files/etc/systemd/system/outpost-k8s-check.service'),
  );
  await writeFile(
    path.join(dir, 'custom/scripts/95-start-k8s-check.sh'),
    '#!/bin/bash\n# Test-only: this boot was planned before the unit existed; queue it.\nsystemctl start --no-block outpost-k8s-check.service\n',
    { mode: 0o755 },
  );
  return chart;
}

describe('a single-node RKE2 image boots in QEMU', () => {
  it(
    'installs the release; power lost as first boot completes loses nothing; the node turns Ready, kubectl sees node, manifest and chart',
    { timeout: 2_400_000 },
    async () => {
      work = await mkdtemp('/var/tmp/outpost-e2e-k8s-');
      const configDir = path.join(work, 'config');
      await mkdir(configDir);
      // The progress reports, as the management service would receive them (the guest reaches the host as 10.0.2.2).
      const reports: string[] = [];
      const callbacks = createHttpServer((req, res) => {
        let body = '';
        req.on('data', (c) => {
          body += c;
        });
        req.on('end', () => {
          reports.push(body);
          res.end('{}');
        });
      });
      await new Promise<void>((resolve) => callbacks.listen(0, '127.0.0.1', resolve));
      const callbackPort = (callbacks.address() as AddressInfo).port;
      const chart = await writeConfigDir(configDir, `http://10.0.2.2:${callbackPort}/callback`);
      const { report, image } = await buildExampleImage(configDir, 'kubernetes');
      expect(report.image.engine).toBe('systemd');

      const apiPort = await freePort();
      const boot = (name: string) =>
        new SerialVm({
          name,
          workDir: work,
          firmware: 'uefi',
          disks: [image],
          memoryMiB: 1536,
          nics: [{ mac: EDGE_NODE_1_MAC, forwards: [{ hostPort: apiPort, guestPort: 6443 }] }],
        });
      let vm = boot('k8s');
      try {
        const started = performance.now();
        // Power is lost the moment first boot says it is complete, while RKE2 is still starting: what first
        // boot wrote must be on disk (ext4 writes file data back up to 30 s later, and a config.yaml lost
        // that way leaves a node that never joins), and first boot must not run again.
        const first = (
          await vm.waitFor(
            /outpost-firstboot: first boot complete|outpost-firstboot: FAILED/,
            BOOT_TIMEOUT_MS,
          )
        ).replaceAll('\r', '');
        vm.kill();
        await vm.waitForExit(10_000);
        expect(first).not.toContain('outpost-firstboot: FAILED');
        console.log(
          `kubernetes boot: first boot complete after ${((performance.now() - started) / 1000).toFixed(1)} s; power cut`,
        );
        vm = boot('k8s-after-power-loss');
        const serial = (
          await vm.waitFor(/OUTPOST-CHECK k8s\.done=1|outpost-firstboot: FAILED/, BOOT_TIMEOUT_MS)
        ).replaceAll('\r', '');
        console.log(`kubernetes boot: checks after ${((performance.now() - started) / 1000).toFixed(1)} s`);
        expect(serial).not.toContain('outpost-firstboot: FAILED');
        expect(serial, 'first boot ran again after the power loss').not.toMatch(
          /outpost-firstboot: first boot: bundle/,
        );
        const c = parseChecks(serial);
        expect(c.get('firstboot.done')).toBe('yes');
        expect(c.get('k8s.status')).toContain('role=initializer');
        expect(c.get('k8s.status')).toContain('kubernetes-started=ok');
        expect(c.get('k8s.status'), serial.split('\n').slice(-80).join('\n')).toContain(
          'kubernetes-registered=ok',
        );
        expect(c.get('rke2.active')).toBe('active');
        expect(c.get('rke2.fragment')).toBe('/usr/local/lib/systemd/system/rke2-server.service');
        expect(c.get('rke2.type')).toBe('notify');
        expect(c.get('manifests')).toContain('site-info.yaml');
        const config = Buffer.from(c.get('config')!, 'base64').toString();
        expect(config).toContain(`node-label:\n  - "outpost.io/host=${NODE}"\n`);

        // --- from the host: real kubectl through the port forward ---
        const kubeconfig = path.join(work, 'kubeconfig');
        const remote = Buffer.from(c.get('kubeconfig')!, 'base64').toString();
        expect(remote).toContain('server: https://127.0.0.1:6443');
        await writeFile(
          kubeconfig,
          remote.replace('https://127.0.0.1:6443', `https://127.0.0.1:${apiPort}`),
          { mode: 0o600 },
        );
        const kubectl = (...args: string[]) =>
          execa('kubectl', ['--kubeconfig', kubeconfig, '--request-timeout=30s', ...args], {
            timeout: 120_000,
          });
        await kubectl('wait', '--for=condition=Ready', `node/${NODE}`, '--timeout=60s');
        const nodes = (await kubectl('get', 'nodes', '-o', 'wide')).stdout;
        console.log(nodes);
        expect(nodes).toMatch(new RegExp(`^${NODE}\\s+Ready\\s`, 'm'));
        const labels = JSON.parse((await kubectl('get', 'node', NODE, '-o', 'json')).stdout).metadata.labels;
        expect(labels['outpost.io/host']).toBe(NODE);
        expect(
          (await kubectl('get', 'configmap', 'site-info', '-n', 'default', '-o', 'jsonpath={.data.site}'))
            .stdout,
        ).toBe('example-site');
        const helmCharts = (await kubectl('get', 'helmcharts', '-A')).stdout;
        console.log(helmCharts);
        expect(helmCharts).toMatch(/kube-system\s+hello\b/);
        const spec = JSON.parse(
          (await kubectl('get', 'helmchart', 'hello', '-n', 'kube-system', '-o', 'json')).stdout,
        ).spec;
        expect(spec.chart).toBe('https://%{KUBERNETES_API}%/static/charts/hello-0.1.0.tgz');
        expect(spec.valuesContent).toBe('greeting: hello from the edge\n');
        const served = await execa(
          'kubectl',
          [
            '--kubeconfig',
            kubeconfig,
            'get',
            '--raw',
            new URL(spec.chart.replace('%{KUBERNETES_API}%', 'api')).pathname,
          ],
          { encoding: 'buffer', timeout: 120_000 },
        );
        const digest = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');
        expect(digest(served.stdout)).toBe(digest(await readFile(chart)));

        const steps = reports.map((r) => JSON.parse(r) as { step?: string; status?: string; phase?: string });
        // The kubeconfig report carries the cluster's admin credentials: print which reports came, not it.
        console.log(`callback reports: ${steps.map((s) => s.phase ?? `${s.step}=${s.status}`).join(' ')}`);
        for (const step of ['kubernetes-installed', 'kubernetes-started', 'kubernetes-registered']) {
          expect(steps).toContainEqual(expect.objectContaining({ step, status: 'ok' }));
        }
      } finally {
        vm.kill();
        callbacks.close();
      }
    },
  );
});
