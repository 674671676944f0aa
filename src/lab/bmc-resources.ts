import type { ServerState, SlotState } from './bmc-state.ts';
import type { OptionalResource, VendorProfile } from './profiles.ts';

type Json = Record<string, unknown>;

/** The fixed hardware of an emulated server, reported through inventory resources. */
export interface ServerHardware {
  serialNumber: string;
  uuid: string;
  macs: string[];
  memoryGiB: number;
  diskBytes: number;
}

/** Resource paths of one emulated BMC, all derived from its vendor profile. */
export class BmcPaths {
  readonly root = '/redfish/v1';
  readonly systems = '/redfish/v1/Systems';
  readonly managers = '/redfish/v1/Managers';
  readonly sessionService = '/redfish/v1/SessionService';
  readonly sessions = '/redfish/v1/SessionService/Sessions';
  readonly taskMonitors = '/redfish/v1/TaskService/TaskMonitors';
  readonly system: string;
  readonly manager: string;
  readonly virtualMedia: string;

  constructor(profile: VendorProfile, index: number) {
    this.system = `${this.systems}/${profile.systemId(index)}`;
    this.manager = `${this.managers}/${profile.managerId}`;
    this.virtualMedia =
      profile.mediaLocation === 'manager' ? `${this.manager}/VirtualMedia` : `${this.system}/VirtualMedia`;
  }

  slot(slot: SlotState): string {
    return `${this.virtualMedia}/${slot.profile.id}`;
  }
}

const ref = (path: string) => ({ '@odata.id': path });

function collection(path: string, type: string, name: string, members: string[]): Json {
  return {
    '@odata.id': path,
    '@odata.type': `#${type}.${type}`,
    Name: name,
    Members: members.map(ref),
    'Members@odata.count': members.length,
  };
}

