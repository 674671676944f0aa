import { getMembers, getResource } from './requests.ts';
import { asObject, type Json, link, num, str } from './resource.ts';
import type { RedfishTransport } from './transport.ts';
import { type HardwareInventory, RedfishError } from './types.ts';

type Disk = NonNullable<HardwareInventory['storage']>[number];

/**
 * Reads the out-of-band inventory of one System (redfish.md §4, "Inventory"). The System itself and its
 * NICs must answer; Processors, Memory, Storage, SimpleStorage and Drives are optional: one that is
 * missing (404) or fails is reported as a `warning` event and its field as unknown, never as an error
 * (real BMCs link collections they do not serve, and prototypes expose no processors at all).
 */
export async function readInventory(
  t: RedfishTransport,
  system: Json,
  managers: Json[],
): Promise<HardwareInventory> {
  const unknown: string[] = [];
  const inventory: HardwareInventory = {
    systemVendor: {
      manufacturer: str(system.Manufacturer) ?? '',
      productName: str(system.Model) ?? '',
      serialNumber: str(system.SerialNumber) ?? '',
    },
    firmware: { bios: { version: str(system.BiosVersion) ?? '' } },
    nics: await readNics(t, system),
  };
  const cpu = await readCpu(t, system);
  if (cpu) inventory.cpu = cpu;
  else unknown.push('cpu');
  const ram = await readMemory(t, system);
  if (ram !== undefined) inventory.ramMebibytes = ram;
  else unknown.push('ramMebibytes');
  const storage = await readStorage(t, system);
  if (storage) inventory.storage = storage;
  else unknown.push('storage');
  const bmcVersion = managers.map((m) => str(m.FirmwareVersion)).find((v) => v);
  if (bmcVersion) inventory.firmware.bmc = { version: bmcVersion };
  const bootMode = str(asObject(system.Boot)?.BootSourceOverrideMode);
  if (bootMode) inventory.bootMode = bootMode;
  if (unknown.length > 0) inventory.unknown = unknown;
  return inventory;
}

/** One optional read: a BMC error becomes a warning and `undefined` (connection loss still fails later reads). */
async function optional<T>(
  t: RedfishTransport,
  what: string,
  read: () => Promise<T>,
): Promise<T | undefined> {
  try {
    return await read();
  } catch (error) {
    if (!(error instanceof RedfishError)) throw error;
    t.emit({ type: 'warning', message: `${what} could not be read, recorded as unknown: ${error.message}` });
    return undefined;
  }
}

/** Members of an optional collection; members that fail are skipped with a warning. */
async function optionalMembers(
  t: RedfishTransport,
  what: string,
  path: string | undefined,
): Promise<Json[] | undefined> {
  if (!path) return undefined;
  const collection = await optional(t, `${what} (${path})`, () => getResource(t, path));
  if (!collection) return undefined;
  const refs = Array.isArray(collection.body.Members) ? (collection.body.Members as Json[]) : [];
  const out: Json[] = [];
  for (const ref of refs) {
    const member = str(ref['@odata.id']);
    if (!member) continue;
    const got = await optional(t, `${what} member ${member}`, () => getResource(t, member));
    if (got) out.push(got.body);
  }
  return out;
}

const ARCH: Record<string, string> = {
  'x86-64': 'x86_64',
  x86: 'i686',
  'ARM-A64': 'aarch64',
  'ARM-A32': 'armv7l',
  PowerISA: 'ppc64le',
  IA64: 'ia64',
  MIPS64: 'mips64',
};

/** Present and enabled: `Status.State` absent (many BMCs omit it) or `Enabled`. */
function present(resource: Json): boolean {
  const state = str(asObject(resource.Status)?.State);
  return state === undefined || state === 'Enabled';
}

/** A CPU socket that holds a working CPU: not an FPGA/GPU/accelerator, not an empty socket. */
export function isPresentCpu(processor: Json): boolean {
  const type = str(processor.ProcessorType);
  return (type === undefined || type === 'CPU') && present(processor);
}

