/**
 * The virtual site with Kubernetes: three QEMU servers behind emulated BMCs on a lab site network, one
 * golden image with the lab's RKE2 stand-in, and the management service carrying them to a cluster whose
 * nodes are all Ready — the way `outpost cluster up` does it, through the service's API. Then the site is
 * looked at as a user would (`cluster describe`, kubectl through the VIP) and taken down again.
 */
import { constants } from 'node:fs';
import {
  access,
  chmod,
  copyFile,
  cp,
  lstat,
  mkdir,
  readFile,
  realpath,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { create as createTar } from 'tar';
import { parse, stringify } from 'yaml';
import { loadDefinition } from '../build/load-definition.ts';
import { clusterFromDefinition } from '../cluster/from-definition.ts';
import type { RemediationPolicy } from '../cluster/remediation.ts';
import { isInside } from '../common/contained-fs.ts';
import { formatDiagnosticsGrouped, InputError, OperationError } from '../common/diagnostics.ts';
import { INPUT_FOLDERS } from '../definition/checks/output-image.ts';
import { chartFileName, VIP_CHARTS } from '../kubernetes/manifests.ts';
import { createSiteNetwork, GUEST_GATEWAY, type Lab, type SiteNetwork, startLab } from '../lab/index.ts';
import { writeRke2Release } from '../lab/rke2/index.ts';
import { ServiceClient } from '../service/client.ts';
import { type RunningService, startService } from '../service/service.ts';
import {
  CLUSTER_SITE_NODES,
  type ClusterSiteSettings,
  clusterSiteDefinition,
  clusterSiteInventory,
} from './cluster-site-plan.ts';
import { buildIntoMedia, freePort, type TimelinePhase, waitForStates } from './run.ts';

export const DEFAULT_RKE2_VERSION = 'v1.32.4+rke2r1';
const CLUSTER_NAME = 'site';

export interface ClusterTrialOptions {
  configDir: string;
  definitionFile: string;
  workDir: string;
  /** Bound on provisioning the site until every node is Ready, after the build. */
  timeoutMs: number;
  log: (line: string) => void;
  rke2Version?: string;
  /** Memory of each QEMU server (default 1024 MiB). */
  memoryMiB?: number;
  /** The service's remediation timings (default: Metal3's, 5 minutes NotReady). */
  remediation?: Partial<RemediationPolicy>;
  /**
   * A kubectl binary for the guests, where RKE2's bundled one would be (the stand-in has none): the image's
   * RKE2 reporter reads node readiness with it. Default: OUTPOST_GUEST_KUBECTL, else the kubectl on PATH.
   */
  guestKubectl?: string;
  /** Runs against the site once every node is Ready, before it is taken down (its failure fails the trial). */
  whileReady?: (site: ClusterSite) => Promise<void>;
}

/** One line of the site's timeline: when, which host, what happened (offsets from `cluster up`). */
export interface SiteMoment {
  time: number;
  host: string;
  what: string;
}

export interface ClusterTrialHost {
  name: string;
  role: string;
  initializer: boolean;
  siteAddress: string;
  state: string;
  error?: string;
  /** From `cluster up` to the host's node first Ready. */
  readyMs?: number;
  timeline: TimelinePhase[];
  serialLog?: string;
}

export interface ClusterTrialResult {
  image: { file: string; bytes: number; buildMs: number };
  network: { subnet: string; vip: string; gateway: string };
  hosts: ClusterTrialHost[];
  /** When `cluster up` was asked (epoch ms), and how long until every node was Ready. */
  upAt: number;
  readyMs?: number;
  timeline: SiteMoment[];
  /** `outpost cluster describe` and `kubectl get nodes -o wide` once the cluster was Available. */
  describe: string;
  nodes: string;
  ok: boolean;
  error?: string;
}

/** The cluster as `GET /api/v1/cluster` answers it (the parts the trial reads). */
export interface ClusterView {
  phase: string;
  describe: string;
  machines: {
    host: string;
    role: string;
    phase: string;
    node: { name: string; ready: string; reason: string } | null;
    nodeReady: { status: string; reason: string; message: string };
  }[];
}

/** The running site, for what the caller does while it is up. */
export interface ClusterSite {
  api: ServiceClient;
  lab: Lab;
  network: SiteNetwork;
  /** The admin kubeconfig from `GET /api/v1/cluster/kubeconfig` (= `outpost cluster kubeconfig`), 0600. */
  kubeconfig: string;
  log: (line: string) => void;
  /** Real kubectl with that kubeconfig, bounded. */
  kubectl(args: string[]): Promise<string>;
  cluster(): Promise<ClusterView>;
  /** Polls the cluster until `done` holds (logging each change), or throws after `timeoutMs` naming `what`. */
  waitForCluster(what: string, done: (view: ClusterView) => boolean, timeoutMs: number): Promise<ClusterView>;
  /** Kills a host's QEMU with SIGKILL, as a power loss the service is not told of; returns the pid. */
  killMachine(host: string): Promise<number>;
  /** Adds a line of the caller's own to the site's timeline. */
  mark(host: string, what: string): void;
}

/** Every node of the site present and Ready, and the cluster Available. */
export function allReady(view: ClusterView): boolean {
  return view.phase === 'Available' && view.machines.every((m) => m.node?.ready === 'True');
}

export async function runClusterTrial(o: ClusterTrialOptions): Promise<ClusterTrialResult> {
  await rm(o.workDir, { recursive: true, force: true });
  const mediaDir = path.join(o.workDir, 'media');
  await mkdir(mediaDir, { recursive: true });
  const version = o.rke2Version ?? DEFAULT_RKE2_VERSION;
  const network = await createSiteNetwork();
  o.log(`site network ${network.subnet} in namespace ${network.namespace}; API VIP ${network.vip}`);
  let lab: Lab | undefined;
  let service: RunningService | undefined;
  try {
    const settings: ClusterSiteSettings = { version, apiVIP: network.vip, nodes: CLUSTER_SITE_NODES };
    const configDir = path.join(o.workDir, 'config');
    const definitionFile = await writeSiteConfigDir(o, configDir, settings);
    const { output, report, imageName } = await buildIntoMedia(
      configDir,
      definitionFile,
      o.workDir,
      mediaDir,
      o.log,
    );
    const image = { file: output.path, bytes: output.bytes, buildMs: report.durationMs };

    lab = await startLab({
      hosts: CLUSTER_SITE_NODES.length,
      backend: 'qemu',
      stateDir: path.join(o.workDir, 'lab'),
      qemu: { memoryMiB: o.memoryMiB ?? 1024 },
      siteNetwork: network,
    });
    const port = await freePort();
    const serviceDir = path.join(o.workDir, 'service');
    service = await startService({
      stateDir: serviceDir,
      mediaDir,
      host: '127.0.0.1',
      port,
      hostUrl: `http://${GUEST_GATEWAY}:${port}`,
      concurrency: CLUSTER_SITE_NODES.length,
      timing: { backoffBaseMs: 5_000, callbackTimeoutMs: o.timeoutMs },
      ...(o.remediation && { remediation: o.remediation }),
      log: (line) => o.log(`  service: ${line}`),
    });
    const api = ServiceClient.fromOptions({ server: service.url, stateDir: serviceDir });
    const inventory = clusterSiteInventory(lab.hosts, network);
    await api.request('POST', '/hosts', inventory);
    const names = CLUSTER_SITE_NODES.map((n) => n.host);
    const deadline = Date.now() + o.timeoutMs;
    await waitForStates(api, names, ['available'], deadline, o.log);

    // `outpost cluster up --definition-file`: the cluster as the definition describes it, then the rollout.
    const loaded = await loadDefinition({ configDir, definitionFile, env: process.env });
    if (!loaded.loaded)
      throw new InputError(
        `the site definition has problems:\n${formatDiagnosticsGrouped(loaded.diagnostics)}`,
      );
    const kubernetes = loaded.loaded.definition.kubernetes;
    if (!kubernetes)
      throw new OperationError(`${definitionFile}: the site definition has no kubernetes section`);
    const planned = await api.request<{ plan: string; warnings: string[] }>(
      'PUT',
      '/cluster',
      clusterFromDefinition(kubernetes, CLUSTER_NAME),
    );
    o.log(planned.plan);
    for (const warning of planned.warnings) o.log(`warning: ${warning}`);
    const upAt = Date.now();
    const started = await api.request<{ started: string[]; waiting: string[] }>('POST', '/cluster/up', {
      image: imageName,
    });
    o.log(`cluster up: provisioning ${started.started.join(', ')}; waiting: ${started.waiting.join(', ')}`);

    const marks: SiteMoment[] = [];
    const site = openSite(o, api, lab, network, marks);
    let describe = '';
    let nodes = '';
    let readyMs: number | undefined;
    let error: string | undefined;
    try {
      await site.waitForCluster('every node Ready', allReady, Math.max(deadline - Date.now(), 0));
      readyMs = Date.now() - upAt;
      o.log(`all ${names.length} nodes Ready ${(readyMs / 1000).toFixed(0)} s after cluster up`);
      describe = (await site.cluster()).describe;
      await writeFile(site.kubeconfig, await api.text('GET', '/cluster/kubeconfig'), { mode: 0o600 });
      await chmod(site.kubeconfig, 0o600);
      nodes = await site.kubectl(['get', 'nodes', '-o', 'wide']);
      if (o.whileReady) await o.whileReady(site);
    } catch (e) {
      error = e instanceof Error ? e.message : String(e);
      o.log(`trial failed: ${error}`);
    }
    const hosts = await hostResults(api, lab, network, upAt);
    return {
      image,
      network: { subnet: network.subnet, vip: network.vip, gateway: network.gateway },
      hosts,
      upAt,
      ...(readyMs !== undefined && { readyMs }),
      timeline: await siteTimeline(api, names, marks),
      describe,
      nodes,
      ok: error === undefined && readyMs !== undefined,
      ...(error !== undefined && { error }),
    };
  } finally {
    await service?.close();
    await lab?.close();
    await network.close();
  }
}

/**
 * The config dir the site's image is built from: the user's inputs, the definition with the site's
 * `kubernetes` section, the lab's RKE2 stand-in release, stand-ins for the two VIP charts EIB adds (their
 * HelmCharts are stored by the stand-in, never installed), and a kubectl for the guests. Returns the
 * definition's file name in it.
 */
export async function writeSiteConfigDir(
  o: ClusterTrialOptions,
  dir: string,
  settings: ClusterSiteSettings,
): Promise<string> {
  const source = path.resolve(o.configDir);
  const definitionPath = path.resolve(source, o.definitionFile);
  if (!isInside(source, definitionPath))
    throw new InputError(`--definition-file ${o.definitionFile}: must be inside the config dir ${source}`);
  const text = await readFile(definitionPath, 'utf8').catch((e: NodeJS.ErrnoException) => {
    throw new InputError(`${o.definitionFile}: cannot read it (${e.code ?? e.message})`);
  });
  const definition = parse(text);
  if (typeof definition !== 'object' || definition === null || Array.isArray(definition))
    throw new InputError(`${o.definitionFile}: not an image definition (a YAML mapping)`);
  const definitionFile = path.basename(definitionPath);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, definitionFile), stringify(clusterSiteDefinition(definition, settings)));

  // The user's inputs, copied (links kept as links: the build refuses those that leave the config dir).
  // Not network/: the site's hosts get their network from the inventory, through their config drives,
  // as with Metal3; host files of another site would only name hosts this one does not have.
  for (const folder of INPUT_FOLDERS) {
    if (folder === 'base-images' || folder === '_build' || folder === 'network') continue;
    const from = path.join(source, folder);
    if (!(await lstat(from).catch(() => undefined))?.isDirectory()) continue;
    await cp(from, path.join(dir, folder), { recursive: true, verbatimSymlinks: true });
  }
  // The base image by reference: it is large and only read.
  const baseImage = String(definition.image?.baseImage ?? '');
  if (baseImage) {
    const from = path.join(source, 'base-images', baseImage);
    if (isInside(path.join(source, 'base-images'), from) && (await lstat(from).catch(() => undefined))) {
      await mkdir(path.dirname(path.join(dir, 'base-images', baseImage)), { recursive: true });
      await symlink(await realpath(from), path.join(dir, 'base-images', baseImage));
    }
  }
  const install = path.join(dir, 'kubernetes/install');
  await rm(install, { recursive: true, force: true });
  await writeRke2Release({
    version: settings.version,
    arch: String(definition.image?.arch ?? 'x86_64'),
    outDir: install,
  });
  await writeVipChartStandIns(path.join(dir, 'kubernetes/helm/charts'));
  const kubectl = await guestKubectl(o.guestKubectl, settings.version);
  if (kubectl) {
    await mkdir(path.join(dir, 'os-files/usr/local/bin'), { recursive: true });
    await copyFile(kubectl, path.join(dir, 'os-files/usr/local/bin/kubectl'));
    await chmod(path.join(dir, 'os-files/usr/local/bin/kubectl'), 0o755);
  } else {
    o.log(
      'no kubectl for the guests: their RKE2 reporter cannot confirm node readiness (the service still tracks it)',
    );
  }
  return definitionFile;
}

