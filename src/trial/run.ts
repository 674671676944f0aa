import { link, mkdir, rm } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { stringify } from 'yaml';
import { buildImage } from '../build/build-image.ts';
import { OperationError } from '../common/diagnostics.ts';
import { formatBytes } from '../common/units.ts';
import { GUEST_DNS, GUEST_GATEWAY, startLab } from '../lab/index.ts';
import { ServiceClient } from '../service/client.ts';
import { startService } from '../service/service.ts';

/**
 * A whole virtual site on one machine: build the image, start a lab of QEMU servers behind emulated
 * BMCs and the management service, provision every server over Redfish virtual media, and follow each
 * one through installer and first boot to `provisioned`.
 */
export interface TrialOptions {
  configDir: string;
  definitionFile: string;
  hosts: number;
  workDir: string;
  /** Hosts (from the first) that get a static address through their config drive; the rest use DHCP. */
  staticHosts: number;
  /** Bound on the whole provisioning, after the build. */
  timeoutMs: number;
  log: (line: string) => void;
}

export interface TrialHostResult {
  name: string;
  state: string;
  error?: string;
  network: string;
  timeline: TimelinePhase[];
  events: { time: string; reason: string; message: string }[];
  serialLog?: string;
}

export interface TrialResult {
  image: { file: string; bytes: number; buildMs: number };
  hosts: TrialHostResult[];
  provisioningMs: number;
  ok: boolean;
}

export interface TimelinePhase {
  state: string;
  durationMs: number;
  result: string;
  steps: { step: string; durationMs: number; result: string; message?: string }[];
}

export interface HostView {
  name: string;
  state: string;
  step?: string;
  error?: { type: string; message: string; count: number };
  installProgress?: number;
}

export function staticNetworkData(mac: string, address: string): string {
  return stringify({
    interfaces: [
      {
        name: 'eth0',
        type: 'ethernet',
        state: 'up',
        'mac-address': mac,
        ipv4: { enabled: true, dhcp: false, address: [{ ip: address, 'prefix-length': 24 }] },
        ipv6: { enabled: false },
      },
    ],
    routes: {
      config: [{ destination: '0.0.0.0/0', 'next-hop-address': GUEST_GATEWAY, 'next-hop-interface': 'eth0' }],
    },
    'dns-resolver': { config: { server: [GUEST_DNS] } },
  });
}

export async function runTrial(o: TrialOptions): Promise<TrialResult> {
  await rm(o.workDir, { recursive: true, force: true });
  const mediaDir = path.join(o.workDir, 'media');
  await mkdir(mediaDir, { recursive: true });

  const { output, report, imageName } = await buildIntoMedia(
    o.configDir,
    o.definitionFile,
    o.workDir,
    mediaDir,
    o.log,
  );

  const port = await freePort();
  const lab = await startLab({ hosts: o.hosts, backend: 'qemu', stateDir: path.join(o.workDir, 'lab') });
  let service: Awaited<ReturnType<typeof startService>> | undefined;
  try {
    service = await startService({
      stateDir: path.join(o.workDir, 'service'),
      mediaDir,
      host: '127.0.0.1',
      port,
      hostUrl: `http://${GUEST_GATEWAY}:${port}`,
      concurrency: o.hosts,
      timing: { backoffBaseMs: 5_000, callbackTimeoutMs: o.timeoutMs },
      log: (line) => o.log(`  service: ${line}`),
    });
    const api = ServiceClient.fromOptions({ server: service.url, stateDir: path.join(o.workDir, 'service') });
    const networkOf = new Map<string, string>();
    const inventory = {
      hosts: lab.hosts.map((h, i) => {
        const address = `10.0.2.${51 + i}`;
        const isStatic = i < o.staticHosts;
        networkOf.set(h.name, isStatic ? `static ${address}/24 (config drive)` : 'DHCP');
        return {
          name: h.name,
          bmc: { address: h.bmcAddress, username: h.username, password: h.password },
          bootMACAddress: h.bootMac,
          ...(isStatic && { networkData: staticNetworkData(h.bootMac, address) }),
        };
      }),
    };
    await api.request('POST', '/hosts', inventory);
    const started = Date.now();
    const deadline = started + o.timeoutMs;
    await waitForStates(
      api,
      lab.hosts.map((h) => h.name),
      ['available'],
      deadline,
      o.log,
    );
    for (const h of lab.hosts)
      await api.request('POST', `/hosts/${h.name}/provision`, { image: imageName, consumer: 'trial' });
    const final = await waitForStates(
      api,
      lab.hosts.map((h) => h.name),
      ['provisioned'],
      deadline,
      o.log,
    );
    const provisioningMs = Date.now() - started;
    const hosts: TrialHostResult[] = [];
    for (const h of lab.hosts) {
      const view = final.get(h.name)!;
      const { timeline } = await api.request<{ timeline: TimelinePhase[] }>(
        'GET',
        `/hosts/${h.name}/timeline`,
      );
      const { events } = await api.request<{ events: TrialHostResult['events'] }>(
        'GET',
        `/hosts/${h.name}/events`,
      );
      hosts.push({
        name: h.name,
        state: view.state,
        ...(view.error && { error: view.error.message }),
        network: networkOf.get(h.name)!,
        timeline,
        events,
        ...(h.serialLog && { serialLog: h.serialLog }),
      });
    }
    return {
      image: { file: output.path, bytes: output.bytes, buildMs: report.durationMs },
      hosts,
      provisioningMs,
      ok: hosts.every((h) => h.state === 'provisioned'),
    };
  } finally {
    await service?.close();
    await lab.close();
  }
}

