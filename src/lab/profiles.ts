/**
 * Emulated BMC vendors. Each reproduces the paths and the quirks of redfish.md §4 that a client has to
 * cope with; `generic` behaves like sushy-tools (the emulator Metal3 uses).
 */
export type VendorProfileName = 'generic' | 'dell' | 'hpe' | 'supermicro' | 'lenovo';

/**
 * Profiles that reproduce one behaviour of BMCs met in the field rather than a vendor, so the
 * end-to-end paths cover it (docs/lab.md, "Behaviour profiles").
 */
export type BehaviourProfileName =
  | 'sparse-inventory'
  | 'failing-inventory'
  | 'boot-continuous'
  | 'boot-once-refused'
  | 'patch-no-allow'
  | 'multi-socket';

export type ProfileName = VendorProfileName | BehaviourProfileName;

export const BEHAVIOUR_PROFILE_NAMES: readonly BehaviourProfileName[] = [
  'sparse-inventory',
  'failing-inventory',
  'boot-continuous',
  'boot-once-refused',
  'patch-no-allow',
  'multi-socket',
];

/** Linked inventory resources a BMC may answer 404 for. */
export type OptionalResource = 'Processors' | 'Memory' | 'Storage' | 'SimpleStorage' | 'Drives';

export const VENDOR_PROFILE_NAMES: readonly VendorProfileName[] = [
  'generic',
  'dell',
  'hpe',
  'supermicro',
  'lenovo',
];

/** Operations a profile may answer with 202 + a task monitor instead of finishing in the request. */
export type AsyncOperation = 'insert-media' | 'reset' | 'boot-override';

export interface SlotProfile {
  id: string;
  mediaTypes: string[];
  /** Standard InsertMedia/EjectMedia actions; without them the slot only takes PATCH (Lenovo). */
  actions: boolean;
  /** Lenovo's RDOC slots exist but refuse every mount. */
  refusesMount?: boolean;
}

export interface VendorProfile {
  name: ProfileName;
  /** Metal3 scheme used in the BMC addresses the lab prints. */
  scheme: string;
  manufacturer: string;
  model: string;
  biosVersion: string;
  managerFirmware: string;
  systemId: (index: number) => string;
  managerId: string;
  /**
   * Where virtual media lives: `system` (linked from the System), `manager`, or `manager-to-system`
   * (the Manager links a collection under the System's path, as sushy-tools does).
   */
  mediaLocation: 'system' | 'manager' | 'manager-to-system';
  slots: SlotProfile[];
  bootTargets: string[];
  /** Boot targets that start the virtual CD (Supermicro's virtual CD is a USB device: `UsbCd` only). */
  virtualCdTargets: string[];
  resetTypes: string[];
  /** Answer to a Reset asking for the state the System is already in. */
  alreadyInStateStatus: 204 | 400 | 409;
  etag: 'strong' | 'weak';
  /** iLO compares If-Match literally: a weak `W/"x"` fails with 412 even when x matches. */
  ifMatchLiteral: boolean;
  /** XCC refuses a PATCH without If-Match (428). */
  requireIfMatch: boolean;
  /** iLO: EjectMedia needs a `{}` body (415 without) and fails when nothing is inserted. */
  ejectNeedsBody: boolean;
  ejectEmptyFails: boolean;
  /** Supermicro: InsertMedia rejects these properties ("not in the list of valid properties"). */
  insertRejects: string[];
  /** InsertMedia parameters the BMC requires besides Image. */
  insertRequires: string[];
  /** iDRAC: right after an eject the slot still reports `Inserted: true` until ejected again. */
  staleInsertedAfterEject: boolean;
  /** Supermicro: eject keeps Image/ImageName and sets ConnectedVia NotConnected. */
  keepsImageAfterEject: boolean;
  /** Supermicro: a boot PATCH without BootSourceOverrideEnabled is refused. */
  bootPatchNeedsEnabled: boolean;
  /** Supermicro X12: `?` and `=` in the image URL are refused. */
  rejectsQueryInImageUrl: boolean;
  asyncOperations: AsyncOperation[];
  /** Inventory resources the System links but answers 404 for (their summaries are left out too). */
  missingResources: OptionalResource[];
  /** Inventory resources the System links but answers 500 for, every time (their summaries are left out too). */
  failingResources: OptionalResource[];
  /**
   * What a `BootSourceOverrideEnabled: Once` PATCH does: `kept`; `reads-continuous` (stored and read back
   * as Continuous, never spent at boot); `refused` (400, Once is not in the BMC's list).
   */
  bootOnce: 'kept' | 'reads-continuous' | 'refused';
  /** Send an `Allow` header on GETs (many BMCs never do). */
  sendsAllowHeader: boolean;
  /** `one` QEMU CPU, or two sockets (one populated, 8 cores/16 threads), an empty socket and an FPGA. */
  processors: 'one' | 'socket-absent-and-fpga';
}