/** `<name>-<version>.tgz` laid out as `helm package` writes it, for each chart EIB adds with a VIP. */
async function writeVipChartStandIns(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const chart of VIP_CHARTS) {
    const file = path.join(dir, chartFileName(chart));
    if (await lstat(file).catch(() => undefined)) continue;
    const stage = path.join(dir, `.stage-${chart.name}`);
    await mkdir(path.join(stage, chart.name), { recursive: true });
    await writeFile(
      path.join(stage, chart.name, 'Chart.yaml'),
      stringify({
        apiVersion: 'v2',
        name: chart.name,
        version: chart.version,
        description: `outpost lab stand-in for the ${chart.name} chart (stored by the RKE2 stand-in, never installed)`,
      }),
    );
    await createTar({ gzip: true, file, cwd: stage, portable: true }, [chart.name]);
    await rm(stage, { recursive: true, force: true });
  }
}

/** The kubectl for the guests: the given one, OUTPOST_GUEST_KUBECTL, else the one on PATH (see below). */
async function guestKubectl(given: string | undefined, version: string): Promise<string | undefined> {
  const explicit = given ?? process.env.OUTPOST_GUEST_KUBECTL;
  if (explicit) {
    await access(explicit, constants.X_OK).catch(() => {
      throw new InputError(`guest kubectl ${explicit}: not an executable file`);
    });
    return explicit;
  }
  for (const dir of (process.env.PATH ?? '').split(':').filter(Boolean)) {
    const found = await realpath(path.join(dir, 'kubectl')).catch(() => undefined);
    if (!found) continue;
    // Google Cloud SDK's kubectl is a dispatcher that runs the kubectl.1.<minor> beside it: the guest
    // gets the one of the cluster's minor version when it is there.
    const minor = /^v1\.(\d+)\./.exec(version)?.[1];
    const versioned = `${found}.1.${minor}`;
    if (
      minor &&
      (await access(versioned, constants.X_OK).then(
        () => true,
        () => false,
      ))
    )
      return versioned;
    return found;
  }
  return undefined;
}

