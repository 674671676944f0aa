import type { ServerState, SlotState } from './bmc-state.ts';
import type { VendorProfile } from './profiles.ts';

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
    ProcessorSummary: { Count: 1, LogicalProcessorCount: 1, Model: 'QEMU Virtual CPU' },
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

  const cpu = `${p.system}/Processors/CPU1`;
  out.set(
    `${p.system}/Processors`,
    collection(`${p.system}/Processors`, 'ProcessorCollection', 'Processors', [cpu]),
  );
  out.set(cpu, {
    '@odata.id': cpu,
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
  });
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
    Devices: [{ Name: 'Disk1', CapacityBytes: hw.diskBytes }],
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
  return out;
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
