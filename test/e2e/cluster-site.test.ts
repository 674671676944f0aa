import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { FLOWS } from '../../src/service/lifecycle.ts';
import {
  allReady,
  type ClusterSite,
  type ClusterView,
  formatClusterTrial,
  provisionFigures,
  runClusterTrial,
} from '../../src/trial/index.ts';
import { tail } from '../support/serial-vm.ts';
import { copyExampleConfigDir } from './support/example-image.ts';

/*
 * Covers README.md's quick start `bash scripts/install-deps.sh && npm install && npm run example`: CI runs
 * the first two (.ci/run); `npm run example` (scripts/example.js) runs `outpost trial` on example.yaml,
 * which is this same trial. And the cluster end to end:
 *
 * The example built once (plus the site's kubernetes section and the lab's RKE2 stand-in) into one golden
 * image; a lab of three QEMU servers behind emulated Redfish BMCs, each with a second NIC on the lab's site
 * network (a bridge in a network namespace); the management service importing them with roles and
 * static site addresses, and bringing the cluster up as `outpost cluster up` does: the initializer first,
 * then the second server and the agent. Tracked until `cluster describe` shows every node Ready; then real
 * kubectl with the kubeconfig the service hands out (`outpost cluster kubeconfig`) lists the nodes through
 * the API VIP. Then the agent's QEMU is killed without telling the service: its node goes NotReady,
 * remediation power-cycles it through the emulated BMC, and it comes back Ready.
 */
let work = '';
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

const PROVISIONING_STEPS: readonly string[] = FLOWS.provisioning;
const AGENT = 'host-3';
/** The remediation threshold for the test: the default (5 minutes) shortened through the service's option. */
const NOT_READY_TIMEOUT_MS = 20_000;
/** The end of each guest's console (appended across power cycles), so a failure shows what the guests did. */
function serialTails(hosts: readonly { name: string; serialLog?: string }[], lines = 60): string {
  return hosts
    .map((h) => {
      let text = '(no serial log)';
      try {
        if (h.serialLog) text = tail(readFileSync(h.serialLog, 'utf8').replaceAll('\r', ''), lines);
      } catch (e) {
        text = `(serial log unreadable: ${(e as Error).message})`;
      }
      return `--- ${h.name} serial console, last ${lines} lines ---\n${text}`;
    })
    .join('\n');
}
const machine = (view: ClusterView, host: string) => view.machines.find((m) => m.host === host);

async function remediationScenario(site: ClusterSite): Promise<void> {
  // kubectl through the VIP, with the kubeconfig the service hands out.
  const kubeconfig = parse(readFileSync(site.kubeconfig, 'utf8'));
  expect(kubeconfig.clusters[0].cluster.server).toBe(`https://${site.network.vip}:6443`);
  const listed = JSON.parse(await site.kubectl(['get', 'nodes', '-o', 'json'])) as {
    items: {
      metadata: { name: string; labels: Record<string, string> };
      status: {
        conditions: { type: string; status: string }[];
        addresses: { type: string; address: string }[];
      };
    }[];
  };
  expect(
    listed.items
      .map((n) => [
        n.metadata.name,
        n.metadata.labels['outpost.io/host'],
        n.status.conditions.find((c) => c.type === 'Ready')?.status,
        n.status.addresses.find((a) => a.type === 'InternalIP')?.address,
      ])
      .sort(),
  ).toEqual([0, 1, 2].map((i) => [`host-${i + 1}`, `host-${i + 1}`, 'True', site.network.serverAddress(i)]));

  // The agent loses power behind the service's back, once it has been Ready for a while. (A power loss
  // in the first seconds used to lose first boot's completion marker, so first boot ran again: first boot
  // now syncs before it reports, and kubernetes-boot.test.ts cuts the power right then.)
  await new Promise((r) => setTimeout(r, 15_000));
  await site.killMachine(AGENT);
  await site.waitForCluster(
    `${AGENT}'s node to stop being Ready after its QEMU was killed`,
    (v) => machine(v, AGENT)?.node?.ready !== 'True',
    240_000,
  );
  site.mark(AGENT, 'node seen not Ready by the service');
  await site.waitForCluster(
    `${AGENT}'s node Ready again after remediation power-cycled it`,
    (v) => allReady(v),
    600_000,
  );
  site.mark(AGENT, 'node Ready again');
  const { events } = await site.api.request<{ events: { reason: string; message: string }[] }>(
    'GET',
    `/hosts/${AGENT}/events`,
  );
  const reasons = events.map((e) => e.reason);
  expect(reasons).toContain('RemediationReboot');
  expect(reasons.indexOf('NodeNotReady')).toBeLessThan(reasons.indexOf('RemediationReboot'));
  expect(reasons.lastIndexOf('NodeReady')).toBeGreaterThan(reasons.indexOf('RemediationReboot'));
  expect(events.find((e) => e.reason === 'RemediationReboot')?.message).toMatch(/power cycle 1 of 3/);
  // The power cycle is an operation like a user's `hosts power --reboot`: the BMC found the machine off.
  const { timeline } = await site.api.request<{
    timeline: { state: string; step?: string; result: string; message?: string }[];
  }>('GET', `/hosts/${AGENT}/timeline`);
  expect(timeline).toContainEqual(
    expect.objectContaining({
      state: 'power',
      step: 'reboot',
      result: 'succeeded',
      message: 'was off: powered on',
    }),
  );
  const nodes = await site.kubectl(['get', 'nodes']);
  expect(nodes).toMatch(new RegExp(`^${AGENT}\\s+Ready\\s`, 'm'));
  site.log(nodes);
}