function openSite(
  o: ClusterTrialOptions,
  api: ServiceClient,
  lab: Lab,
  network: SiteNetwork,
  marks: SiteMoment[],
): ClusterSite {
  const kubeconfig = path.join(o.workDir, 'kubeconfig');
  const cluster = () => api.request<ClusterView>('GET', '/cluster');
  return {
    api,
    lab,
    network,
    kubeconfig,
    log: o.log,
    cluster,
    async kubectl(args) {
      const result = await execa('kubectl', ['--kubeconfig', kubeconfig, '--request-timeout=20s', ...args], {
        timeout: 60_000,
        reject: false,
      });
      if (result.exitCode !== 0)
        throw new OperationError(`kubectl ${args.join(' ')} failed (${result.exitCode}): ${result.stderr}`);
      return result.stdout;
    },
    async waitForCluster(what, done, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      let last = '';
      for (;;) {
        const view = await cluster();
        const hosts = await api.request<{ hosts: { name: string; state: string; step?: string }[] }>(
          'GET',
          '/hosts',
        );
        const line = view.machines
          .map((m) => {
            const h = hosts.hosts.find((x) => x.name === m.host);
            const node = m.node
              ? `node ${m.node.ready === 'True' ? 'Ready' : `${m.node.ready} (${m.node.reason})`}`
              : 'no node';
            return `${m.host} ${h?.state ?? '?'}${h?.step ? `/${h.step}` : ''} ${node}`;
          })
          .join('; ');
        const summary = `cluster ${view.phase}: ${line}`;
        if (summary !== last) {
          o.log(`  ${summary}`);
          last = summary;
        }
        if (done(view)) return view;
        if (Date.now() > deadline)
          throw new OperationError(
            `timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}; last seen: ${summary}`,
          );
        await new Promise((r) => setTimeout(r, 2000));
      }
    },
    async killMachine(host) {
      const dir = path.join(o.workDir, 'lab', host);
      const pid = Number((await readFile(path.join(dir, 'qemu.pid'), 'utf8')).trim());
      const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
      if (!Number.isInteger(pid) || !cmdline.includes('qemu-system') || !cmdline.includes(dir))
        throw new OperationError(`${host}: no QEMU of this lab runs as pid ${pid}`);
      process.kill(pid, 'SIGKILL');
      marks.push({
        time: Date.now(),
        host,
        what: `QEMU (pid ${pid}) killed with SIGKILL, the service not told`,
      });
      return pid;
    },
    mark(host, what) {
      marks.push({ time: Date.now(), host, what });
    },
  };
}