/** Builds the definition and links the image and its checksum into the service's media dir. */
export async function buildIntoMedia(
  configDir: string,
  definitionFile: string,
  workDir: string,
  mediaDir: string,
  log: (line: string) => void,
) {
  log(`building ${definitionFile}`);
  const report = await buildImage({
    configDir,
    definitionFile,
    buildRoot: path.join(workDir, '_build'),
    onStep: (step, i, total) => log(`  build ${i + 1}/${total}: ${step.title}`),
  });
  const output = report.outputs.find((f) => f.role === 'image') ?? report.outputs[0];
  if (!output) throw new OperationError('the build produced no image');
  const imageName = path.basename(output.path);
  await link(output.path, path.join(mediaDir, imageName));
  await link(`${output.path}.sha256`, path.join(mediaDir, `${imageName}.sha256`));
  log(`built ${imageName} (${formatBytes(output.bytes)}) in ${(report.durationMs / 1000).toFixed(1)} s`);
  return { report, output, imageName };
}

/**
 * Polls until every host is in one of `states` (returns their views) or the deadline passes (throws with
 * where each host stands). Prints each change of state, step, progress or error once.
 */
export async function waitForStates(
  api: ServiceClient,
  names: string[],
  states: string[],
  deadline: number,
  log: (line: string) => void,
): Promise<Map<string, HostView>> {
  const last = new Map<string, string>();
  for (;;) {
    const { hosts } = await api.request<{ hosts: HostView[] }>('GET', '/hosts');
    const views = new Map(hosts.filter((h) => names.includes(h.name)).map((h) => [h.name, h]));
    for (const [name, h] of views) {
      const line = `${h.state}${h.step ? `/${h.step}` : ''}${h.installProgress !== undefined && h.step === 'installer' ? ` ${h.installProgress}%` : ''}${h.error ? ` (error ${h.error.count}: ${h.error.message})` : ''}`;
      if (last.get(name) !== line) {
        last.set(name, line);
        log(`  ${name}: ${line}`);
      }
    }
    if (names.every((n) => states.includes(views.get(n)?.state ?? ''))) return views;
    if (Date.now() > deadline) {
      const where = names.map((n) => `${n}: ${last.get(n) ?? 'unknown'}`).join('; ');
      throw new OperationError(`timed out waiting for ${states.join('/')}: ${where}`);
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Human-readable timeline: each host's phases and steps with their durations. */
export function formatTrial(result: TrialResult): string {
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const lines = [
    `image ${path.basename(result.image.file)}: ${formatBytes(result.image.bytes)}, built in ${s(result.image.buildMs)}`,
  ];
  for (const h of result.hosts) {
    lines.push('', `${h.name} (${h.network}): ${h.state}${h.error ? ` — ${h.error}` : ''}`);
    for (const phase of h.timeline) {
      lines.push(`  ${phase.state.padEnd(14)} ${s(phase.durationMs).padStart(8)}  ${phase.result}`);
      for (const step of phase.steps) {
        lines.push(
          `    ${step.step.padEnd(14)} ${s(step.durationMs).padStart(8)}  ${step.message ?? step.result}`,
        );
      }
    }
  }
  lines.push('', `all hosts provisioned in ${s(result.provisioningMs)}: ${result.ok ? 'yes' : 'NO'}`);
  return lines.join('\n');
}