async function readCpu(t: RedfishTransport, system: Json): Promise<HardwareInventory['cpu']> {
  const summary = asObject(system.ProcessorSummary);
  const members = (await optionalMembers(t, 'Processors', link(system, 'Processors'))) ?? [];
  const cpus = members.filter(isPresentCpu);
  const first = cpus[0];
  // Like sushy (and so Ironic/Metal3), count is the number of threads, not sockets.
  const threads = cpus.reduce((sum, p) => sum + (num(p.TotalThreads) ?? num(p.TotalCores) ?? 1), 0);
  const count = threads || num(summary?.LogicalProcessorCount) || num(summary?.Count);
  if (!count) return undefined;
  const cpu: NonNullable<HardwareInventory['cpu']> = {
    count,
    model: str(first?.Model) ?? str(summary?.Model) ?? '',
    arch:
      ARCH[str(first?.InstructionSet) ?? ''] ??
      ARCH[str(first?.ProcessorArchitecture) ?? ''] ??
      str(first?.InstructionSet) ??
      '',
  };
  const mhz = num(first?.MaxSpeedMHz) ?? num(first?.OperatingSpeedMHz);
  if (mhz) cpu.clockMegahertz = mhz;
  return cpu;
}

async function readMemory(t: RedfishTransport, system: Json): Promise<number | undefined> {
  const gib = num(asObject(system.MemorySummary)?.TotalSystemMemoryGiB);
  if (gib !== undefined && gib > 0) return Math.round(gib * 1024);
  const modules = await optionalMembers(t, 'Memory', link(system, 'Memory'));
  if (!modules) return undefined;
  const mib = modules.filter(present).reduce((sum, m) => sum + (num(m.CapacityMiB) ?? 0), 0);
  return mib > 0 ? mib : undefined;
}

const MAC = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/;

async function readNics(t: RedfishTransport, system: Json): Promise<HardwareInventory['nics']> {
  const path = link(system, 'EthernetInterfaces');
  if (!path) return [];
  const nics: HardwareInventory['nics'] = [];
  const seen = new Set<string>();
  for (const { body } of await getMembers(t, path)) {
    const mac = (str(body.MACAddress) ?? str(body.PermanentMACAddress) ?? '')
      .toLowerCase()
      .replaceAll('-', ':');
    const id = str(body.Id) ?? str(body.Name) ?? '';
    // Drop invalid MACs, VLAN sub-interfaces that repeat a MAC, and the BMC's host interface.
    if (!MAC.test(mac) || mac === '00:00:00:00:00:00' || seen.has(mac)) continue;
    if (/tomanager|hostinterface/i.test(id) || str(body.EthernetInterfaceType) === 'Virtual') continue;
    seen.add(mac);
    nics.push({ name: id, mac, speedGbps: Math.round(((num(body.SpeedMbps) ?? 0) / 1000) * 10) / 10 });
  }
  return nics;
}

/**
 * Disks from `Storage/…/Drives`, else `SimpleStorage`. Unknown (undefined) when neither collection could
 * be read; an empty list only when one was read and holds no disk.
 */
async function readStorage(t: RedfishTransport, system: Json): Promise<Disk[] | undefined> {
  const disks: Disk[] = [];
  let driveFailed = false;
  const controllers = await optionalMembers(t, 'Storage', link(system, 'Storage'));
  for (const storage of controllers ?? []) {
    const drives = Array.isArray(storage.Drives) ? (storage.Drives as Json[]) : [];
    for (const ref of drives) {
      const drivePath = str(ref['@odata.id']);
      if (!drivePath) continue;
      const drive = await optional(t, `Drive ${drivePath}`, () => getResource(t, drivePath));
      if (!drive) driveFailed = true;
      if (!drive || !present(drive.body)) continue;
      const body = drive.body;
      const mediaType = str(body.MediaType) ?? '';
      const rotational = mediaType === 'HDD' || (num(body.RotationSpeedRPM) ?? 0) > 0;
      disks.push({
        name: str(body.Name) ?? str(body.Id) ?? drivePath,
        sizeBytes: num(body.CapacityBytes) ?? 0,
        model: str(body.Model) ?? '',
        serialNumber: str(body.SerialNumber) ?? '',
        rotational,
        type: str(body.Protocol) === 'NVMe' ? 'NVME' : rotational ? 'HDD' : 'SSD',
      });
    }
  }
  if (disks.length > 0) return disks;
  const simple = await optionalMembers(t, 'SimpleStorage', link(system, 'SimpleStorage'));
  for (const controller of simple ?? []) {
    const devices = Array.isArray(controller.Devices) ? (controller.Devices as Json[]) : [];
    for (const device of devices) {
      const size = num(device.CapacityBytes);
      if (size === undefined || !present(device)) continue;
      disks.push({
        name: str(device.Name) ?? '',
        sizeBytes: size,
        model: str(device.Model) ?? '',
        serialNumber: '',
        rotational: true,
        type: 'HDD',
      });
    }
  }
  const answered = (controllers !== undefined && !driveFailed) || simple !== undefined;
  return disks.length > 0 || answered ? disks : undefined;
}