async function hostResults(
  api: ServiceClient,
  lab: Lab,
  network: SiteNetwork,
  upAt: number,
): Promise<ClusterTrialHost[]> {
  const { hosts } = await api.request<{
    hosts: { name: string; state: string; error?: { message: string } }[];
  }>('GET', '/hosts');
  const results: ClusterTrialHost[] = [];
  for (const [index, node] of CLUSTER_SITE_NODES.entries()) {
    const h = hosts.find((x) => x.name === node.host);
    const { timeline } = await api.request<{ timeline: TimelinePhase[] }>(
      'GET',
      `/hosts/${node.host}/timeline`,
    );
    const { events } = await api.request<{ events: { time: number; reason: string }[] }>(
      'GET',
      `/hosts/${node.host}/events`,
    );
    const firstReady = events.find((e) => e.reason === 'NodeReady');
    const serialLog = lab.hosts.find((l) => l.name === node.host)?.serialLog;
    results.push({
      name: node.host,
      role: node.role,
      initializer: node.initializer,
      siteAddress: network.serverAddress(index),
      state: h?.state ?? 'unknown',
      ...(h?.error && { error: h.error.message }),
      ...(firstReady && { readyMs: firstReady.time - upAt }),
      timeline,
      ...(serialLog && { serialLog }),
    });
  }
  return results;
}