describe('the virtual site with Kubernetes (npm run example)', () => {
  it(
    'three QEMU servers become one RKE2 cluster, Ready through the VIP; a killed agent is power-cycled back to Ready',
    async () => {
      work = await mkdtemp('/var/tmp/outpost-e2e-cluster-');
      const configDir = path.join(work, 'config');
      await mkdir(configDir);
      await copyExampleConfigDir(configDir);
      const log: string[] = [];
      const started = performance.now();
      const result = await runClusterTrial({
        configDir,
        definitionFile: 'example.yaml',
        workDir: path.join(work, 'site'),
        // About 8 minutes on an idle machine; the bound leaves room for a shared, loaded one.
        timeoutMs: 25 * 60_000,
        remediation: { notReadyTimeoutMs: NOT_READY_TIMEOUT_MS, settleMs: 8 * 60_000 },
        log: (line) => {
          log.push(line);
          if (!line.startsWith('  service:')) console.log(line);
        },
        whileReady: remediationScenario,
      });
      console.log(formatClusterTrial(result));
      // The figures `npm run bench:provision` prints, from this run.
      console.log(provisionFigures(result));
      console.log(`cluster site: ${((performance.now() - started) / 1000).toFixed(0)} s in all`);
      expect(result.ok, `${result.error}\n${log.slice(-40).join('\n')}\n${serialTails(result.hosts)}`).toBe(
        true,
      );

      // `outpost cluster describe` once every node was Ready.
      const rows = result.describe.split('\n');
      expect(rows[0]).toMatch(/^NAME\s+READY\s+SEVERITY\s+REASON\s+SINCE\s+MESSAGE$/);
      for (const row of [
        /^Cluster\/site\s+True\b/,
        /^├─ControlPlane - RKE2 servers\s+True\b/,
        /^│ ├─Machine\/host-1 \(initializer\)\s+True\b/,
        /^│ │ └─Node\/host-1\s+True\s.*\b10\.231\.\d+\.10 v1\.32\.4\+rke2r1$/,
        /^│ └─Machine\/host-2\s+True\b/,
        /^└─Workers - RKE2 agents\s+True\b/,
        /^ {2}└─Machine\/host-3\s+True\b/,
        /^ {4}└─Node\/host-3\s+True\s.*\b10\.231\.\d+\.12 v1\.32\.4\+rke2r1$/,
      ]) {
        expect(
          rows.some((r) => row.test(r)),
          `${row} in\n${result.describe}`,
        ).toBe(true);
      }
      // kubectl's wide table, printed by the trial.
      expect(result.nodes).toMatch(/^NAME\s+STATUS\s+ROLES\s+AGE\s+VERSION\s+INTERNAL-IP/);
      for (const [i, host] of ['host-1', 'host-2', 'host-3'].entries()) {
        expect(result.nodes).toMatch(
          new RegExp(`^${host}\\s+Ready\\s.*\\b10\\.231\\.\\d+\\.${10 + i}\\b`, 'm'),
        );
      }

      for (const host of result.hosts) {
        expect(host.state).toBe('provisioned');
        expect(host.readyMs).toBeGreaterThan(0);
        const provisioning = host.timeline.find((p) => p.state === 'provisioning')!;
        expect(provisioning.steps.map((s) => `${s.step}:${s.result}`)).toEqual(
          PROVISIONING_STEPS.map((s) => `${s}:succeeded`),
        );
        const serial = readFileSync(host.serialLog!, 'utf8').replaceAll('\r', '');
        // The installer wrote and verified the image, then the server booted from its disk and ran first boot.
        expect(serial).toMatch(
          /outpost-installer: \[write\] done 100% \d+ MiB of data verified range by range/,
        );
        expect(serial).toMatch(/outpost-installer: \[config-drive\] done/);
        for (const step of [
          '05-configure-network.sh',
          '10-growfs.sh',
          '17-users.sh',
          '18-systemd.sh',
          '20-kubernetes.sh',
          '50-site-motd.sh',
        ]) {
          expect(serial).toContain(`outpost-firstboot: step ${step}: done`);
        }
        expect(serial).toMatch(/outpost-firstboot: first boot complete/);
        expect(serial).toMatch(/outpost-firstboot-report: reported first boot ok/);
        expect(serial).toContain(`network: hostname set to ${host.name}`);
        expect(serial).toContain(`network: config drive: rendered nmstate network data for ${host.name}`);
        // The installer reached the service through the first NIC's static address from the config drive.
        expect(serial).toMatch(/outpost-installer: network: \S+ 10\.0\.2\.5\d\/24/);
        // growfs took the disk up to the config drive partition the installer put at its end.
        const grown = /growfs: after: partition (\d+) bytes/.exec(serial);
        expect(Number(grown?.[1])).toBeGreaterThan(7 * 2 ** 30);
      }
    },
    50 * 60_000,
  );
});
