/**
 * The site's one cluster inside the management service: its spec and join token, the plan that tells each
 * host its RKE2 role (written into its config drive), the admin kubeconfig the initializer reports, the
 * Node tracker, and remediation. The decisions are the cluster domain's pure functions; this class keeps
 * their inputs durable (SQLite, 0600 files) and carries out what they decide.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { nodeAddresses } from '../cluster/addresses.ts';
import { configDriveKeys, type JoinPlanResult, planJoin } from '../cluster/join-plan.ts';
import { adoptKubeconfig } from '../cluster/kubeconfig.ts';
import {
  DEFAULT_REMEDIATION,
  decideRemediation,
  NO_REMEDIATION,
  type RemediationPolicy,
  type RemediationRecord,
} from '../cluster/remediation.ts';
import { type ClusterStatus, clusterStatus, type MemberFacts } from '../cluster/status.ts';
import { NodeTracker } from '../cluster/tracker.ts';
import type { ClusterMember, ClusterSpec, MachinePhase, NodeObservation } from '../cluster/types.ts';
import { writeFileAtomic } from './files.ts';
import type { Store } from './store.ts';
import type { EventLevel, HostRecord } from './types.ts';

/** The cluster as the user defines it (`outpost cluster up`), plus where the service reaches the API. */
export interface SiteCluster extends ClusterSpec {
  /** The host that starts the cluster; default the first server by name. */
  initializer?: string;
  /** Where the service reaches the Kubernetes API when not at the VIP or the initializer's address (a lab's port forward). */
  apiEndpoint?: { address: string; port: number };
}

/** What the service remembers of a host's node between restarts. */
export interface NodeRecord {
  node?: string;
  registeredAt?: number;
  readyAt?: number;
  ready?: NodeObservation['ready'];
  reason?: string;
  remediation: RemediationRecord;
}

export interface ClusterManagerOptions {
  store: Store;
  stateDir: string;
  /** Power-cycles a host through its BMC (the service's power action); throws when refused. */
  powerCycle: (host: string) => void;
  /** Starts provisioning a host with an image (the service's provision action); throws when refused. */
  provision: (host: string, image: string) => void;
  event: (host: string, level: EventLevel, reason: string, message: string) => void;
  policy?: RemediationPolicy;
  now?: () => number;
  /** How often remediation is considered. */
  tickMs?: number;
}

const SPEC_KEY = 'spec';
const ROLLOUT_KEY = 'rollout';
const INITIALIZED_KEY = 'initializedAt';
const nodeKey = (host: string) => `node/${host}`;

function machinePhase(host: HostRecord): MachinePhase {
  if (host.state === 'provisioned') return 'Provisioned';
  if (host.state === 'provisioning') return host.error && host.error.count >= 10 ? 'Failed' : 'Provisioning';
  return 'Pending';
}

