import { formatBytes } from '../common/units.ts';
import type { ToolUse } from './tools.ts';

/**
 * `outpost preflight`'s rules: facts gathered from the management node (facts.ts) in, one pass/warn/fail
 * result per check out. No I/O here, so every rule is tested with fixed facts.
 */

export type Status = 'pass' | 'warn' | 'fail';

export interface CheckResult {
  name: string;
  status: Status;
  detail: string;
}

const GiB = 2 ** 30;

/** The thresholds, documented in docs/air-gap.md (keep both in step). */
export const THRESHOLDS = {
  /** Logical CPUs: the service, image downloads by many hosts and ISO builds share them. */
  cpuFail: 2,
  cpuWarn: 4,
  memoryFail: 2 * GiB,
  memoryWarn: 4 * GiB,
  /** Memory available now (not used by other programs). */
  availableWarn: 1 * GiB,
  /** The state dir holds the database, its backups and logs. */
  stateFail: 1 * GiB,
  stateWarn: 5 * GiB,
  /** The media dir holds the site's images (a few GiB each) and per-host ISOs. */
  mediaFail: 5 * GiB,
  mediaWarn: 20 * GiB,
} as const;

export interface DiskFact {
  role: 'state' | 'media';
  dir: string;
  /** The folder measured: `dir`, or its nearest existing parent when `dir` is not created yet. */
  measured: string;
  freeBytes?: number;
  error?: string;
}

export interface NicFact {
  name: string;
  addresses: string[];
  up: boolean;
  internal: boolean;
}

export interface AdvertiseFact {
  url: string;
  host: string;
  /** What the host name resolved to. */
  addresses: string[];
  error?: string;
}

export interface PortFact {
  port: number;
  free: boolean;
  detail?: string;
}

export interface ToolFact {
  name: string;
  usedBy: ToolUse;
  package: string;
  found: boolean;
  version?: string;
}

export interface ClockFact {
  /** Where the answer came from: timedatectl, chronyc, systemd-timesyncd's flag file; undefined: nothing answered. */
  source?: string;
  synchronized?: boolean;
  detail?: string;
}

export interface BmcFact {
  host: string;
  address: string;
  /** Address problem (not a Redfish BMC address). */
  error?: string;
  tcp?: { ok: boolean; ms: number; error?: string };
  redfish?: { ok: boolean; status?: number; version?: string; error?: string };
}

export interface Facts {
  cpu: { cores: number; model: string };
  memory: { totalBytes: number; availableBytes: number };
  disks: DiskFact[];
  nics: NicFact[];
  advertise?: AdvertiseFact;
  ports: PortFact[];
  tools: ToolFact[];
  clock: ClockFact;
  bmcs: BmcFact[];
}

