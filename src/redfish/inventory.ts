import { getMembers, getResource } from './requests.ts';
import { asObject, type Json, link, num, str } from './resource.ts';
import type { RedfishTransport } from './transport.ts';
import type { HardwareInventory } from './types.ts';

/** Reads the out-of-band inventory of one System (redfish.md §4, "Inventory"). */
export async function readInventory(
  t: RedfishTransport,
  system: Json,
  managers: Json[],
): Promise<HardwareInventory> {
  const inventory: HardwareInventory = {
    systemVendor: {
      manufacturer: str(system.Manufacturer) ?? '',
      productName: str(system.Model) ?? '',
      serialNumber: str(system.SerialNumber) ?? '',
    },
    firmware: { bios: { version: str(system.BiosVersion) ?? '' } },
    cpu: await readCpu(t, system),
    ramMebibytes: await readMemory(t, system),
    nics: await readNics(t, system),
    storage: await readStorage(t, system),
  };
  const bmcVersion = managers.map((m) => str(m.FirmwareVersion)).find((v) => v);
  if (bmcVersion) inventory.firmware.bmc = { version: bmcVersion };
  const bootMode = str(asObject(system.Boot)?.BootSourceOverrideMode);
  if (bootMode) inventory.bootMode = bootMode;
  return inventory;
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

async function readCpu(t: RedfishTransport, system: Json): Promise<HardwareInventory['cpu']> {
  const summary = asObject(system.ProcessorSummary);
  const path = link(system, 'Processors');
  const members = path
    ? (await getMembers(t, path)).map((m) => m.body).filter((p) => str(p.ProcessorType) !== 'GPU')
    : [];
  const first = members[0];
  // Like sushy (and so Ironic/Metal3), count is the number of threads, not sockets.
  const threads = members.reduce((sum, p) => sum + (num(p.TotalThreads) ?? num(p.TotalCores) ?? 1), 0);
  return {
    count: threads || num(summary?.LogicalProcessorCount) || num(summary?.Count) || 0,
    model: str(first?.Model) ?? str(summary?.Model) ?? '',
    clockMegahertz: num(first?.MaxSpeedMHz) ?? num(first?.OperatingSpeedMHz) ?? 0,
    arch:
      ARCH[str(first?.InstructionSet) ?? ''] ??
      ARCH[str(first?.ProcessorArchitecture) ?? ''] ??
      str(first?.InstructionSet) ??
      '',
  };
}

async function readMemory(t: RedfishTransport, system: Json): Promise<number> {
  const gib = num(asObject(system.MemorySummary)?.TotalSystemMemoryGiB);
  if (gib !== undefined && gib > 0) return Math.round(gib * 1024);
  const path = link(system, 'Memory');
  if (!path) return 0;
  return (await getMembers(t, path)).reduce((sum, m) => sum + (num(m.body.CapacityMiB) ?? 0), 0);
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

async function readStorage(t: RedfishTransport, system: Json): Promise<HardwareInventory['storage']> {
  const disks: HardwareInventory['storage'] = [];
  const storagePath = link(system, 'Storage');
  if (storagePath) {
    for (const storage of await getMembers(t, storagePath)) {
      const drives = Array.isArray(storage.body.Drives) ? (storage.body.Drives as Json[]) : [];
      for (const ref of drives) {
        const drivePath = str(ref['@odata.id']);
        if (!drivePath) continue;
        const { body } = await getResource(t, drivePath);
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
  }
  if (disks.length > 0) return disks;
  const simplePath = link(system, 'SimpleStorage');
  if (!simplePath) return disks;
  for (const controller of await getMembers(t, simplePath)) {
    const devices = Array.isArray(controller.body.Devices) ? (controller.body.Devices as Json[]) : [];
    for (const device of devices) {
      const size = num(device.CapacityBytes);
      if (size === undefined) continue;
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
  return disks;
}
