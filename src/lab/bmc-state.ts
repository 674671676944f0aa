import type { BootDevice, BootRequest, MachineBackend } from './backend.ts';
import type { SlotProfile, VendorProfile } from './profiles.ts';

export interface SlotState {
  profile: SlotProfile;
  image: string | null;
  inserted: boolean;
  writeProtected: boolean;
  connectedVia: 'NotConnected' | 'URI';
  /** Local copy of the image for backends that boot it. */
  localPath: string | undefined;
  /** Settles when the image has been fetched (a BMC streams it; the lab copies it in the background). */
  fetched: Promise<void> | undefined;
  /** iDRAC quirk / fault: still reports Inserted after an eject, until ejected again. */
  stale: boolean;
}

export interface BootRecord {
  device: BootDevice;
  image?: string;
  at: string;
}

export type BootListener = (boot: BootRecord) => void;

/**
 * One emulated server as its BMC sees it: power, boot override, virtual media. The HTTP layer turns
 * Redfish requests into calls here; the backend runs (or pretends to run) the machine.
 */
export class ServerState {
  readonly profile: VendorProfile;
  power: 'On' | 'Off' = 'Off';
  boot = { enabled: 'Disabled', target: 'None', mode: 'UEFI' };
  readonly slots: SlotState[];
  readonly boots: BootRecord[] = [];
  backend!: MachineBackend;
  private readonly bootListeners: BootListener[];

  constructor(profile: VendorProfile, bootListeners: BootListener[]) {
    this.profile = profile;
    this.bootListeners = bootListeners;
    this.slots = profile.slots.map((p) => ({
      profile: p,
      image: null,
      inserted: false,
      writeProtected: true,
      connectedVia: 'NotConnected',
      localPath: undefined,
      fetched: undefined,
      stale: false,
    }));
  }

  async powerOn(): Promise<void> {
    if (this.power === 'On') return;
    this.power = 'On';
    await this.startMachine();
  }

  async powerOff(mode: 'force' | 'graceful'): Promise<void> {
    if (this.power === 'Off') return;
    if (mode === 'force') this.power = 'Off';
    await this.backend.stop(mode);
  }

  async restart(): Promise<void> {
    if (this.power === 'Off') return this.powerOn();
    await this.backend.reset();
  }

  /** The backend's machine stopped by itself. */
  async machineStopped(reason: 'poweroff' | 'reset'): Promise<void> {
    if (reason === 'poweroff' || this.power === 'Off') {
      this.power = 'Off';
      return;
    }
    await this.startMachine();
  }

  private async startMachine(): Promise<void> {
    await Promise.all(this.slots.map((slot) => slot.fetched));
    // Powered off while the image was still being fetched: nothing to start.
    if (this.power === 'Off') return;
    const request = this.nextBoot();
    const record: BootRecord = { device: request.device, at: new Date().toISOString() };
    if (request.imageUrl) record.image = request.imageUrl;
    this.boots.push(record);
    try {
      await this.backend.start(request);
    } catch (error) {
      this.power = 'Off';
      throw error;
    }
    for (const listener of this.bootListeners) listener(record);
  }

  /** Picks the boot device from the override and consumes a `Once` override, as firmware does. */
  private nextBoot(): BootRequest {
    let target = 'Hdd';
    if (this.boot.enabled !== 'Disabled' && this.boot.target !== 'None') {
      target = this.boot.target;
      if (this.boot.enabled === 'Once') this.boot = { ...this.boot, enabled: 'Disabled', target: 'None' };
    }
    // An inserted CD stays attached whatever boots, as on real servers; only the boot choice differs.
    const cd = this.slots.find((s) => s.inserted && s.image && s.profile.mediaTypes.includes('CD'));
    const attached: Omit<BootRequest, 'device'> = {};
    if (cd?.localPath) attached.isoPath = cd.localPath;
    if (cd?.image && this.profile.virtualCdTargets.includes(target)) {
      return { device: 'cd', imageUrl: cd.image, ...attached };
    }
    return { device: target === 'Pxe' ? 'network' : 'disk', ...attached };
  }

  /**
   * Attaches an image. A fetch that fails at once (unreachable server, 404) fails the insert, as a BMC
   * reports "unable to mount"; a slow one continues in the background and the next boot waits for it.
   */
  async insert(slot: SlotState, image: string, writeProtected: boolean): Promise<void> {
    const fetching = this.backend.fetchMedia(image);
    const early = await Promise.race([
      fetching.then(
        () => 'done' as const,
        (error: unknown) => ({ error }),
      ),
      new Promise<'slow'>((resolve) => setTimeout(() => resolve('slow'), 2000).unref()),
    ]);
    if (typeof early === 'object') throw early.error;
    slot.image = image;
    slot.inserted = true;
    slot.writeProtected = writeProtected;
    slot.connectedVia = 'URI';
    slot.stale = false;
    slot.localPath = undefined;
    slot.fetched = fetching.then(
      (localPath) => {
        if (slot.image === image && slot.inserted) slot.localPath = localPath;
      },
      () => {
        // Fetch failed after the insert was accepted: the CD reads as empty at boot.
      },
    );
    if (early === 'done') await slot.fetched;
  }

  eject(slot: SlotState, leaveStale: boolean): void {
    if (leaveStale && slot.inserted) {
      slot.stale = true;
      slot.inserted = false;
      slot.connectedVia = 'NotConnected';
      return;
    }
    slot.stale = false;
    slot.inserted = false;
    slot.connectedVia = 'NotConnected';
    slot.localPath = undefined;
    slot.fetched = undefined;
    if (!this.profile.keepsImageAfterEject) slot.image = null;
  }
}