const ALL_RESETS = [
  'On',
  'ForceOff',
  'GracefulShutdown',
  'GracefulRestart',
  'ForceRestart',
  'Nmi',
  'PushPowerButton',
];

const base: Omit<
  VendorProfile,
  | 'name'
  | 'scheme'
  | 'manufacturer'
  | 'model'
  | 'biosVersion'
  | 'managerFirmware'
  | 'systemId'
  | 'managerId'
  | 'mediaLocation'
  | 'slots'
> = {
  bootTargets: ['None', 'Pxe', 'Cd', 'Usb', 'Hdd', 'BiosSetup', 'UsbCd', 'UefiHttp'],
  virtualCdTargets: ['Cd'],
  resetTypes: ALL_RESETS,
  alreadyInStateStatus: 409,
  etag: 'strong',
  ifMatchLiteral: false,
  requireIfMatch: false,
  ejectNeedsBody: false,
  ejectEmptyFails: false,
  insertRejects: [],
  insertRequires: [],
  staleInsertedAfterEject: false,
  keepsImageAfterEject: false,
  bootPatchNeedsEnabled: false,
  rejectsQueryInImageUrl: false,
  asyncOperations: [],
  missingResources: [],
  failingResources: [],
  bootOnce: 'kept',
  sendsAllowHeader: true,
  processors: 'one',
};

export const VENDOR_PROFILES: Record<VendorProfileName, VendorProfile> = {
  generic: {
    ...base,
    name: 'generic',
    scheme: 'redfish-virtualmedia',
    manufacturer: 'outpost-lab',
    model: 'Emulated Server',
    biosVersion: '1.0.0',
    managerFirmware: '1.0.0',
    systemId: (i) => `00000000-0000-4000-8000-${(i + 1).toString(16).padStart(12, '0')}`,
    managerId: 'BMC',
    mediaLocation: 'manager-to-system',
    slots: [
      { id: 'Cd', mediaTypes: ['CD', 'DVD'], actions: true },
      { id: 'Floppy', mediaTypes: ['Floppy', 'USBStick'], actions: true },
    ],
    virtualCdTargets: ['Cd', 'UsbCd'],
    resetTypes: [
      'On',
      'ForceOn',
      'ForceOff',
      'GracefulShutdown',
      'GracefulRestart',
      'ForceRestart',
      'Nmi',
      'PushPowerButton',
    ],
    alreadyInStateStatus: 204,
  },
  dell: {
    ...base,
    name: 'dell',
    scheme: 'idrac-virtualmedia',
    manufacturer: 'Dell Inc.',
    model: 'PowerEdge R650',
    biosVersion: '1.13.2',
    managerFirmware: '7.10.70.00',
    systemId: () => 'System.Embedded.1',
    managerId: 'iDRAC.Embedded.1',
    mediaLocation: 'system',
    slots: [
      { id: '1', mediaTypes: ['CD', 'DVD'], actions: true },
      { id: '2', mediaTypes: ['USBStick'], actions: true },
    ],
    bootTargets: [
      'None',
      'Pxe',
      'Floppy',
      'Cd',
      'Hdd',
      'BiosSetup',
      'Utilities',
      'UefiTarget',
      'SDCard',
      'UefiHttp',
    ],
    staleInsertedAfterEject: true,
    asyncOperations: ['insert-media'],
  },
  hpe: {
    ...base,
    name: 'hpe',
    scheme: 'ilo5-virtualmedia',
    manufacturer: 'HPE',
    model: 'ProLiant DL360 Gen10 Plus',
    biosVersion: 'U46 v2.80 (06/06/2024)',
    managerFirmware: 'iLO 5 v3.08',
    systemId: () => '1',
    managerId: '1',
    mediaLocation: 'manager',
    slots: [
      { id: '1', mediaTypes: ['Floppy', 'USBStick'], actions: true },
      { id: '2', mediaTypes: ['CD', 'DVD'], actions: true },
    ],
    bootTargets: [
      'None',
      'Cd',
      'Hdd',
      'Usb',
      'SDCard',
      'Utilities',
      'Diags',
      'BiosSetup',
      'Pxe',
      'UefiShell',
      'UefiHttp',
      'UefiTarget',
    ],
    resetTypes: [
      'On',
      'ForceOff',
      'GracefulShutdown',
      'ForceRestart',
      'Nmi',
      'PushPowerButton',
      'GracefulRestart',
    ],
    alreadyInStateStatus: 400,
    etag: 'weak',
    ifMatchLiteral: true,
    ejectNeedsBody: true,
    ejectEmptyFails: true,
    asyncOperations: ['reset'],
  },
  supermicro: {
    ...base,
    name: 'supermicro',
    scheme: 'redfish-virtualmedia',
    manufacturer: 'Supermicro',
    model: 'SYS-120U-TNR (X12DPU-6)',
    biosVersion: '1.4a',
    managerFirmware: '01.01.06',
    systemId: () => '1',
    managerId: '1',
    mediaLocation: 'manager',
    slots: [
      { id: 'CD1', mediaTypes: ['CD', 'DVD'], actions: true },
      { id: 'USB1', mediaTypes: ['USBStick'], actions: true },
    ],
    bootTargets: [
      'None',
      'Pxe',
      'Floppy',
      'Cd',
      'Usb',
      'Hdd',
      'BiosSetup',
      'UsbCd',
      'UefiBootNext',
      'UefiHttp',
    ],
    virtualCdTargets: ['UsbCd'],
    alreadyInStateStatus: 400,
    insertRejects: ['Inserted', 'WriteProtected'],
    insertRequires: ['TransferProtocolType'],
    keepsImageAfterEject: true,
    bootPatchNeedsEnabled: true,
    rejectsQueryInImageUrl: true,
  },
  lenovo: {
    ...base,
    name: 'lenovo',
    scheme: 'redfish-virtualmedia',
    manufacturer: 'Lenovo',
    model: 'ThinkSystem SR630 V2',
    biosVersion: 'AFE120G-2.10',
    managerFirmware: 'AFBT52K 5.10',
    systemId: () => '1',
    managerId: '1',
    mediaLocation: 'manager',
    slots: [
      { id: 'RDOC1', mediaTypes: ['CD', 'DVD'], actions: false, refusesMount: true },
      { id: 'EXT1', mediaTypes: ['CD', 'DVD', 'USBStick'], actions: false },
      { id: 'EXT2', mediaTypes: ['CD', 'DVD', 'USBStick'], actions: false },
    ],
    bootTargets: ['None', 'Pxe', 'Cd', 'Usb', 'Hdd', 'BiosSetup', 'Diags', 'UefiTarget'],
    alreadyInStateStatus: 400,
    requireIfMatch: true,
  },
};