/** Renders every GET-able resource of one BMC: path -> body. */
export function renderResources(
  p: BmcPaths,
  state: ServerState,
  hw: ServerHardware,
  sessionIds: string[],
): Map<string, Json> {
  const profile = state.profile;
  const out = new Map<string, Json>();
  out.set(p.root, {
    '@odata.id': `${p.root}/`,
    '@odata.type': '#ServiceRoot.v1_5_0.ServiceRoot',
    Id: 'RootService',
    Name: 'Root Service',
    RedfishVersion: '1.11.0',
    UUID: hw.uuid,
    Systems: ref(p.systems),
    Managers: ref(p.managers),
    SessionService: ref(p.sessionService),
    Links: { Sessions: ref(p.sessions) },
  });
  out.set(
    p.systems,
    collection(p.systems, 'ComputerSystemCollection', 'Computer System Collection', [p.system]),
  );
  out.set(p.managers, collection(p.managers, 'ManagerCollection', 'Manager Collection', [p.manager]));

  const lastBoot = state.power === 'On' ? state.boots.at(-1) : undefined;
  const system: Json = {
    '@odata.id': p.system,
    '@odata.type': '#ComputerSystem.v1_13_0.ComputerSystem',
    Id: p.system.split('/').pop(),
    Name: 'System',
    Manufacturer: profile.manufacturer,
    Model: profile.model,
    SerialNumber: hw.serialNumber,
    UUID: hw.uuid,
    BiosVersion: profile.biosVersion,
    PowerState: state.power,
    // Like BMCs that report it (ComputerSystem v1_13): the firmware handed over to the OS at the last boot.
    ...(lastBoot && { BootProgress: { LastState: 'OSBootStarted', LastStateTime: lastBoot.at } }),
    Status: { State: 'Enabled', Health: 'OK' },
    Boot: {
      BootSourceOverrideEnabled: state.boot.enabled,
      BootSourceOverrideTarget: state.boot.target,
      'BootSourceOverrideTarget@Redfish.AllowableValues': profile.bootTargets,
      BootSourceOverrideMode: state.boot.mode,
    },
    ProcessorSummary:
      profile.processors === 'one'
        ? { Count: 1, LogicalProcessorCount: 1, Model: 'QEMU Virtual CPU' }
        : { Count: 1, LogicalProcessorCount: 16, Model: 'Multi-Core Intel(R) Xeon(R) processor 7xxx Series' },
    MemorySummary: { TotalSystemMemoryGiB: hw.memoryGiB },
    Processors: ref(`${p.system}/Processors`),
    Memory: ref(`${p.system}/Memory`),
    EthernetInterfaces: ref(`${p.system}/EthernetInterfaces`),
    Storage: ref(`${p.system}/Storage`),
    SimpleStorage: ref(`${p.system}/SimpleStorage`),
    Links: { ManagedBy: [ref(p.manager)] },
    Actions: {
      '#ComputerSystem.Reset': {
        target: `${p.system}/Actions/ComputerSystem.Reset`,
        'ResetType@Redfish.AllowableValues': profile.resetTypes,
      },
    },
  };
  if (profile.mediaLocation === 'system') system.VirtualMedia = ref(p.virtualMedia);
  out.set(p.system, system);

  for (const [path, body] of processorResources(p, profile)) out.set(path, body);
  const dimm = `${p.system}/Memory/DIMM1`;
  out.set(`${p.system}/Memory`, collection(`${p.system}/Memory`, 'MemoryCollection', 'Memory', [dimm]));
  out.set(dimm, {
    '@odata.id': dimm,
    Id: 'DIMM1',
    Name: 'DIMM1',
    CapacityMiB: hw.memoryGiB * 1024,
    MemoryDeviceType: 'DDR4',
  });

  const nics = hw.macs.map((mac, i) => ({ id: `NIC.${i + 1}`, mac }));
  out.set(
    `${p.system}/EthernetInterfaces`,
    collection(
      `${p.system}/EthernetInterfaces`,
      'EthernetInterfaceCollection',
      'Ethernet Interfaces',
      nics.map((n) => `${p.system}/EthernetInterfaces/${n.id}`),
    ),
  );
  for (const nic of nics) {
    const path = `${p.system}/EthernetInterfaces/${nic.id}`;
    out.set(path, {
      '@odata.id': path,
      Id: nic.id,
      Name: nic.id,
      MACAddress: nic.mac,
      PermanentMACAddress: nic.mac,
      SpeedMbps: 1000,
      LinkStatus: 'LinkUp',
      Status: { State: 'Enabled', Health: 'OK' },
    });
  }

  const controller = `${p.system}/Storage/1`;
  const drive = `${controller}/Drives/Disk1`;
  out.set(
    `${p.system}/Storage`,
    collection(`${p.system}/Storage`, 'StorageCollection', 'Storage', [controller]),
  );
  out.set(controller, {
    '@odata.id': controller,
    Id: '1',
    Name: 'virtio-blk controller',
    Drives: [ref(drive)],
  });
  out.set(drive, {
    '@odata.id': drive,
    Id: 'Disk1',
    Name: 'Disk1',
    CapacityBytes: hw.diskBytes,
    MediaType: 'SSD',
    Protocol: 'PCIe',
    Model: 'QEMU VIRTIO DISK',
    SerialNumber: `${hw.serialNumber}-D1`,
  });
  const simple = `${p.system}/SimpleStorage/1`;
  out.set(
    `${p.system}/SimpleStorage`,
    collection(`${p.system}/SimpleStorage`, 'SimpleStorageCollection', 'Simple Storage', [simple]),
  );
  out.set(simple, {
    '@odata.id': simple,
    Id: '1',
    Name: 'Simple Storage',
    // With Status, as the schema has it: sushy (Ironic) fails on a device without one.
    Devices: [{ Name: 'Disk1', CapacityBytes: hw.diskBytes, Status: { State: 'Enabled', Health: 'OK' } }],
  });

  const manager: Json = {
    '@odata.id': p.manager,
    '@odata.type': '#Manager.v1_10_0.Manager',
    Id: profile.managerId,
    Name: 'Manager',
    ManagerType: 'BMC',
    FirmwareVersion: profile.managerFirmware,
    Status: { State: 'Enabled', Health: 'OK' },
    Links: { ManagerForServers: [ref(p.system)] },
  };
  if (profile.mediaLocation !== 'system') manager.VirtualMedia = ref(p.virtualMedia);
  out.set(p.manager, manager);

  out.set(
    p.virtualMedia,
    collection(
      p.virtualMedia,
      'VirtualMediaCollection',
      'Virtual Media',
      state.slots.map((s) => p.slot(s)),
    ),
  );
  for (const slot of state.slots) out.set(p.slot(slot), renderSlot(p, slot));

  out.set(p.sessionService, {
    '@odata.id': p.sessionService,
    Id: 'SessionService',
    Name: 'Session Service',
    ServiceEnabled: true,
    SessionTimeout: 1800,
    Sessions: ref(p.sessions),
  });
  out.set(
    p.sessions,
    collection(
      p.sessions,
      'SessionCollection',
      'Sessions',
      sessionIds.map((id) => `${p.sessions}/${id}`),
    ),
  );
  for (const id of sessionIds) {
    out.set(`${p.sessions}/${id}`, { '@odata.id': `${p.sessions}/${id}`, Id: id, Name: 'User Session' });
  }
  dropMissing(out, p, profile);
  return out;
}