export class ClusterManager {
  private readonly o: Required<Omit<ClusterManagerOptions, 'policy'>> & { policy: RemediationPolicy };
  private tracker: NodeTracker | undefined;
  private nodes: NodeObservation[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly tokenFile: string;
  private readonly kubeconfigFile: string;
  /** The host a power cycle was asked for most recently, until its node is Ready again. */
  private inFlight: string | undefined;

  constructor(options: ClusterManagerOptions) {
    this.o = { policy: DEFAULT_REMEDIATION, now: Date.now, tickMs: 5000, ...options };
    this.tokenFile = path.join(options.stateDir, 'cluster-token');
    this.kubeconfigFile = path.join(options.stateDir, 'kubeconfig');
  }

  spec(): SiteCluster | undefined {
    const text = this.o.store.getClusterValue(SPEC_KEY);
    return text ? (JSON.parse(text) as SiteCluster) : undefined;
  }

  /** Defines (or redefines) the site's cluster; the join token is made once and kept. */
  define(spec: SiteCluster): void {
    this.o.store.putClusterValue(SPEC_KEY, JSON.stringify(spec));
    if (!existsSync(this.tokenFile))
      writeFileAtomic(this.tokenFile, `${randomBytes(32).toString('base64url')}\n`, 0o600);
  }

  /** The join token: a secret, for the config drives and `outpost cluster token` only. */
  token(): string | undefined {
    return existsSync(this.tokenFile) ? readFileSync(this.tokenFile, 'utf8').trim() : undefined;
  }

  members(hosts: HostRecord[] = this.o.store.listHosts()): ClusterMember[] {
    const spec = this.spec();
    const named = spec?.initializer;
    return hosts.map((h) => ({
      host: h.name,
      role: h.spec.role,
      initializer: named !== undefined && h.name === named,
      addresses: this.addressesOf(h.name, h.spec.networkData),
    }));
  }

  /** Parsed once per host and network data: plans, drives and status all ask, and a host file can be big. */
  private readonly parsedAddresses = new Map<
    string,
    { networkData: string | undefined; addresses: string[] }
  >();
  private addressesOf(host: string, networkData: string | undefined): string[] {
    const cached = this.parsedAddresses.get(host);
    if (cached && cached.networkData === networkData) return cached.addresses;
    const addresses = nodeAddresses(networkData, `${host} networkData`);
    this.parsedAddresses.set(host, { networkData, addresses });
    return addresses;
  }

  plan(): JoinPlanResult | undefined {
    const spec = this.spec();
    return spec ? planJoin(spec, this.members()) : undefined;
  }

  /** The RKE2 keys for a host's config drive, or nothing when the site has no cluster or the plan fails. */
  configDriveKeys(host: string): Record<string, string> | undefined {
    const plan = this.plan();
    const token = this.token();
    const settings = plan?.ok ? plan.plan.settings.get(host) : undefined;
    return settings && token ? configDriveKeys(settings, token) : undefined;
  }

  /** Where the service reaches the API: the explicit endpoint, the VIP, else the initializer's first address. */
  private apiEndpoint(spec: SiteCluster, initializer: string): { address: string; port: number } | undefined {
    if (spec.apiEndpoint) return spec.apiEndpoint;
    const address = spec.apiVIPs[0] ?? this.members().find((m) => m.host === initializer)?.addresses[0];
    return address ? { address, port: 6443 } : undefined;
  }

  /** The initializer's report of the admin kubeconfig; anything else is refused with the reason. */
  acceptKubeconfig(host: string, text: string): { status: number; message: string } {
    const spec = this.spec();
    const plan = this.plan();
    if (!spec || !plan?.ok) return { status: 409, message: 'this site has no cluster defined' };
    if (plan.plan.initializer !== host) {
      return {
        status: 403,
        message: `only the initializer (${plan.plan.initializer}) reports the kubeconfig`,
      };
    }
    const endpoint = this.apiEndpoint(spec, host);
    if (!endpoint)
      return { status: 409, message: `no address to reach ${host}'s API: set an apiVIP or a static address` };
    const adopted = adoptKubeconfig(text, spec.name, endpoint.address, endpoint.port);
    if (!adopted.ok) return { status: 400, message: adopted.problem };
    writeFileAtomic(this.kubeconfigFile, adopted.kubeconfig, 0o600);
    if (this.o.store.getClusterValue(INITIALIZED_KEY) === undefined) {
      this.o.store.putClusterValue(INITIALIZED_KEY, String(this.o.now()));
      this.o.event(
        host,
        'Normal',
        'ControlPlaneInitialized',
        `cluster ${spec.name} started; API at ${endpoint.address}:${endpoint.port}`,
      );
    }
    void this.startTracking();
    return { status: 200, message: 'kubeconfig accepted' };
  }

  /** The admin kubeconfig (a secret: `outpost cluster kubeconfig` only). */
  kubeconfig(): string | undefined {
    return existsSync(this.kubeconfigFile) ? readFileSync(this.kubeconfigFile, 'utf8') : undefined;
  }

  private nodeRecord(host: string): NodeRecord {
    const text = this.o.store.getClusterValue(nodeKey(host));
    return text ? (JSON.parse(text) as NodeRecord) : { remediation: NO_REMEDIATION };
  }

  private saveNodeRecord(host: string, record: NodeRecord): void {
    this.o.store.putClusterValue(nodeKey(host), JSON.stringify(record));
  }

  /** Records what changed for each host's node, with an event per change people care about. */
  private observe(nodes: NodeObservation[]): void {
    this.nodes = nodes;
    const now = this.o.now();
    const hosts = new Map(this.o.store.listHosts().map((h) => [h.name, h]));
    for (const node of nodes) {
      const host = node.host !== undefined ? hosts.get(node.host) : undefined;
      if (!host) continue;
      const before = this.nodeRecord(host.name);
      const next: NodeRecord = { ...before, node: node.name, ready: node.ready, reason: node.reason };
      if (before.registeredAt === undefined) {
        next.registeredAt = now;
        this.o.event(host.name, 'Normal', 'NodeRegistered', `node ${node.name} registered`);
      }
      if (node.ready === 'True' && before.ready !== 'True') {
        const since = host.stepStartedAt;
        if (before.readyAt === undefined) {
          next.readyAt = now;
          this.o.event(
            host.name,
            'Normal',
            'NodeReady',
            `node ${node.name} Ready ${Math.round((now - since) / 1000)} s after the host was provisioned`,
          );
        } else {
          this.o.event(host.name, 'Normal', 'NodeReady', `node ${node.name} Ready again`);
        }
        if (this.inFlight === host.name) this.inFlight = undefined;
      } else if (node.ready !== 'True' && before.ready !== undefined && node.ready !== before.ready) {
        this.o.event(
          host.name,
          'Warning',
          'NodeNotReady',
          `node ${node.name} is ${node.ready === 'Unknown' ? 'Unknown' : 'NotReady'}: ${node.message || node.reason}`,
        );
      }
      this.saveNodeRecord(host.name, next);
    }
  }

  /** Starts watching Nodes once a kubeconfig is known; idempotent. */
  async startTracking(): Promise<void> {
    const kubeconfig = this.kubeconfig();
    if (!kubeconfig || this.tracker) return;
    const tracker = new NodeTracker(kubeconfig, {
      onNodes: (nodes) => this.observe(nodes),
      onError: (message, retryInMs) =>
        this.o.event(
          'cluster',
          'Warning',
          'ApiUnreachable',
          `${message}; retrying in ${Math.round(retryInMs / 1000)} s`,
        ),
    });
    this.tracker = tracker;
    await tracker.start();
  }

  start(): void {
    void this.startTracking();
    this.timer = setInterval(() => {
      this.rollout();
      this.remediate();
    }, this.o.tickMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.tracker?.stop();
    this.tracker = undefined;
  }

  /**
   * `cluster up`: remembers the image and provisions the first wave now; later waves start from the
   * periodic round once their gate is passed, so a restart of the service resumes the rollout.
   */
  up(image: string): { started: string[]; waiting: string[] } {
    const plan = this.plan();
    if (!plan?.ok) throw new Error(plan ? plan.problems.join('; ') : 'this site has no cluster defined');
    this.o.store.putClusterValue(ROLLOUT_KEY, JSON.stringify({ image }));
    const started = this.rollout();
    const waiting = plan.plan.waves.flatMap((w) => w.hosts).filter((h) => !started.includes(h));
    return { started, waiting };
  }

  /** Provisions every host of a wave whose gate is passed and that is still available; returns them. */
  rollout(): string[] {
    // Runs every round: without a rollout under way, no plan (it parses every host's network data).
    const text = this.o.store.getClusterValue(ROLLOUT_KEY);
    if (!text) return [];
    const plan = this.plan();
    if (!plan?.ok) return [];
    const { image } = JSON.parse(text) as { image: string };
    const hosts = new Map(this.o.store.listHosts().map((h) => [h.name, h]));
    const initializerProvisioned = hosts.get(plan.plan.initializer)?.state === 'provisioned';
    const started: string[] = [];
    for (const wave of plan.plan.waves) {
      if (wave.gate === 'initializer-provisioned' && !initializerProvisioned) break;
      for (const name of wave.hosts) {
        if (hosts.get(name)?.state !== 'available') continue;
        try {
          this.o.provision(name, image);
          started.push(name);
        } catch (error) {
          this.o.event(
            name,
            'Warning',
            'RolloutRefused',
            `cluster up could not provision: ${(error as Error).message}`,
          );
        }
      }
    }
    // Done once every host has left `available`: a later deprovision is a person's choice, not ours to undo.
    if (
      [...hosts.values()].every(
        (h) => h.state !== 'available' && h.state !== 'registering' && h.state !== 'inspecting',
      )
    ) {
      this.o.store.deleteClusterValue(ROLLOUT_KEY);
    }
    return started;
  }

  /** One remediation round: at most one host is power-cycled per round, and one at a time. */
  remediate(): void {
    if (!this.tracker) return;
    const now = this.o.now();
    const byHost = new Map(this.nodes.filter((n) => n.host).map((n) => [n.host as string, n]));
    for (const host of this.o.store.listHosts()) {
      if (host.state !== 'provisioned') continue;
      const node = byHost.get(host.name);
      const record = this.nodeRecord(host.name);
      const decision = decideRemediation(
        node
          ? {
              ready: node.ready,
              since: node.readySince,
              everReady: record.readyAt !== undefined,
              registered: record.registeredAt ?? node.created,
            }
          : undefined,
        record.remediation,
        {
          otherInFlight: this.inFlight !== undefined && this.inFlight !== host.name,
          desiredOff: !host.spec.online,
        },
        now,
        this.o.policy,
      );
      if (decision.kind === 'healthy' && decision.record !== record.remediation) {
        this.saveNodeRecord(host.name, { ...record, remediation: decision.record });
      } else if (decision.kind === 'power-cycle') {
        try {
          this.o.powerCycle(host.name);
        } catch (error) {
          this.o.event(
            host.name,
            'Warning',
            'RemediationRefused',
            `cannot power-cycle: ${(error as Error).message}`,
          );
          continue;
        }
        this.inFlight = host.name;
        this.saveNodeRecord(host.name, { ...record, remediation: decision.record });
        this.o.event(
          host.name,
          'Warning',
          'RemediationReboot',
          `node ${node?.name ?? host.name} not Ready for ${Math.round((now - (node?.readySince ?? now)) / 1000)} s: power cycle ${decision.attempt} of ${this.o.policy.maxAttempts}`,
        );
        return;
      } else if (decision.kind === 'give-up') {
        this.saveNodeRecord(host.name, { ...record, remediation: decision.record });
        if (this.inFlight === host.name) this.inFlight = undefined;
        this.o.event(
          host.name,
          'Warning',
          'Unhealthy',
          `node still not Ready after ${decision.record.attempts} power cycles: left alone for a person`,
        );
      }
    }
  }

  /** The cluster as `cluster describe` shows it; undefined when the site has no cluster. */
  status(): ClusterStatus | undefined {
    const spec = this.spec();
    const plan = this.plan();
    if (!spec) return undefined;
    const initializer = plan?.ok ? plan.plan.initializer : undefined;
    const hosts = this.o.store.listHosts();
    const members: MemberFacts[] = this.members(hosts).map((m) => {
      const host = hosts.find((h) => h.name === m.host) as HostRecord;
      const record = this.nodeRecord(m.host);
      return {
        member: { ...m, initializer: m.host === initializer },
        phase: machinePhase(host),
        phaseSince: host.stepStartedAt,
        ...(host.error ? { error: host.error.message } : {}),
        ...(record.remediation.unhealthy ? { unhealthy: true } : {}),
      };
    });
    const initializedAt = this.o.store.getClusterValue(INITIALIZED_KEY);
    const started = hosts.filter((h) => h.state !== 'available').map((h) => h.createdAt);
    return clusterStatus(
      {
        name: spec.name,
        members,
        nodes: this.nodes,
        ...(initializedAt ? { initializedAt: Number(initializedAt) } : {}),
        ...(started.length ? { startedAt: Math.min(...started) } : {}),
      },
      this.o.now(),
    );
  }

  /** Per host, the node columns of `hosts list`. */
  nodeColumns(host: string): { node: string; ready: string } {
    const r = this.nodeRecord(host);
    return { node: r.node ?? '', ready: r.ready ?? '' };
  }

  /** Forgets the cluster (the hosts stay): token, kubeconfig and node records. */
  async forget(): Promise<void> {
    await this.stop();
    for (const h of this.o.store.listHosts()) this.o.store.deleteClusterValue(nodeKey(h.name));
    this.o.store.deleteClusterValue(SPEC_KEY);
    this.o.store.deleteClusterValue(INITIALIZED_KEY);
    this.o.store.deleteClusterValue(ROLLOUT_KEY);
    rmSync(this.tokenFile, { force: true });
    rmSync(this.kubeconfigFile, { force: true });
  }
}