const generic = VENDOR_PROFILES.generic;

export const BEHAVIOUR_PROFILES: Record<BehaviourProfileName, VendorProfile> = {
  // A System that links Processors, Memory and SimpleStorage it answers 404 for, and Drives that 404
  // (prototype boards, BMCs whose inventory agent has not started; metal3-docs#160).
  'sparse-inventory': {
    ...generic,
    name: 'sparse-inventory',
    missingResources: ['Processors', 'Memory', 'SimpleStorage', 'Drives'],
  },
  // A System whose Storage collection answers 404 (disks only under SimpleStorage, as on older boards) and
  // whose Memory answers 500 however often it is asked (an inventory service that crashed).
  'failing-inventory': {
    ...generic,
    name: 'failing-inventory',
    missingResources: ['Storage'],
    failingResources: ['Memory'],
  },
  // Firmware that stores a Once override as Continuous (and so boots the CD at every boot).
  'boot-continuous': { ...generic, name: 'boot-continuous', bootOnce: 'reads-continuous' },
  // Firmware whose BootSourceOverrideEnabled only takes Continuous/Disabled, without saying so up front.
  'boot-once-refused': { ...generic, name: 'boot-once-refused', bootOnce: 'refused' },
  // Slots without InsertMedia/EjectMedia that take PATCH, on a BMC that sends no Allow header.
  'patch-no-allow': {
    ...generic,
    name: 'patch-no-allow',
    slots: [
      { id: 'Cd', mediaTypes: ['CD', 'DVD'], actions: false },
      { id: 'Floppy', mediaTypes: ['Floppy', 'USBStick'], actions: false },
    ],
    sendsAllowHeader: false,
  },
  // Two sockets, one empty, plus an FPGA, as in the DMTF public-rackmount1 mockup.
  'multi-socket': { ...generic, name: 'multi-socket', processors: 'socket-absent-and-fpga' },
};

export const PROFILES: Record<ProfileName, VendorProfile> = { ...VENDOR_PROFILES, ...BEHAVIOUR_PROFILES };

export const PROFILE_NAMES: readonly ProfileName[] = [...VENDOR_PROFILE_NAMES, ...BEHAVIOUR_PROFILE_NAMES];

export function isVendorProfileName(name: string): name is VendorProfileName {
  return (VENDOR_PROFILE_NAMES as readonly string[]).includes(name);
}

export function isProfileName(name: string): name is ProfileName {
  return (PROFILE_NAMES as readonly string[]).includes(name);
}