/**
 * A BMC that links inventory collections it cannot serve: the links stay, the missing resources answer
 * 404 (the failing ones 500, in the server), and the summaries that would give the answer away are left out.
 */
function dropMissing(out: Map<string, Json>, p: BmcPaths, profile: VendorProfile): void {
  const system = out.get(p.system)!;
  for (const missing of profile.missingResources) {
    for (const path of [...out.keys()]) if (isOptionalResourcePath(p, missing, path)) out.delete(path);
  }
  for (const unserved of [...profile.missingResources, ...profile.failingResources]) {
    if (unserved === 'Processors') delete system.ProcessorSummary;
    if (unserved === 'Memory') delete system.MemorySummary;
  }
}

/** Whether `path` is a System's optional resource: the collection or anything under it (any Drive). */
export function isOptionalResourcePath(p: BmcPaths, resource: OptionalResource, path: string): boolean {
  if (resource === 'Drives') return path.includes('/Drives/');
  const prefix = `${p.system}/${resource}`;
  return path === prefix || path.startsWith(`${prefix}/`);
}

/** The Processors collection: one QEMU CPU, or a two-socket board with an empty socket and an FPGA. */
function processorResources(p: BmcPaths, profile: VendorProfile): [string, Json][] {
  const base = `${p.system}/Processors`;
  const members: Json[] =
    profile.processors === 'one'
      ? [
          {
            Id: 'CPU1',
            Name: 'Processor',
            ProcessorType: 'CPU',
            ProcessorArchitecture: 'x86',
            InstructionSet: 'x86-64',
            Manufacturer: 'QEMU',
            Model: 'QEMU TCG CPU (max)',
            MaxSpeedMHz: 2000,
            TotalCores: 1,
            TotalThreads: 1,
          },
        ]
      : [
          {
            Id: 'CPU1',
            Name: 'Processor',
            Socket: 'CPU 1',
            ProcessorType: 'CPU',
            ProcessorArchitecture: 'x86',
            InstructionSet: 'x86-64',
            Manufacturer: 'Intel(R) Corporation',
            Model: 'Multi-Core Intel(R) Xeon(R) processor 7xxx Series',
            MaxSpeedMHz: 3700,
            TotalCores: 8,
            TotalThreads: 16,
            Status: { State: 'Enabled', Health: 'OK' },
          },
          {
            Id: 'CPU2',
            Name: 'Processor',
            Socket: 'CPU 2',
            ProcessorType: 'CPU',
            Status: { State: 'Absent' },
          },
          {
            Id: 'FPGA1',
            Name: 'FPGA',
            ProcessorType: 'FPGA',
            ProcessorArchitecture: 'OEM',
            InstructionSet: 'OEM',
            Model: 'Stratix 10',
            Status: { State: 'Enabled', Health: 'OK' },
          },
        ];
  const paths = members.map((m) => `${base}/${m.Id as string}`);
  return [
    [base, collection(base, 'ProcessorCollection', 'Processors', paths)],
    ...members.map((m, i): [string, Json] => [paths[i]!, { '@odata.id': paths[i], ...m }]),
  ];
}

function renderSlot(p: BmcPaths, slot: SlotState): Json {
  const path = p.slot(slot);
  const inserted = slot.inserted || slot.stale;
  const body: Json = {
    '@odata.id': path,
    '@odata.type': '#VirtualMedia.v1_3_0.VirtualMedia',
    Id: slot.profile.id,
    Name: `Virtual Media ${slot.profile.id}`,
    MediaTypes: slot.profile.mediaTypes,
    Image: slot.image,
    ImageName: slot.image ? slot.image.split('/').pop() : null,
    Inserted: inserted,
    WriteProtected: slot.writeProtected,
    ConnectedVia: slot.stale ? 'URI' : slot.connectedVia,
    TransferProtocolType: slot.image ? (slot.image.startsWith('https:') ? 'HTTPS' : 'HTTP') : null,
  };
  if (slot.profile.actions) {
    body.Actions = {
      '#VirtualMedia.InsertMedia': {
        target: `${path}/Actions/VirtualMedia.InsertMedia`,
        'TransferProtocolType@Redfish.AllowableValues': ['HTTP', 'HTTPS'],
      },
      '#VirtualMedia.EjectMedia': { target: `${path}/Actions/VirtualMedia.EjectMedia` },
    };
  }
  return body;
}
