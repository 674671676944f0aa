import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import type { MachineBackend } from './backend.ts';
import { EmulatedBmc } from './bmc-server.ts';
import { type BootListener, type BootRecord, ServerState } from './bmc-state.ts';
import { FakeMachine } from './fake-backend.ts';
import { FaultInjector, type FaultSpec } from './faults.ts';
import { PROFILES, type ProfileName, type VendorProfile } from './profiles.ts';
import { QemuMachine } from './qemu-backend.ts';
import { SITE_SERVERS_MAX, type SiteNetwork } from './site-network.ts';
import { type LabTls, type LabTlsMode, labTls } from './tls.ts';

export type { BootRecord } from './bmc-state.ts';
export type { FaultKind, FaultOperation, FaultSpec } from './faults.ts';
export { parseFaultSpec } from './faults.ts';
export type { BehaviourProfileName, ProfileName, VendorProfile, VendorProfileName } from './profiles.ts';
export {
  BEHAVIOUR_PROFILE_NAMES,
  isProfileName,
  isVendorProfileName,
  PROFILE_NAMES,
  VENDOR_PROFILE_NAMES,
} from './profiles.ts';
export type { SiteAddressing, SiteNetwork, SiteNetworkOptions } from './site-network.ts';
export {
  createSiteNetwork,
  GUEST_DNS,
  GUEST_GATEWAY,
  guestAddress,
  siteHostNetworkData,
} from './site-network.ts';
export type { LabTlsMode } from './tls.ts';
export { LAB_TLS_MODES } from './tls.ts';

export interface LabOptions {
  hosts: number;
  backend: 'fake' | 'qemu';
  /** A vendor profile or a behaviour profile (profiles.ts). */
  vendor?: ProfileName;
  faults?: FaultSpec[];
  /** Listen address (default 127.0.0.1). */
  host?: string;
  /** Lab index on PORT, BMC n on PORT+n; default: free ports. */
  port?: number;
  /** Per-host disks, UEFI variables, serial logs, downloaded media, and the lab's BMC credentials. */
  stateDir: string;
  qemu?: { memoryMiB?: number; diskGiB?: number; ovmf?: boolean };
  /** Changes to the vendor profile, to emulate a BMC model the built-in profiles do not cover. */
  profileOverrides?: Partial<Omit<VendorProfile, 'name'>>;
  /** Retry-After of the task monitors of asynchronous operations (default 1 s, as BMCs send). */
  taskRetryAfterSeconds?: number;
  /** BMCs serve HTTPS with a certificate from the lab CA, or a self-signed one (default: plain HTTP). */
  tls?: LabTlsMode;
  /**
   * QEMU: each server's second NIC is on this site network (a tap on its bridge) instead of user
   * networking; the caller owns the network (creates it before, closes it after the lab).
   */
  siteNetwork?: SiteNetwork;
}

export interface LabHost {
  name: string;
  /** e.g. redfish-virtualmedia+http://127.0.0.1:PORT/redfish/v1/Systems/<id> */
  bmcAddress: string;
  username: string;
  password: string;
  bootMac: string;
  serialLog?: string;
  disk?: string;
  /** QEMU: the loopback port forwarded to the guest's SSH port. */
  sshPort?: number;
  /** With a site network: the MAC of the NIC on it (the second one), and the address meant for it. */
  siteMac?: string;
  siteAddress?: string;
}

/** What the lab reports about one host (never its password). */
export interface LabHostStatus {
  name: string;
  bmcAddress: string;
  bootMac: string;
  siteMac?: string;
  power: 'On' | 'Off';
  bootOverride: { enabled: string; target: string; mode: string };
  media: { slot: string; image: string | null; inserted: boolean }[];
  boots: BootRecord[];
  sessions: { active: number; created: number; deleted: number };
  requests: number;
}

export interface Lab {
  /** The lab's own index: GET / lists the hosts' state; POST /hosts/NAME/guest/{poweroff,reboot} (fake backend). */
  url: string;
  /** With TLS: the PEM file that verifies the BMCs' certificate (the lab CA, or the self-signed certificate). */
  caFile?: string;
  hosts: LabHost[];
  status(name: string): LabHostStatus;
  /** Called after every boot of any host (also for the reboots a Once override turns into a disk boot). */
  onBoot(listener: (host: LabHost, boot: BootRecord) => void): void;
  /** Fake backend: the simulated guest powers itself off or reboots, as an installer does when it ends. */
  guestPowerOff(name: string): void;
  guestReboot(name: string): void;
  close(): Promise<void>;
}