export function evaluate(facts: Facts): CheckResult[] {
  const t = THRESHOLDS;
  const results: CheckResult[] = [];
  const add = (name: string, status: Status, detail: string) => results.push({ name, status, detail });

  const { cores, model } = facts.cpu;
  add(
    'cpu',
    cores < t.cpuFail ? 'fail' : cores < t.cpuWarn ? 'warn' : 'pass',
    `${cores} logical CPU(s)${model ? ` (${model})` : ''}; needs ${t.cpuFail}, ${t.cpuWarn} or more recommended`,
  );

  const { totalBytes, availableBytes } = facts.memory;
  const memoryStatus: Status =
    totalBytes < t.memoryFail
      ? 'fail'
      : totalBytes < t.memoryWarn || availableBytes < t.availableWarn
        ? 'warn'
        : 'pass';
  add(
    'memory',
    memoryStatus,
    `${formatBytes(totalBytes)} total, ${formatBytes(availableBytes)} available; needs ${formatBytes(t.memoryFail)}, ${formatBytes(t.memoryWarn)} recommended, ${formatBytes(t.availableWarn)} available`,
  );

  for (const disk of facts.disks) {
    const [fail, warn] = disk.role === 'state' ? [t.stateFail, t.stateWarn] : [t.mediaFail, t.mediaWarn];
    const where =
      disk.measured === disk.dir ? disk.dir : `${disk.dir} (not there yet; measured ${disk.measured})`;
    if (disk.freeBytes === undefined) {
      add(`disk ${disk.role}`, 'fail', `${where}: ${disk.error ?? 'free space unknown'}`);
      continue;
    }
    add(
      `disk ${disk.role}`,
      disk.freeBytes < fail ? 'fail' : disk.freeBytes < warn ? 'warn' : 'pass',
      `${where}: ${formatBytes(disk.freeBytes)} free; needs ${formatBytes(fail)}, ${formatBytes(warn)} recommended`,
    );
  }

  const external = facts.nics.filter((n) => !n.internal && n.up && n.addresses.length > 0);
  add(
    'network interfaces',
    external.length > 0 ? 'pass' : 'fail',
    external.length > 0
      ? external.map((n) => `${n.name} ${n.addresses.join(' ')}`).join('; ')
      : 'no interface is up with an address besides loopback: BMCs and hosts cannot reach this node',
  );
  results.push(advertiseResult(facts.advertise, facts.nics));

  for (const port of facts.ports) {
    add(
      `port ${port.port}`,
      port.free ? 'pass' : 'fail',
      port.free ? 'free' : `in use${port.detail ? `: ${port.detail}` : ''}`,
    );
  }

  for (const tool of facts.tools) {
    const missing: Status = tool.usedBy === 'service' ? 'fail' : 'warn';
    const purpose =
      tool.usedBy === 'service'
        ? 'the service builds installer ISOs and config drives with it'
        : tool.usedBy === 'build'
          ? 'builds need it (or run them in the container)'
          : tool.usedBy === 'kit'
            ? 'zip site kits need it'
            : 'the lab needs it';
    add(
      `tool ${tool.name}`,
      tool.found ? 'pass' : missing,
      tool.found ? (tool.version ?? 'present') : `not found: ${purpose}; install Debian's ${tool.package}`,
    );
  }

  const clock = facts.clock;
  add(
    'clock',
    clock.synchronized === true ? 'pass' : 'warn',
    clock.source === undefined
      ? 'synchronisation unknown (no timedatectl, chronyc or systemd-timesyncd answered); certificates and logs need a right clock'
      : `${clock.synchronized ? 'synchronised' : 'not synchronised'} (${clock.source}${clock.detail ? `: ${clock.detail}` : ''})`,
  );

  for (const bmc of facts.bmcs) results.push(bmcResult(bmc));
  return results;
}

function advertiseResult(advertise: AdvertiseFact | undefined, nics: NicFact[]): CheckResult {
  const name = 'advertise-url';
  if (!advertise)
    return {
      name,
      status: 'warn',
      detail: 'not given (--advertise-url): BMCs fetch media from the URL the service advertises',
    };
  if (advertise.error || advertise.addresses.length === 0)
    return {
      name,
      status: 'fail',
      detail: `${advertise.url}: ${advertise.host} does not resolve${advertise.error ? `: ${advertise.error}` : ''}`,
    };
  const local = new Set(nics.flatMap((n) => n.addresses.map(normalise)));
  const mine = advertise.addresses.filter((a) => local.has(normalise(a)) || isLoopback(a));
  if (mine.length === 0)
    return {
      name,
      status: 'fail',
      detail: `${advertise.url}: ${advertise.host} is ${advertise.addresses.join(', ')}, not an address of this node`,
    };
  if (mine.every(isLoopback))
    return {
      name,
      status: 'warn',
      detail: `${advertise.url}: ${advertise.host} is a loopback address: only BMCs on this machine (the lab) reach it`,
    };
  return {
    name,
    status: 'pass',
    detail: `${advertise.url}: ${advertise.host} is ${mine.join(', ')} (local)`,
  };
}

function bmcResult(bmc: BmcFact): CheckResult {
  const name = `bmc ${bmc.host}`;
  if (bmc.error) return { name, status: 'fail', detail: `${bmc.address}: ${bmc.error}` };
  if (!bmc.tcp?.ok)
    return {
      name,
      status: 'fail',
      detail: `${bmc.address}: TCP connect failed: ${bmc.tcp?.error ?? 'not tried'}`,
    };
  const r = bmc.redfish;
  if (!r?.ok) {
    const why = r?.error ?? (r?.status !== undefined ? `HTTP ${r.status}` : 'not tried');
    return { name, status: 'fail', detail: `${bmc.address}: TCP ok, Redfish service root: ${why}` };
  }
  return {
    name,
    status: 'pass',
    detail: `${bmc.address}: TCP ${bmc.tcp.ms} ms, Redfish ${r.version ?? '(version not given)'}`,
  };
}

function normalise(address: string): string {
  return address
    .replace(/%.*$/, '')
    .replace(/^::ffff:/, '')
    .toLowerCase();
}

function isLoopback(address: string): boolean {
  const a = normalise(address);
  return a.startsWith('127.') || a === '::1';
}

/** Exit code of `outpost preflight`: 1 when anything failed. */
export function exitCode(results: readonly CheckResult[]): number {
  return results.some((r) => r.status === 'fail') ? 1 : 0;
}