/** Reasons that tell the site's story; the rest stays in `outpost hosts events`. */
const STORY = new Set([
  'ControlPlaneInitialized',
  'NodeRegistered',
  'NodeReady',
  'NodeNotReady',
  'RemediationReboot',
  'Rebooted',
  'PowerOn',
  'PowerStateSynced',
  'Unhealthy',
  'RemediationRefused',
]);

async function siteTimeline(api: ServiceClient, names: string[], marks: SiteMoment[]): Promise<SiteMoment[]> {
  const moments: SiteMoment[] = [...marks];
  for (const name of names) {
    const { timeline } = await api.request<{
      timeline: (TimelinePhase & { startedAt: string; endedAt?: string; step?: string })[];
    }>('GET', `/hosts/${name}/timeline`);
    for (const phase of timeline) {
      if (phase.state === 'provisioning') {
        moments.push({ time: Date.parse(phase.startedAt), host: name, what: 'provisioning started' });
        if (phase.endedAt)
          moments.push({ time: Date.parse(phase.endedAt), host: name, what: `provisioning ${phase.result}` });
      }
    }
    const { events } = await api.request<{ events: { time: number; reason: string; message: string }[] }>(
      'GET',
      `/hosts/${name}/events`,
    );
    for (const e of events) {
      if (STORY.has(e.reason)) moments.push({ time: e.time, host: name, what: `${e.reason}: ${e.message}` });
    }
  }
  return moments.sort((a, b) => a.time - b.time);
}

/** The trial as people read it: the site, the timeline, each host's phases, the tree and kubectl's table. */
export function formatClusterTrial(r: ClusterTrialResult): string {
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const offset = (time: number) => {
    const ms = time - r.upAt;
    return `${ms < 0 ? '-' : '+'}${Math.abs(Math.round(ms / 1000))} s`.padStart(8);
  };
  const lines = [
    `image ${path.basename(r.image.file)}: ${(r.image.bytes / 2 ** 30).toFixed(1)} GiB, built in ${s(r.image.buildMs)}`,
    `site network ${r.network.subnet}, API VIP ${r.network.vip}, management side ${r.network.gateway}`,
    ...r.hosts.map(
      (h) =>
        `  ${h.name}: ${h.initializer ? 'server, initializer' : h.role}, ${h.siteAddress}${h.readyMs !== undefined ? `, node Ready ${s(h.readyMs)} after cluster up` : ''}`,
    ),
    '',
    'timeline (from cluster up):',
    ...r.timeline.map((m) => `${offset(m.time)}  ${m.host.padEnd(7)} ${m.what}`),
  ];
  for (const h of r.hosts) {
    lines.push('', `${h.name}: ${h.state}${h.error ? ` — ${h.error}` : ''}`);
    for (const phase of h.timeline) {
      lines.push(`  ${phase.state.padEnd(14)} ${s(phase.durationMs).padStart(8)}  ${phase.result}`);
      for (const step of phase.steps) {
        lines.push(
          `    ${step.step.padEnd(14)} ${s(step.durationMs).padStart(8)}  ${step.message ?? step.result}`,
        );
      }
    }
  }
  if (r.describe) lines.push('', '$ outpost cluster describe', r.describe);
  if (r.nodes) lines.push('', '$ kubectl get nodes -o wide', r.nodes);
  lines.push(
    '',
    r.ok
      ? `all ${r.hosts.length} nodes Ready ${s(r.readyMs ?? 0)} after cluster up`
      : `the site did not come up: ${r.error ?? 'unknown'}`,
  );
  return lines.join('\n');
}