interface Member {
  host: LabHost;
  state: ServerState;
  bmc: EmulatedBmc;
  backend: MachineBackend;
}

export function bootMacOf(index: number): string {
  return macOf(0x6c, index);
}

function macOf(prefix: number, index: number): string {
  const hex = (n: number) => n.toString(16).padStart(2, '0');
  return `52:54:00:${hex(prefix)}:${hex((index >> 8) & 0xff)}:${hex(index & 0xff)}`;
}

/** Starts N emulated BMCs on loopback, each with its server (a QEMU VM or a fake). */
export async function startLab(o: LabOptions): Promise<Lab> {
  if (!Number.isInteger(o.hosts) || o.hosts < 1 || o.hosts > 65_535)
    throw new Error('hosts must be between 1 and 65535');
  if (o.siteNetwork && o.hosts > SITE_SERVERS_MAX)
    throw new Error(`a lab on a site network has at most ${SITE_SERVERS_MAX} hosts (.10-.99 of its /24)`);
  const profile: VendorProfile = { ...PROFILES[o.vendor ?? 'generic'], ...o.profileOverrides };
  const listenHost = o.host ?? '127.0.0.1';
  const addressHost = listenHost.includes(':') ? `[${listenHost}]` : listenHost;
  await mkdir(o.stateDir, { recursive: true });
  const credentials = await loadCredentials(o.stateDir, o.hosts);
  const tls: LabTls | undefined =
    o.tls && o.tls !== 'off' ? await labTls(o.tls, o.stateDir, listenHost) : undefined;
  const bootListeners: ((host: LabHost, boot: BootRecord) => void)[] = [];
  const members: Member[] = [];
  const memoryMiB = o.qemu?.memoryMiB ?? 1024;
  const diskGiB = o.qemu?.diskGiB ?? 8;

  const closeAll = async () => {
    await Promise.allSettled(members.map((m) => m.backend.close()));
    await Promise.allSettled(members.map((m) => m.bmc.close()));
  };

  try {
    for (let i = 0; i < o.hosts; i++) {
      const name = `host-${i + 1}`;
      const macs = [macOf(0x6c, i + 1), macOf(0x6d, i + 1)];
      const host: LabHost = {
        name,
        bmcAddress: '',
        username: 'admin',
        password: credentials[i]!,
        bootMac: macs[0]!,
        ...(o.siteNetwork && { siteMac: macs[1]!, siteAddress: o.siteNetwork.serverAddress(i) }),
      };
      const listeners: BootListener[] = [
        (boot) => {
          for (const listener of bootListeners) listener(host, boot);
        },
      ];
      const state = new ServerState(profile, listeners);
      const onStopped = (reason: 'poweroff' | 'reset') => {
        state.machineStopped(reason).catch((error: unknown) => {
          process.stderr.write(
            `lab: ${name}: restart failed: ${error instanceof Error ? error.message : String(error)}\n`,
          );
        });
      };
      let backend: MachineBackend;
      if (o.backend === 'qemu') {
        const dir = path.join(o.stateDir, name);
        const sshPort = await freeLoopbackPort();
        const machine = new QemuMachine({
          name,
          dir,
          macs,
          memoryMiB,
          diskGiB,
          ovmf: o.qemu?.ovmf ?? true,
          sshPort,
          ...(o.siteNetwork && { siteNetwork: o.siteNetwork }),
          onStopped,
        });
        await machine.prepare();
        // `outpost lab ssh NAME` reads the port here (it stays for the lab's run, across guest reboots).
        await writeFile(path.join(dir, 'ssh-port'), `${sshPort}\n`);
        host.serialLog = machine.serialLog;
        host.disk = machine.disk;
        host.sshPort = sshPort;
        backend = machine;
      } else {
        backend = new FakeMachine(onStopped);
      }
      state.backend = backend;
      const bmc = new EmulatedBmc({
        index: i,
        state,
        hardware: {
          serialNumber: `LAB${String(i + 1).padStart(5, '0')}`,
          uuid: `6c616200-0000-4000-8000-${(i + 1).toString(16).padStart(12, '0')}`,
          macs,
          memoryGiB: o.backend === 'qemu' ? memoryMiB / 1024 : 32,
          diskBytes: (o.backend === 'qemu' ? diskGiB : 480) * 1024 ** 3,
        },
        username: host.username,
        password: host.password,
        faults: new FaultInjector(name, o.faults ?? []),
        ...(o.taskRetryAfterSeconds !== undefined && { taskRetryAfterSeconds: o.taskRetryAfterSeconds }),
      });
      members.push({ host, state, bmc, backend });
      const port = await bmc.listen(listenHost, o.port ? o.port + i + 1 : 0, tls);
      host.bmcAddress = `${profile.scheme}+${tls ? 'https' : 'http'}://${addressHost}:${port}${bmc.paths.system}`;
    }
  } catch (error) {
    await closeAll();
    throw error;
  }

  const byName = new Map(members.map((m) => [m.host.name, m]));
  const member = (name: string) => {
    const m = byName.get(name);
    if (!m) throw new Error(`no lab host named ${name}`);
    return m;
  };
  const status = (name: string): LabHostStatus => {
    const m = member(name);
    return {
      name,
      bmcAddress: m.host.bmcAddress,
      bootMac: m.host.bootMac,
      ...(m.host.siteMac && { siteMac: m.host.siteMac }),
      power: m.state.power,
      bootOverride: { ...m.state.boot },
      media: m.state.slots.map((s) => ({
        slot: s.profile.id,
        image: s.image,
        inserted: s.inserted || s.stale,
      })),
      boots: [...m.state.boots],
      sessions: {
        active: m.bmc.activeSessions,
        created: m.bmc.counters.sessionsCreated,
        deleted: m.bmc.counters.sessionsDeleted,
      },
      requests: m.bmc.counters.requests,
    };
  };
  const fake = (name: string): FakeMachine => {
    const backend = member(name).backend;
    if (!(backend instanceof FakeMachine))
      throw new Error('guest actions are only simulated with the fake backend');
    return backend;
  };

  const index = http.createServer((req, res) => {
    const reply = (code: number, value: unknown) => {
      res.writeHead(code, { 'Content-Type': 'application/json' });
      res.end(`${JSON.stringify(value, null, 2)}\n`);
    };
    try {
      const url = new URL(req.url ?? '/', 'http://lab');
      const guest = /^\/hosts\/([^/]+)\/guest\/(poweroff|reboot)$/.exec(url.pathname);
      if (req.method === 'GET' && url.pathname === '/')
        return reply(200, { hosts: members.map((m) => status(m.host.name)) });
      const one = /^\/hosts\/([^/]+)$/.exec(url.pathname);
      if (req.method === 'GET' && one) return reply(200, status(decodeURIComponent(one[1]!)));
      if (req.method === 'POST' && guest) {
        const machine = fake(decodeURIComponent(guest[1]!));
        if (guest[2] === 'poweroff') machine.guestPowerOff();
        else machine.guestReboot();
        return reply(200, status(decodeURIComponent(guest[1]!)));
      }
      reply(404, { error: `no route ${req.method} ${url.pathname}` });
    } catch (error) {
      reply(400, { error: error instanceof Error ? error.message : String(error) });
    }
  });
  try {
    await new Promise<void>((resolve, reject) => {
      index.once('error', reject);
      index.listen(o.port ?? 0, listenHost, () => resolve());
    });
  } catch (error) {
    await closeAll();
    throw error;
  }
  const indexPort = (index.address() as AddressInfo).port;

  return {
    url: `http://${addressHost}:${indexPort}/`,
    ...(tls && { caFile: tls.caFile }),
    hosts: members.map((m) => m.host),
    status,
    onBoot: (listener) => {
      bootListeners.push(listener);
    },
    guestPowerOff: (name) => fake(name).guestPowerOff(),
    guestReboot: (name) => fake(name).guestReboot(),
    close: async () => {
      index.closeAllConnections();
      await new Promise<void>((resolve) => index.close(() => resolve()));
      await closeAll();
    },
  };
}

/** BMC passwords are random per lab state folder and kept there (mode 0600), so a restarted lab keeps them. */
async function loadCredentials(stateDir: string, count: number): Promise<string[]> {
  const file = path.join(stateDir, 'bmc-credentials.json');
  let passwords: string[] = [];
  try {
    passwords = JSON.parse(await readFile(file, 'utf8')) as string[];
  } catch {
    passwords = [];
  }
  if (passwords.length >= count) return passwords;
  while (passwords.length < count) passwords.push(randomBytes(12).toString('base64url'));
  await writeFile(`${file}.tmp`, JSON.stringify(passwords), { mode: 0o600 });
  await rename(`${file}.tmp`, file);
  return passwords;
}

/** A free TCP port on loopback, for a QEMU host forward. */
function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
